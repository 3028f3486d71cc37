"""Promotion by pull request, with real git: `gitmodel request promote` pushes a request
branch; a plain `git merge` in a clone stands for the hosting's merge button; CI's
`gitmodel verify --apply-requests` writes the (signed) move; origin's pre-receive refuses
a direct promotion of an environment that takes merged requests only."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import Result
from plugin.branches import clone, setup
from plugin.clients import gto_json
from plugin.fsguard import Guard
from plugin.registry import Registry, git, refs
from plugin.signing import keygen, use_key
from plugin.templates import GOOD, new_version

from gitmodel.envbranches.requestfile import read_request
from gitmodel.records import parse as parse_record

REQUEST = ".gitmodel/requests/production/support/v1.0.0"
BRANCH = "gitmodel/request/production/support/v1.0.0"


def ok_in(reg: Registry, where: Path, *args: str) -> Result:
    result = reg.run(*args, cwd=where)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def commit_of(repo: Path, rev: str) -> str:
    return git(repo, "rev-parse", f"{rev}^{{commit}}").stdout.strip()


@pytest.mark.slow
def test_direct_refused_then_request_merge_ci_and_the_move_exists(
    template_copy: object, tmp_path: Path
) -> None:
    reg = template_copy("pushed")  # type: ignore[operator]
    origin = tmp_path / "origin.git"
    setup(reg, origin)
    v1 = commit_of(reg.root, "support@v1.0.0")

    # A direct promotion is refused with the command to use, by gitmodel and by origin.
    fix = "gitmodel request promote support v1.0.0 production"
    before = reg.snapshot()
    assert fix in reg.fails(1, "promote", "support", "v1.0.0", "production", "--push").stderr
    assert reg.snapshot() == before
    guard, on_origin = Guard(origin), refs(origin)
    git(reg.root, "tag", "-a", "-m", "by hand", "support#production#2", "support@v1.0.0^{commit}")
    proc = git(reg.root, "push", "--no-verify", "origin", "refs/tags/support#production#2", check=False)
    assert proc.returncode != 0
    assert "refused support#production#2 [merged-request]" in proc.stderr, proc.stderr
    assert fix in proc.stderr
    assert refs(origin) == on_origin
    guard.assert_unchanged()
    # Hosted Git takes the push; CI's `verify TAG` refuses it, naming the same command.
    git(tmp_path, "clone", "-q", "--mirror", str(origin), str(tmp_path / "hosted.git"))
    git(reg.root, "push", "-q", "--no-verify", str(tmp_path / "hosted.git"), "refs/tags/support#production#2")
    hosted_ci = clone(tmp_path / "hosted.git", tmp_path / "hosted-ci")
    result = reg.run("verify", "support#production#2", cwd=hosted_ci)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "refused support#production#2 [merged-request]" in result.stderr and fix in result.stderr
    git(reg.root, "tag", "-d", "support#production#2")

    status = git(reg.root, "status", "--porcelain").stdout
    out = reg.ok("request", "promote", "support", "v1.0.0", "production").stdout
    assert "requested: support production -> v1.0.0" in out
    assert f"branch  {BRANCH}  (pushed to origin, on main)" in out
    assert git(reg.root, "status", "--porcelain").stdout == status  # the work tree is left alone
    # One commit on origin's main, adding the request's two files.
    tip = commit_of(origin, f"refs/heads/{BRANCH}")
    assert commit_of(origin, f"{tip}~1") == commit_of(origin, "refs/heads/main")
    added = git(origin, "diff-tree", "-r", "--name-only", "--no-commit-id", tip).stdout.split()
    assert added == [f"{REQUEST}/CHANGELOG.md", f"{REQUEST}/request.yaml"]
    request = read_request(git(origin, "show", f"{tip}:{REQUEST}/request.yaml").stdout, "request.yaml")
    assert request is not None and request.commit == v1 and request.env == "production"
    assert "gate:" in git(origin, "show", f"{tip}:{REQUEST}/request.yaml").stdout
    assert "support v1.0.0" in git(origin, "show", f"{tip}:{REQUEST}/CHANGELOG.md").stdout
    assert "support#production#" not in " ".join(refs(origin))  # nothing moved yet

    # The hosting's merge button, after review: a merge commit on main.
    hosting = clone(origin, tmp_path / "hosting")
    git(hosting, "merge", "-q", "--no-ff", "-m", "Merge pull request #1", f"origin/{BRANCH}")
    git(hosting, "push", "-q", "origin", "main")

    # CI on the merge, with a signing key: verify, then carry the request out.
    ci = clone(origin, tmp_path / "ci")
    use_key(ci, keygen(tmp_path / "keys", "ci"))
    out = ok_in(reg, ci, "verify", "HEAD^..HEAD", "--apply-requests").stdout
    assert (
        f"applied {REQUEST}/request.yaml: support production -> v1.0.0, tag support#production#2 pushed"
        in out
    )
    assert commit_of(origin, "refs/tags/support#production#2") == v1
    assert commit_of(origin, "refs/heads/env/production/support") == v1
    body = git(origin, "cat-file", "-p", "refs/tags/support#production#2").stdout
    assert "-----BEGIN SSH SIGNATURE-----" in body
    assert (
        parse_record(body.split("-----BEGIN SSH SIGNATURE-----")[0])["request"] == f"{REQUEST}/request.yaml"
    )
    # Rerunning CI moves nothing twice.
    again = ok_in(reg, ci, "verify", "--apply-requests").stdout
    assert "no merged promotion request is waiting" in again
    assert [r for r in refs(origin) if "#production#" in r] == [
        r for r in refs(origin) if "#production#2" in r
    ]

    # The hosts see it: a fresh clone reads production as v1.0.0 (gitmodel, GTO, the host's policy).
    host = clone(origin, tmp_path / "host")
    [row] = json.loads(ok_in(reg, host, "list", "--json").stdout)["models"]
    assert row["environments"]["production"] == "v1.0.0"
    assert gto_json(host, "show")["support"]["stage"]["production"] == "v1.0.0"
    from gitmodel.policy.host import accept
    from gitmodel.registry import Registry as State

    accept(host, State.load_model(host, "support"), "production")


@pytest.mark.slow
def test_a_doubled_request_is_refused(template_copy: object, tmp_path: Path) -> None:
    reg = template_copy("pushed")  # type: ignore[operator]
    origin = tmp_path / "origin.git"
    setup(reg, origin)
    reg.ok("request", "promote", "support", "v1.0.0", "production")
    err = reg.fails(3, "request", "promote", "support", "v1.0.0", "production").stderr
    assert f"origin already has {BRANCH}" in err
    reg.fails(2, "request", "promote", "support", "v1.0.0", "nowhere")

    # A merged request whose environment moved since: tests/test_requests_more.py.


def test_git_commit_files_leaves_index_and_tree_alone(tmp_path: Path) -> None:
    from gitmodel import git as gitmodel_git

    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "a.txt")
    git(repo, "commit", "-q", "-m", "a")
    (repo / "b.txt").write_text("staged\n")
    git(repo, "add", "b.txt")
    base = commit_of(repo, "HEAD")
    made = gitmodel_git.commit_files(repo, base, {"x/y/z.yaml": "k: v\n"}, "add z\n")
    assert git(repo, "show", f"{made}:x/y/z.yaml").stdout == "k: v\n"
    assert git(repo, "show", f"{made}:a.txt").stdout == "a\n"
    assert commit_of(repo, "HEAD") == base
    assert git(repo, "diff", "--cached", "--name-only").stdout.split() == ["b.txt"]
    assert subprocess.run(["git", "cat-file", "-e", f"{made}:b.txt"], cwd=repo, check=False).returncode != 0


@pytest.mark.slow
def test_a_request_into_a_canary_environment_starts_its_canary(template_copy: object, tmp_path: Path) -> None:
    reg = template_copy("pushed")  # type: ignore[operator]
    origin = tmp_path / "origin.git"
    cfg = reg.root / "gitmodel.yaml"
    canary = "  production: {after: [staging], canary: {ramp: [{percent: 10, soak: 1s}]}}"
    cfg.write_text(cfg.read_text().replace("  production: [staging]", canary))
    setup(reg, origin)
    hosting, ci = clone(origin, tmp_path / "hosting"), clone(origin, tmp_path / "ci")

    def merge_and_apply(version: str) -> str:
        git(hosting, "fetch", "-q", "origin")
        git(
            hosting,
            "merge",
            "-q",
            "--no-ff",
            "-m",
            "merge",
            f"origin/gitmodel/request/production/support/{version}",
        )
        git(hosting, "push", "-q", "origin", "main")
        git(ci, "pull", "-q", "--ff-only")
        return ok_in(reg, ci, "verify", "--apply-requests").stdout

    reg.ok("request", "promote", "support", "v1.0.0", "production")
    assert "support production -> v1.0.0" in merge_and_apply("v1.0.0")  # a first version: no canary
    git(reg.root, "pull", "-q", "--ff-only", "origin", "main")  # the merge, before registering on top
    new_version(reg, 2, GOOD, "--push")
    reg.ok("promote", "support", "v1.1.0", "staging", "--push")
    reg.ok("request", "promote", "support", "v1.1.0", "production")
    out = merge_and_apply("v1.1.0")
    assert (
        "canary of support v1.1.0 in production at 10% (stable v1.0.0), tag support#production-canary#" in out
    )
    v1, v2 = commit_of(reg.root, "support@v1.0.0"), commit_of(reg.root, "support@v1.1.0")
    assert commit_of(origin, "refs/heads/env/production/support") == v1  # a canary is no deploy target
    assert "no merged promotion request is waiting" in ok_in(reg, ci, "verify", "--apply-requests").stdout
    # Promoting the canary needs no second request, and moves the branch with the tag.
    reg.ok("canary", "promote", "support", "production", "--push")
    assert commit_of(origin, "refs/heads/env/production/support") == v2
