"""Environment branches: each pushed move also moves env/ENV/NAME, in the same atomic push
as its tag; origin's pre-receive accepts exactly that and refuses a branch moved alone or
against its tag. GTO and `dvc artifacts get --stage` read the tags as before."""

from __future__ import annotations

from pathlib import Path

import pytest
from plugin.clients import dvc_get, gto_json, read_tree, run_client
from plugin.fsguard import Guard
from plugin.registry import Registry, git, random_bytes, refs
from plugin.templates import GOOD, new_version

from gitmodel.config import parse_text
from gitmodel.envbranches.settings import BranchSettings, request_branch, request_dir
from gitmodel.errors import GitModelError
from gitmodel.refs import Version

ON = "branches: {environments: true}\n"


def enable(reg: Registry, origin: Path, text: str = ON) -> None:
    """Server hooks on origin, then the `branches:` section committed and pushed to main."""
    reg.ok("hooks", "install", "--server", "--path", str(origin))
    with (reg.root / "gitmodel.yaml").open("a") as fh:
        fh.write(text)
    git(reg.root, "commit", "-q", "-am", "environment branches")
    git(reg.root, "push", "-q", "origin", "HEAD")


def commit_of(repo: Path, rev: str) -> str:
    return git(repo, "rev-parse", f"{rev}^{{commit}}").stdout.strip()


def branch_on(origin: Path, name: str) -> str | None:
    proc = git(origin, "rev-parse", "--verify", "-q", f"refs/heads/{name}", check=False)
    return proc.stdout.strip() or None


# --- settings and names (pure) ---------------------------------------------------------


def test_branch_names_handle_namespaces_and_parse_back() -> None:
    s = BranchSettings(environments=True)
    assert s.branch("production", "support") == "refs/heads/env/production/support"
    assert s.branch("production", "acme:support") == "refs/heads/env/production/acme=support"
    assert s.parse_branch("refs/heads/env/production/acme=support") == ("production", "acme:support")
    assert s.parse_branch("refs/heads/main") is None
    for bad in (
        "refs/heads/env/production",
        "refs/heads/env/production/acme/support",
        "refs/heads/env/Prod/x",
    ):
        with pytest.raises(ValueError):
            s.parse_branch(bad)
    assert request_branch("production", "acme:support", Version(1, 2, 0)) == (
        "refs/heads/gitmodel/request/production/acme=support/v1.2.0"
    )
    assert request_dir("staging", "support", Version(1, 0, 0)) == ".gitmodel/requests/staging/support/v1.0.0"


@pytest.mark.parametrize(
    ("section", "words"),
    [
        ("branches: {environments: yes please}", "branches.environments must be true or false"),
        ("branches: {prefix: Env}", "branches.prefix must be folders of lowercase names ending in '/'"),
        ("branches: {prefix: gitmodel/x/}", "not under gitmodel/"),
        ("branches: {requests: [prod]}", "branches.requests names 'prod', which is not in environments"),
        ("branches: {environment: true}", "did you mean environments?"),
    ],
)
def test_a_wrong_branches_section_is_one_line(section: str, words: str) -> None:
    text = "environments: [staging, production]\n" + section + "\n"
    with pytest.raises(GitModelError) as err:
        parse_text(text)
    assert words in str(err.value)
    assert "\n" not in str(err.value)


def test_the_section_defaults_to_off() -> None:
    cfg = parse_text("environments: [staging, production]\nbranches: {prefix: deploy/}\n")
    assert cfg.branches == BranchSettings(environments=False, prefix="deploy/", requests=())


# --- moves with real git, a bare origin and its pre-receive hook ------------------------


@pytest.mark.slow
def test_moves_carry_their_branch_and_the_clients_still_read_tags(
    template_copy: object, tmp_path: Path
) -> None:
    reg = template_copy("pushed")  # type: ignore[operator]
    origin = tmp_path / "origin.git"
    enable(reg, origin)
    v1 = commit_of(reg.root, "support@v1.0.0")

    reg.ok("promote", "support", "v1.0.0", "staging", "--push")
    assert branch_on(origin, "env/staging/support") == v1
    new_version(reg, 2, GOOD, "--push")
    v2 = commit_of(reg.root, "support@v1.1.0")
    reg.ok("promote", "support", "v1.1.0", "staging", "--push")
    assert branch_on(origin, "env/staging/support") == v2  # a fast-forward
    out = reg.ok("rollback", "staging", "support", "--push").stdout
    assert "support staging -> v1.0.0" in out
    assert branch_on(origin, "env/staging/support") == v1  # a reset, under a lease
    assert branch_on(origin, "env/production/support") is None  # untouched environments have none

    # The tags stay the record: GTO and DVC read the rolled-back pointer from them.
    clone = tmp_path / "clone"  # what a tool following origin has: the tags and the env branches
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    assert git(clone, "rev-parse", "origin/env/staging/support").stdout.strip() == v1
    assert gto_json(clone, "show")["support"]["stage"] == {"staging": "v1.0.0"}
    assert run_client(clone, "gto", "show", "support#staging", "--version").stdout.strip() == "v1.0.0"
    out_dir = tmp_path / "got"
    got = dvc_get(reg.root, str(origin), "support", out_dir, "--stage", "staging")
    assert got.returncode == 0, got.stderr
    assert read_tree(out_dir) == {"": random_bytes(2000, 1)}


@pytest.mark.slow
def test_origin_refuses_a_branch_moved_alone_or_against_its_tag(
    template_copy: object, tmp_path: Path
) -> None:
    reg = template_copy("pushed")  # type: ignore[operator]
    origin = tmp_path / "origin.git"
    enable(reg, origin)
    reg.ok("promote", "support", "v1.0.0", "staging", "--push")
    new_version(reg, 2, GOOD, "--push")
    v1, v2 = commit_of(reg.root, "support@v1.0.0"), commit_of(reg.root, "support@v1.1.0")
    guard, before = Guard(origin), refs(origin)

    def push(*specs: str, subject: str = "refs/heads/env/staging/support") -> str:
        proc = git(reg.root, "push", "--no-verify", "--atomic", "origin", *specs, check=False)
        assert proc.returncode != 0, proc.stderr
        assert f"refused {subject} [environment-branch]" in proc.stderr, proc.stderr
        assert refs(origin) == before
        guard.assert_unchanged()
        return proc.stderr

    # Alone: Argo CD would deploy v1.1.0 with no tag recording it.
    assert "this push has none" in push(f"{v2}:refs/heads/env/staging/support")
    # With a valid move of staging to v1.1.0, but the branch elsewhere.
    git(reg.root, "tag", "-a", "-m", "by hand", "support#staging#2", v2)
    root = git(reg.root, "rev-list", "--max-parents=0", "HEAD").stdout.split()[0]
    err = push("refs/tags/support#staging#2", f"+{root}:refs/heads/env/staging/support")
    assert "support#staging#2, pushed with it, marks" in err
    # Deleted.
    assert "deleting it is refused" in push(":refs/heads/env/staging/support")
    # A name under the prefix that is no environment branch.
    assert "names no environment and model" in push(
        f"{v1}:refs/heads/env/nowhere", subject="refs/heads/env/nowhere"
    )

    # The same move with its branch where the tag says is accepted, by plain git too.
    ok = git(
        reg.root,
        "push",
        "--no-verify",
        "--atomic",
        "origin",
        "refs/tags/support#staging#2",
        f"{v2}:refs/heads/env/staging/support",
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert branch_on(origin, "env/staging/support") == v2

    # An origin that forbids resetting branches makes a rollback exit 1 saying so, not 3.
    git(origin, "config", "receive.denyNonFastForwards", "true")
    git(reg.root, "fetch", "-q", "--tags", "origin")
    before = reg.snapshot()
    err = reg.fails(1, "rollback", "staging", "support", "--push").stderr
    assert "origin refuses to move refs/heads/env/staging/support backwards" in err
    assert reg.snapshot() == before
