"""Real clients must agree: `gto` and `dvc artifacts get` read what gitmodel wrote.

Every check compares gitmodel's own `--json` answer with the other client's answer on
the same repository, so a drift in tag names, annotation format, tag targets or the
dvc.yaml declarations fails here before a user's GTO or DVC tooling sees it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from plugin.clients import MODELS, Clock, dvc_get, gto_json, ours_json, read_tree, register, run_client
from plugin.registry import Registry, git

from gitmodel.demo import gguf_bytes

pytestmark = pytest.mark.slow


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


def _iso(text: str) -> str:
    """GTO writes +00:00 where gitmodel writes Z; same instant."""
    return text.replace("+00:00", "Z")


def _drop_local_cache(registry: Registry) -> None:
    """Downloads must then come from the DVC remote that `--push` filled."""
    shutil.rmtree(registry.root / ".dvc" / "cache", ignore_errors=True)


def test_gto_reports_the_versions_gitmodel_lists(registry: Registry, clock: Clock) -> None:
    registered = {}
    for cli_name, dvc_name in MODELS:
        kind = "file" if dvc_name == "support" else "folder"
        first = register(registry, clock, cli_name, kind, 1, 0.90)
        second = register(registry, clock, cli_name, kind, 2, 0.91)
        registered[dvc_name] = [first.version, second.version]
    assert registered == {"support": ["v1.0.0", "v1.1.0"], "acme:support": ["v1.0.0", "v1.1.0"]}

    ours = {m["name"]: m["latest"] for m in ours_json(registry, "list")["models"]}
    gto = {name: row["version"] for name, row in gto_json(registry.root, "show").items()}
    assert gto == ours == {"support": "v1.1.0", "acme:support": "v1.1.0"}

    for cli_name, dvc_name in MODELS:
        # Same versions on the same commits.
        shown = gto_json(registry.root, "show", dvc_name)
        gto_versions = {v["version"]: v["commit_hexsha"] for v in shown}
        ours_versions = {
            v: ours_json(registry, "show", f"{cli_name}@{v}")["commit"] for v in registered[dvc_name]
        }
        assert gto_versions == ours_versions
        # Same registrations, in the same order, at the same times, from the same tags.
        gto_events = [
            (e["version"], e["ref"], _iso(e["timestamp"]))
            for e in reversed(gto_json(registry.root, "history", dvc_name))
            if e["event"] == "registration"
        ]
        ours_events = [
            (e["version"], e["tag"], e["time"]) for e in ours_json(registry, "history", cli_name)["events"]
        ]
        assert gto_events == ours_events
        assert [e[1] for e in ours_events] == [
            f"{dvc_name.replace(':', '=')}@v1.0.0",
            f"{dvc_name.replace(':', '=')}@v1.1.0",
        ]


@pytest.mark.parametrize("kind", ["file", "folder"])
@pytest.mark.parametrize(("cli_name", "dvc_name"), MODELS, ids=["plain", "namespaced"])
def test_dvc_artifacts_get_returns_the_registered_bytes(
    registry: Registry, clock: Clock, tmp_path: Path, cli_name: str, dvc_name: str, kind: str
) -> None:
    first = register(registry, clock, cli_name, kind, 1, 0.90, "--push")
    second = register(registry, clock, cli_name, kind, 2, 0.91, "--push")
    assert first.content != second.content
    _drop_local_cache(registry)

    # In the registry itself, as `dvc artifacts get . NAME --rev` ...
    out = tmp_path / "from-registry"
    dvc_get(registry.root, ".", dvc_name, out, "--rev", first.version)
    assert read_tree(out) == first.content
    # ... and from the pushed origin, as an inference host would (a local clone, no network).
    out = tmp_path / "from-origin"
    origin = str(registry.root.parent / "origin.git")
    dvc_get(tmp_path, origin, dvc_name, out, "--rev", second.version)
    assert read_tree(out) == second.content


def test_dvc_names_namespaced_models_with_a_colon_and_refuses_unknown_versions(
    registry: Registry, clock: Clock, tmp_path: Path
) -> None:
    reg = register(registry, clock, "acme/support", "file", 3, 0.90)
    ok = dvc_get(registry.root, ".", "acme:support", tmp_path / "ok", "--rev", reg.version)
    assert ok.returncode == 0, ok.stderr
    # DVC's name for the model is dir:name; the CLI's `acme/support` is gitmodel's alias only.
    slash = dvc_get(registry.root, ".", "acme/support", tmp_path / "slash", "--rev", reg.version)
    assert slash.returncode != 0
    assert "Unable to find artifact" in slash.stderr
    unknown = dvc_get(registry.root, ".", "acme:support", tmp_path / "unknown", "--rev", "v9.9.9")
    assert unknown.returncode != 0
    assert not (tmp_path / "slash").exists() and not (tmp_path / "unknown").exists()


def _stage_views(registry: Registry, cli_name: str, dvc_name: str) -> dict[str, object]:
    """What each client says the environments serve."""
    ours_list = next(m for m in ours_json(registry, "list")["models"] if m["name"] == dvc_name)
    gto_row = gto_json(registry.root, "show")[dvc_name]
    prod = run_client(registry.root, "gto", "show", f"{dvc_name}#production", "--version")
    return {
        "gitmodel show": ours_json(registry, "show", f"{cli_name}#production")["version"],
        "gitmodel list": ours_list["environments"],
        "gto show #production": prod.stdout.strip(),
        "gto show stages": {env: gto_row["stage"].get(env) for env in ("staging", "production")},
    }


def _moves(registry: Registry, cli_name: str, dvc_name: str) -> tuple[list[object], list[object]]:
    """Assignment events as (env, version, tag), oldest first, from both clients."""
    gto = [
        (e["stage"], e["version"], e["ref"])
        for e in reversed(gto_json(registry.root, "history", dvc_name))
        if e["event"] == "assignment"
    ]
    ours = [
        (e["environment"], e["version"], e["tag"])
        for e in ours_json(registry, "history", cli_name)["events"]
        if e["environment"] is not None
    ]
    return gto, ours


@pytest.mark.parametrize(("cli_name", "dvc_name"), MODELS, ids=["plain", "namespaced"])
def test_stage_pointers_agree_after_promotes_and_a_rollback(
    registry: Registry, clock: Clock, tmp_path: Path, cli_name: str, dvc_name: str
) -> None:
    v1 = register(registry, clock, cli_name, "file", 1, 0.90, "--push")
    v2 = register(registry, clock, cli_name, "file", 2, 0.92, "--push")
    for version, env in [(v1, "staging"), (v1, "production"), (v2, "staging"), (v2, "production")]:
        clock.tick()
        registry.ok("promote", cli_name, version.version, env, "--push")
    _drop_local_cache(registry)
    origin = str(registry.root.parent / "origin.git")

    assert _stage_views(registry, cli_name, dvc_name) == {
        "gitmodel show": "v1.1.0",
        "gitmodel list": {"staging": "v1.1.0", "production": "v1.1.0"},
        "gto show #production": "v1.1.0",
        "gto show stages": {"staging": "v1.1.0", "production": "v1.1.0"},
    }
    dvc_get(tmp_path, origin, dvc_name, tmp_path / "prod-before", "--stage", "production")
    assert read_tree(tmp_path / "prod-before") == v2.content

    clock.tick()
    moved = registry.ok("rollback", "production", cli_name, "--reason", "bad answers", "--push")
    assert "v1.0.0" in moved.stdout

    assert _stage_views(registry, cli_name, dvc_name) == {
        "gitmodel show": "v1.0.0",
        "gitmodel list": {"staging": "v1.1.0", "production": "v1.0.0"},
        "gto show #production": "v1.0.0",
        "gto show stages": {"staging": "v1.1.0", "production": "v1.0.0"},
    }
    dvc_get(tmp_path, origin, dvc_name, tmp_path / "prod-after", "--stage", "production")
    assert read_tree(tmp_path / "prod-after") == v1.content
    staging = tmp_path / "staging"
    dvc_get(registry.root, ".", dvc_name, staging, "--stage", "staging")
    assert read_tree(staging) == v2.content

    gto_moves, our_moves = _moves(registry, cli_name, dvc_name)
    tag = dvc_name.replace(":", "=")
    assert (
        gto_moves
        == our_moves
        == [
            ("staging", "v1.0.0", f"{tag}#staging#1"),
            ("production", "v1.0.0", f"{tag}#production#2"),
            ("staging", "v1.1.0", f"{tag}#staging#3"),
            ("production", "v1.1.0", f"{tag}#production#4"),
            ("production", "v1.0.0", f"{tag}#production#5"),
        ]
    )
    # Everything was pushed: origin holds exactly the local tags.
    assert git(Path(origin), "tag").stdout.split() == git(registry.root, "tag").stdout.split()


def test_the_bench_builder_writes_what_gitmodel_writes(tmp_path: Path) -> None:
    """bench/scale_build.py fakes thousands of registrations; GTO and gitmodel must read them as real."""
    import os
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from scale_build import Shape, build

    gitmodel = [str(Path(sys.executable).parent / "gitmodel")]
    shape = Shape("t", models=3, versions=4, staging=1.0, production=0.5, batch=2)
    built = build(tmp_path / "repo", shape, dict(os.environ), gitmodel, tmp_path / "remote", objects=True)
    root = built.root
    assert built.tags == shape.tags() == len(git(root, "tag").stdout.split()) == 3 * (4 + 4 + 2)

    models = json.loads(run_client(root, "gitmodel", "list", "--json").stdout)["models"]
    listing = {m["name"]: m for m in models}
    for name, row in gto_json(root, "show").items():
        assert (row["version"], row["stage"]) == (listing[name]["latest"], listing[name]["environments"])
    assert listing["m00001"]["environments"] == {"staging": "v1.3.0", "production": "v1.3.0"}
    history = json.loads(run_client(root, "gitmodel", "history", "m00001", "--json").stdout)["events"]
    gto_events = [
        (e["version"], e["stage"], e["ref"])
        for e in reversed(gto_json(root, "history", "m00001"))
        if e["event"] in ("registration", "assignment")
    ]
    assert gto_events == [(e["version"], e["environment"], e["tag"]) for e in history]

    # Byte for byte what `git tag -a` makes of the same message, date and target.
    built_tag = "m00001#production#6"
    when = git(root, "for-each-ref", "--format=%(taggerdate:raw)", f"refs/tags/{built_tag}").stdout.strip()
    message = git(root, "for-each-ref", "--format=%(contents)", f"refs/tags/{built_tag}").stdout[:-1]
    subprocess.run(
        ["git", "tag", "-a", "-F", "-", "probe", f"{built_tag}^{{}}"],
        cwd=root,
        input=message,
        text=True,
        env={**os.environ, "GIT_COMMITTER_DATE": when},
        check=True,
    )
    ours = git(root, "cat-file", "tag", built_tag).stdout
    real = git(root, "cat-file", "tag", "probe").stdout
    assert ours == real.replace("\ntag probe\n", f"\ntag {built_tag}\n")

    # The faked versions are valid parents: register and rollback work on top of them.
    (root / "models/m00001/weights.gguf").write_bytes(gguf_bytes(1200, 5))
    out = run_client(root, "gitmodel", "register", "m00001", "models/m00001/weights.gguf").stdout
    assert "registered m00001 v1.4.0 (minor bump" in out
    out = run_client(root, "gitmodel", "rollback", "production", "m00001").stdout
    assert "production -> v1.1.0 (was v1.3.0)" in out


def test_a_forked_client_answers_as_the_installed_script(registry: Registry, clock: Clock) -> None:
    """plugin.forkrun (what run_client uses) against the scripts themselves: same exit code,
    stdout and stderr, for answers, JSON and usage errors."""
    register(registry, clock, "support", "file", 1, 0.90, "--push")
    for name, *args in (
        ("dvc", "status", "-c"),
        ("dvc", "artifacts", "get", ".", "support", "--rev", "v9.9.9", "-o", "nowhere"),
        ("gto", "show", "--json"),
        ("gto", "show", "--no-such-flag"),
    ):
        forked = run_client(registry.root, name, *args, check=False)
        real = run_client(registry.root, name, *args, check=False, binary=True)
        assert (forked.returncode, forked.stdout, forked.stderr) == (
            real.returncode,
            real.stdout,
            real.stderr,
        ), args
    assert not (registry.root / "nowhere").exists()
