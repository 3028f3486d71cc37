"""Attacks on the pointers, each refused at both enforcement points a push meets.

"server": the bare origin runs the installed pre-receive hook (`hooks install --server`);
the push is refused, origin's refs and files are unchanged.
"hosted": a bare repository with no hooks stands in for GitHub/GitLab; the push lands,
and `gitmodel verify --all` in a fresh clone (as CI runs it) exits 1 naming the rule,
writing nothing.

The registry (built once, copied per test): support v1.0.0 in staging and production,
v1.1.0 registered (good metrics), v1.2.0 registered with a much worse accuracy; every
step made with gitmodel through the server hook, so legitimate moves pass it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from plugin import forkrun
from plugin.fsguard import Guard
from plugin.registry import GITCONFIG, META, git, random_bytes, refs
from plugin.templates import built_once

GITMODEL = [sys.executable, "-m", "gitmodel"]
GOOD = META
BAD = META.replace("accuracy: 0.942", "accuracy: 0.70")


def worse(text: str, accuracy: str) -> str:
    return re.sub(r"accuracy: [0-9.]+", f"accuracy: {accuracy}", text, count=1)


def _env(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    gitconfig = home / ".gitconfig"
    gitconfig.write_text(GITCONFIG)
    return {
        **os.environ,
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": str(gitconfig),
        "DVC_NO_ANALYTICS": "1",
        "DVC_GLOBAL_CONFIG_DIR": str(home / ".config" / "dvc"),
        "DVC_SYSTEM_CONFIG_DIR": str(home / "etc-dvc"),
        "DVC_SITE_CACHE_DIR": str(home / "dvc-site-cache"),
    }


def gm(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """gitmodel in a process of its own, forked from plugin.forkrun's zygote (imported once)."""
    return forkrun.run("gitmodel", args, cwd, env, timeout=300)


def gm_script(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m gitmodel` itself, started from nothing."""
    return subprocess.run(
        [*GITMODEL, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once per run (the xdist workers share it); each test copies it."""
    return built_once(tmp_path_factory, "policy-template", _build)


def _build(base: Path) -> None:
    base.mkdir()
    env = _env(base / "home")
    repo, origin = base / "repo", base / "origin.git"

    def ok(*args: str) -> str:
        proc = gm(repo, *args, env=env)
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        return proc.stdout

    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True, env=env)
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True, env=env)
    subprocess.run(["git", "remote", "add", "origin", str(origin)], cwd=repo, check=True, env=env)
    ok("init", "--remote", str(base / "dvc-remote"))
    ok("hooks", "install", "--server", "--path", str(origin))
    for seed, meta in ((1, GOOD), (2, GOOD), (3, BAD)):
        (repo / "m.gguf").write_bytes(random_bytes(2000, seed))
        (repo / f"meta{seed}.yaml").write_text(meta)
        ok("register", "support", "m.gguf", "--meta", f"meta{seed}.yaml", "--push")
        if seed == 1:
            ok("promote", "support", "v1.0.0", "staging", "--push")
            ok("promote", "support", "v1.0.0", "production", "--push")


@dataclass
class World:
    base: Path
    side: str  # "server" or "hosted"

    @property
    def repo(self) -> Path:
        return self.base / "repo"

    @property
    def origin(self) -> Path:
        return self.base / ("origin.git" if self.side == "server" else "hosted.git")

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return git(self.repo, *args, check=check)

    def rev(self, rev: str) -> str:
        return self.git("rev-parse", rev).stdout.strip()

    def tag(self, name: str, target: str, message: str = "", annotated: bool = True) -> None:
        extra = ["-a", "-m", message or f"tag {name}"] if annotated else []
        self.git("tag", *extra, name, target)

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--no-verify", "-m", message)
        return self.rev("HEAD")

    def push(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.git("push", "--no-verify", "origin", *args, check=False)

    def ci(self) -> Path:
        """A fresh CI checkout of the hosted repository, seq refs included."""
        where = self.base / "ci"
        shutil.rmtree(where, ignore_errors=True)
        git(self.base, "clone", "-q", str(self.origin), str(where))
        git(where, "fetch", "-q", "origin", "refs/gitmodel/*:refs/gitmodel/*")
        return where


@pytest.fixture(params=["server", "hosted"])
def world(request: pytest.FixtureRequest, template: Path, tmp_path: Path) -> World:
    base = tmp_path / "w"
    shutil.copytree(template, base, symlinks=True, ignore=shutil.ignore_patterns("home"))
    w = World(base, request.param)
    if w.side == "hosted":
        git(base, "clone", "-q", "--mirror", str(base / "origin.git"), str(base / "hosted.git"))
    w.git("remote", "set-url", "origin", str(w.origin))
    return w


def refused(w: World, push: Callable[[], subprocess.CompletedProcess[str]], subject: str, rule: str) -> str:
    """The attack is refused where it lands: by the hook, or by `verify --all` in CI."""
    guard = Guard(w.origin)
    before = refs(w.origin)
    proc = push()
    line = f"refused {subject} [{rule}]"
    if w.side == "server":
        assert proc.returncode != 0, (proc.stdout, proc.stderr)
        assert line in proc.stderr, proc.stderr
        assert refs(w.origin) == before
        guard.assert_unchanged()
        return proc.stderr
    assert proc.returncode == 0, proc.stderr  # hosted Git takes anything
    ci = w.ci()
    ci_guard = Guard(ci)
    result = gm(ci, "verify", "--all")
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert line in result.stderr, result.stderr
    # an attack tag pushed alone also leaves the seq ref behind: a warning, not a refusal
    lines = [x for x in result.stderr.splitlines() if "[seq-refs]: it is behind" not in x]
    assert lines and all(x.startswith("gitmodel: error: refused ") for x in lines), result.stderr
    ci_guard.assert_unchanged()
    return result.stderr


def test_the_clean_registry_verifies(world: World) -> None:
    if world.side == "hosted":
        ci = world.ci()
        result = gm_script(ci, "verify", "--all", "--json")
        assert result.returncode == 0, result.stdout
        assert '"ok": true' in result.stdout


def test_stage_tag_on_a_commit_holding_no_version(world: World) -> None:
    root = world.git("rev-list", "--max-parents=0", "HEAD").stdout.split()[0]
    world.tag("support#staging#3", root)  # gitmodel init's commit
    err = refused(
        world, lambda: world.push("refs/tags/support#staging#3"), "support#staging#3", "assignment-target"
    )
    assert "holds no registered version" in err


def test_stage_tag_on_an_edited_pointer(world: World) -> None:
    pointer = world.repo / "models/support/m.gguf.dvc"
    pointer.write_text(pointer.read_text().replace("md5: ", "md5: 0", 1))
    commit = world.commit("swap the bytes, keep the metadata")
    world.tag("support#staging#3", commit)
    refused(
        world,
        lambda: world.push("HEAD:refs/heads/attack", "refs/tags/support#staging#3"),
        "support#staging#3",
        "assignment-target",
    )


def test_stage_tag_on_a_schema_invalid_version(world: World) -> None:
    meta = world.repo / "models/support/model.yaml"
    meta.write_text(worse(meta.read_text().replace("version: v1.2.0", "version: v1.3.0"), "high"))
    commit = world.commit("v1.3.0")
    world.tag("support@v1.3.0", commit)
    world.tag("support#staging#3", commit)
    err = refused(
        world,
        lambda: world.push(
            "HEAD:refs/heads/attack", "refs/tags/support@v1.3.0", "refs/tags/support#staging#3"
        ),
        "support#staging#3",
        "assignment-target",
    )
    assert "metrics.accuracy" in err


@pytest.mark.parametrize(
    ("tag", "rule"),
    [
        ("support#staging#0", "tag-grammar"),
        ("support#staging", "tag-grammar"),
        ("support#staging#01", "tag-grammar"),
        ("support#staging#2", "counter"),  # not above #2, the model's highest
        ("support#staging#99999", "counter"),
    ],
)
def test_counters_outside_the_rules(world: World, tag: str, rule: str) -> None:
    world.tag(tag, world.rev("support@v1.1.0^{commit}"))
    refused(world, lambda: world.push(f"refs/tags/{tag}"), tag, rule)


def test_skipping_staging(world: World) -> None:
    world.tag("support#production#3", world.rev("support@v1.1.0^{commit}"))
    err = refused(
        world, lambda: world.push("refs/tags/support#production#3"), "support#production#3", "promotion-order"
    )
    assert "has not been in staging" in err


def test_a_gate_passed_record_is_not_evidence(world: World) -> None:
    record = (
        'gitmodel: promote support v1.2.0 to staging\n\ngitmodel-record: {"action":"promote",'
        '"gate":{"passed":true,"forced":false,"baseline":"v1.0.0","checks":[]},"version":"v1.2.0"}'
    )
    world.tag("support#staging#3", world.rev("support@v1.2.0^{commit}"), record)
    err = refused(world, lambda: world.push("refs/tags/support#staging#3"), "support#staging#3", "gate")
    assert "accuracy 0.942 -> 0.7" in err and "recomputed" in err


def test_deprecated_version_cannot_be_assigned(world: World) -> None:
    world.tag("support@v1.1.0!", world.rev("support@v1.1.0^{commit}"))
    world.tag("support#staging#3", world.rev("support@v1.1.0^{commit}"))
    refused(
        world,
        lambda: world.push("refs/tags/support@v1.1.0!", "refs/tags/support#staging#3"),
        "support#staging#3",
        "deprecated-version",
    )


@pytest.mark.parametrize(
    ("tag", "target", "rule"),
    [
        ("support@v1.3.0-rc1", "support@v1.2.0^{commit}", "tag-grammar"),
        ("support@v1.0.0!", "support@v1.1.0^{commit}", "tag-grammar"),  # another version's commit
        ("support@v1.9.0!", "support@v1.1.0^{commit}", "tag-grammar"),  # no such version
    ],
)
def test_tags_gto_reads_but_gitmodel_would_not(world: World, tag: str, target: str, rule: str) -> None:
    world.tag(tag, world.rev(target))
    refused(world, lambda: world.push(f"refs/tags/{tag}"), tag, rule)


def test_lightweight_tag_in_the_namespace(world: World) -> None:
    world.tag("support#staging#3", world.rev("support@v1.1.0^{commit}"), annotated=False)
    refused(world, lambda: world.push("refs/tags/support#staging#3"), "support#staging#3", "annotated-tags")


def test_branch_push_editing_a_registered_version(world: World) -> None:
    meta = world.repo / "models/support/model.yaml"
    meta.write_text(worse(meta.read_text(), "0.99"))
    world.commit("better numbers for v1.2.0")
    subject = f"{'main' if world.side == 'server' else 'HEAD'}:models/support/model.yaml"
    refused(world, lambda: world.push("HEAD:refs/heads/main"), subject, "immutable-version-files")


def test_branch_push_breaking_the_schema(world: World) -> None:
    meta = world.repo / "models/support/model.yaml"
    meta.write_text(worse(meta.read_text().replace("version: v1.2.0", "version: v1.3.0"), "high"))
    world.commit("v1.3.0 by hand")
    subject = "main:models/support/model.yaml"
    if world.side == "hosted":
        subject = "HEAD:models/support/model.yaml"
    refused(world, lambda: world.push("HEAD:refs/heads/main"), subject, "schema")


def test_seq_ref_cannot_be_deleted_or_rewound(world: World) -> None:
    if world.side == "hosted":
        pytest.skip("hosted Git cannot refuse a deletion; verify judges what is there (below)")
    guard = Guard(world.origin)
    before = refs(world.origin)
    proc = world.push(":refs/gitmodel/seq/support")
    assert "refused refs/gitmodel/seq/support [seq-refs]: deleting it is refused" in proc.stderr
    world.git("fetch", "-q", "origin", "+refs/gitmodel/*:refs/gitmodel/*")
    old = world.rev("refs/tags/support#staging#1")
    proc = world.push(f"+{old}:refs/gitmodel/seq/support")
    assert "refused refs/gitmodel/seq/support [seq-refs]: it would go back from #2 to #1" in proc.stderr
    assert refs(world.origin) == before
    guard.assert_unchanged()


def test_verify_finds_a_rewound_seq_ref(world: World) -> None:
    """Alone, a rewind reads as a seq ref left behind (a warning: docs/security.md, Seq refs);
    the counter it then lets a stale clone use a second time fails verify."""
    if world.side == "server":
        pytest.skip("the server refuses it (above)")
    seq, one = "refs/gitmodel/seq/support", world.rev("refs/tags/support#staging#1")
    world.tag("support#staging#2", "support@v1.0.0^{commit}")  # a clone that fetched at #1 takes #2
    tag = "refs/tags/support#staging#2"
    stale = ["--atomic", f"--force-with-lease={seq}:{one}", tag, f"{tag}:{seq}"]  # as gitmodel pushes
    before = refs(world.origin)
    assert world.push(*stale).returncode != 0 and refs(world.origin) == before  # the lease holds
    assert world.push(f"+{one}:{seq}").returncode == 0  # the rewind
    result = gm(world.ci(), "verify", "--all")
    assert result.returncode == 0 and "or it was rewound" in result.stderr, result.stderr
    refused(world, lambda: world.push(*stale), "support#staging#2", "counter")  # the lease reopened


def test_legitimate_moves_pass_the_full_policy(world: World) -> None:
    """promote, force-promote, rollback, canary, deprecate: all through the hook or verify."""
    steps = [
        ("promote", "support", "v1.1.0", "staging", "--push"),
        ("promote", "support", "v1.1.0", "production", "--push"),
        ("rollback", "production", "support", "--push"),
        ("promote", "support", "v1.2.0", "staging", "--push", "--force", "--reason", "known eval bug"),
        ("canary", "start", "support", "v1.1.0", "production", "--percent", "10", "--push"),
        ("canary", "promote", "support", "production", "--push"),
        ("deprecate", "support", "v1.0.0", "--push"),
    ]
    for step in steps:
        proc = gm(world.repo, *step)
        assert proc.returncode == 0, (step, proc.stdout, proc.stderr)
    if world.side == "hosted":
        result = gm(world.ci(), "verify", "--all")
        assert result.returncode == 0, result.stderr
        assert "the policy holds" in result.stdout
        forced = gm(world.ci(), "verify", "--all", "--no-overrides")
        assert forced.returncode == 1
        assert "refused support#staging#6 [gate]" in forced.stderr
