"""The three cases where GTO, DVC and gitmodel used to read one registry three ways.

Each test drives the real `gto` and `dvc artifacts get --stage` against what gitmodel
wrote (or what GTO wrote, for an unassignment) and checks that gitmodel agrees with
them, or refuses to guess and says what each reads, or warns (docs/usage.md, "GTO and
DVC").
"""

from __future__ import annotations

from pathlib import Path

import pytest
from plugin.clients import Clock, Registered, dvc_get, ours_json, read_tree, register, run_client
from plugin.registry import Registry, git, refs

pytestmark = pytest.mark.slow


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


def _two_in_production(registry: Registry, clock: Clock) -> tuple[Registered, Registered]:
    v1 = register(registry, clock, "support", "file", 1, 0.90, "--push")
    v2 = register(registry, clock, "support", "file", 2, 0.92, "--push")
    for version, env in [(v1, "staging"), (v1, "production"), (v2, "staging"), (v2, "production")]:
        clock.tick()
        registry.ok("promote", "support", version.version, env)
    return v1, v2


def _readings(registry: Registry, out: Path) -> tuple[str, str, dict[str, bytes]]:
    """(gitmodel, gto, the bytes `dvc artifacts get --stage production` fetches)."""
    ours = registry.run("show", "support#production", "--json")
    gto = run_client(registry.root, "gto", "show", "support#production", "--version", check=False)
    got = dvc_get(registry.root, ".", "support", out, "--stage", "production")
    assert got.returncode == 0, got.stderr
    mine = ours_json(registry, "show", "support#production")["version"] if ours.exit_code == 0 else "-"
    return mine, gto.stdout.strip() or "-", read_tree(out)


def test_moves_in_the_same_second_read_the_same_in_gto_and_dvc(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Every git object dated the same second: as fast hands or a script would make them.
    for var in ("GIT_COMMITTER_DATE", "GIT_AUTHOR_DATE"):
        monkeypatch.setenv(var, "1704067200 +0000")
    frozen = Clock(monkeypatch)
    frozen.tick = lambda: frozen.now  # type: ignore[method-assign]
    v1, v2 = _two_in_production(registry, frozen)
    # With tied dates GTO would show the lowest version of the tie (v1.0.0) here.
    assert _readings(registry, tmp_path / "a") == ("v1.1.0", "v1.1.0", v2.content)
    assert "-> v1.0.0 (was v1.1.0)" in registry.ok("rollback", "production").stdout
    assert _readings(registry, tmp_path / "b") == ("v1.0.0", "v1.0.0", v1.content)
    # Every tag is dated a second after the model's previous one: v1.0.0 at +0, v1.1.0 at
    # +1 (registrations too, so GTO's history orders them as made), then each move.
    moves = git(
        registry.root, "for-each-ref", "--format=%(taggerdate:unix) %(refname:strip=2)", "refs/tags/support#*"
    )
    dated = sorted((int(when), name) for when, name in (line.split() for line in moves.stdout.splitlines()))
    assert dated == [
        (1704067201 + n, f"support#{env}#{n}")
        for n, env in enumerate(["staging", "production", "staging", "production", "production"], start=1)
    ]


def test_a_gto_unassignment_is_not_guessed_and_a_rollback_never_restores_it(
    registry: Registry, clock: Clock, tmp_path: Path
) -> None:
    v1, v2 = _two_in_production(registry, clock)
    clock.tick()
    run_client(registry.root, "gto", "deprecate", "support", "v1.1.0", "production", "-m", "pulled")
    tag = git(registry.root, "tag", "-l", "support#production!*").stdout.split()
    assert tag == ["support#production!#5"]

    # GTO reads the version assigned before; DVC fetches the unassigned one's commit.
    ours, gto, fetched = _readings(registry, tmp_path / "a")
    assert (ours, gto, fetched) == ("-", "v1.0.0", v2.content)
    said = (
        "production's newest tag support#production!#5 unassigns support v1.1.0: `gto show` reads "
        "production as v1.0.0, `dvc artifacts get --stage` as v1.1.0, and gitmodel does not guess"
    )
    assert said in registry.fails(2, "show", "support#production").stderr
    before = refs(registry.root)
    err = registry.fails(1, "rollback", "production").stderr
    assert said in err and "`gitmodel rollback production support --to vX.Y.Z`" in err
    assert refs(registry.root) == before

    # Naming the version settles it for all three.
    registry.ok("rollback", "production", "--to", "v1.0.0")
    assert _readings(registry, tmp_path / "b") == ("v1.0.0", "v1.0.0", v1.content)
    # GTO's unassignment took v1.1.0 off what production served: no rollback returns to it.
    assert "no earlier good version" in registry.fails(1, "rollback", "production").stderr


def test_deprecating_what_production_serves_warns_that_gto_reads_another_version(
    registry: Registry, clock: Clock, tmp_path: Path
) -> None:
    v1, v2 = _two_in_production(registry, clock)
    clock.tick()
    out = registry.ok("deprecate", "support", "v1.1.0", "--force", "--reason", "licence pulled").stdout
    assert (
        "warning: `gto show` now reads production as v1.0.0 (GTO drops deprecated versions from stages) "
        "while `dvc artifacts get --stage production` still fetches v1.1.0" in out
    )
    assert _readings(registry, tmp_path / "a") == ("v1.1.0", "v1.0.0", v2.content)
    clock.tick()
    assert "-> v1.0.0 (was v1.1.0)" in registry.ok("rollback", "production").stdout
    assert _readings(registry, tmp_path / "b") == ("v1.0.0", "v1.0.0", v1.content)
