"""register under faults: killed before its tag, a git push that times out, a hung DVC remote.

- kill -9 after the commit (or before it) and the same command again converges without
  a manual `git reset` (gitmodel/register_note.py);
- a `--push` whose git push times out keeps its tag and commit, says the command that
  finishes it, and that command does;
- the DVC upload has the idle deadline downloads have (GITMODEL_DVC_TIMEOUT): exit 4
  naming the remote, and the registration is undone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from plugin.host import BUCKET, Moto
from plugin.registry import Registry, git, random_bytes, refs
from plugin.server import kill_at

NOTE = Path(".git") / "gitmodel-registering"
PUSHING = Path(".git") / "gitmodel-pushing"


def first(registry: Registry) -> None:
    registry.write("a.gguf", random_bytes(5_000, 1))
    registry.ok("register", "support", "a.gguf", "--meta", str(registry.meta()), "--push")


def origin_refs(registry: Registry) -> list[str]:
    return refs(registry.root.parent / "origin.git")


def remote_has(registry: Registry, pointer: str) -> bool:
    md5 = pointer.split("md5: ")[1][:32]
    return (registry.remote / "files" / "md5" / md5[:2] / md5[2:]).is_file()


@pytest.mark.slow
@pytest.mark.parametrize("push", [False, True], ids=["local", "push"])
def test_a_registration_killed_after_its_commit_is_tagged_by_the_rerun(
    registry: Registry, push: bool
) -> None:
    first(registry)
    data = random_bytes(60_000, 2)
    registry.write("new.gguf", data)
    args = ("register", "support", "new.gguf", "-m", "second", *(["--push"] if push else []))
    kill_at(registry.root, "register-committed", *args)
    assert (registry.root / NOTE).exists()
    rerun = registry.ok(*args)
    if push:
        assert "pushed support@v1.1.0 (register v1.1.0)" in rerun.stdout, rerun.stdout
    else:
        assert "created support@v1.1.0: an earlier run was cut short" in rerun.stdout, rerun.stdout
    assert "nothing else was done" in rerun.stdout
    assert (
        git(registry.root, "rev-parse", "support@v1.1.0^{commit}").stdout
        == git(registry.root, "rev-parse", "HEAD").stdout
    )
    assert (registry.root / "models/support/new.gguf").read_bytes() == data
    assert git(registry.root, "status", "--porcelain", "--untracked-files=no").stdout == ""
    assert not (registry.root / NOTE).exists() and not (registry.root / PUSHING).exists()
    pointer = git(registry.root, "show", "support@v1.1.0:models/support/new.gguf.dvc").stdout
    on_origin = "refs/tags/support@v1.1.0" in " ".join(origin_refs(registry))
    assert on_origin == push and remote_has(registry, pointer) == push
    # and the next run is an ordinary command again
    registry.write("models/support/new.gguf.tmp", random_bytes(60_000, 3))
    os.replace(registry.root / "models/support/new.gguf.tmp", registry.root / "models/support/new.gguf")
    assert "registered support v1.2.0" in registry.ok("register", "support", "models/support/new.gguf").stdout


@pytest.mark.slow
def test_a_registration_killed_before_its_commit_is_undone_and_made_afresh(registry: Registry) -> None:
    first(registry)
    head = git(registry.root, "rev-parse", "HEAD").stdout
    registry.write("new.gguf", random_bytes(60_000, 2))
    args = ("register", "support", "new.gguf", "--push")
    kill_at(registry.root, "register-added", *args)
    assert not (registry.root / "new.gguf").exists()  # moved, pointer written, no commit
    rerun = registry.ok(*args)
    assert "registered support v1.1.0" in rerun.stdout, rerun.stdout
    assert git(registry.root, "rev-parse", "HEAD~1").stdout == head
    assert "refs/tags/support@v1.1.0" in " ".join(origin_refs(registry))
    assert git(registry.root, "status", "--porcelain", "--untracked-files=no").stdout == ""
    assert not (registry.root / NOTE).exists() and not (registry.root / PUSHING).exists()


@pytest.mark.slow
def test_a_push_that_times_out_keeps_the_registration_and_says_how_to_finish(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Origin takes the refs, then hangs in a post-receive hook: the push times out
    (exit 4); the tag and commit stay, the rerun the message names finds them on origin."""
    first(registry)
    hook = registry.root.parent / "origin.git" / "hooks" / "post-receive"
    hook.write_text("#!/bin/sh\nexec sleep 20\n")
    hook.chmod(0o755)
    monkeypatch.setenv("GITMODEL_GIT_TIMEOUT", "4")  # time enough for origin to take the refs
    registry.write("new.gguf", random_bytes(60_000, 2))
    args = ("register", "support", "new.gguf", "--push")
    failed = registry.fails(4, *args)
    assert "origin did not answer within 4 s (git push)" in failed.stderr
    assert "support@v1.1.0 and its commit are kept on this clone" in failed.stderr
    assert "run the same `gitmodel register ... --push` again" in failed.stderr
    assert git(registry.root, "tag", "-l", "support@v1.1.0").stdout.strip() == "support@v1.1.0"
    assert "support@v1.1.0" in (registry.root / PUSHING).read_text()
    assert git(registry.root, "status", "--porcelain", "--untracked-files=no").stdout == ""
    hook.unlink()
    monkeypatch.delenv("GITMODEL_GIT_TIMEOUT")
    rerun = registry.ok(*args)
    assert "support@v1.1.0 (register v1.1.0) reached origin in an earlier run" in rerun.stdout, rerun.stdout
    assert not (registry.root / PUSHING).exists()
    assert git(registry.root, "ls-remote", "origin", "refs/tags/support@v1.1.0").stdout


def default_s3_remote(registry: Registry, name: str, url: str, endpoint: str) -> None:
    dvc = str(Path(sys.executable).parent / "dvc")
    for args in (["remote", "add", "-d", name, url], ["remote", "modify", name, "endpointurl", endpoint]):
        subprocess.run([dvc, *args], cwd=registry.root, check=True, capture_output=True)
    git(registry.root, "commit", "-q", "-m", f"{name} remote", ".dvc/config")


@pytest.mark.slow
def test_a_push_to_a_hung_dvc_remote_exits_4_naming_it_and_undoes_the_registration(
    registry: Registry, silent_port: int, monkeypatch: pytest.MonkeyPatch, fs_guard: Callable[..., object]
) -> None:
    monkeypatch.setenv("GITMODEL_DVC_TIMEOUT", "1")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    first(registry)
    default_s3_remote(registry, "hung", f"s3://{BUCKET}/hung", f"http://127.0.0.1:{silent_port}")
    registry.write("new.gguf", random_bytes(60_000, 2))
    before, origin_before = refs(registry.root), origin_refs(registry)
    guard = fs_guard(registry.root)
    began = time.monotonic()
    failed = registry.fails(4, "register", "support", "new.gguf", "--push")
    assert time.monotonic() - began < 30
    assert "the DVC remote 'hung' (s3://gitmodel-test/hung) moved no byte within 1 s" in failed.stderr
    assert "GITMODEL_DVC_TIMEOUT" in failed.stderr
    assert refs(registry.root) == before and origin_refs(registry) == origin_before
    assert git(registry.root, "status", "--porcelain", "--untracked-files=no").stdout == ""
    assert (registry.root / "new.gguf").is_file()  # back where the user had it
    # git's own files change (objects, logs, index) but no ref did (above); the cache may
    # keep the object (content-addressed, as after `dvc add`); nothing else may change.
    root = registry.root
    guard.assert_only(root / ".git", root / ".dvc" / "cache", root / ".dvc" / "tmp")  # type: ignore[attr-defined]


@pytest.mark.slow
@pytest.mark.parametrize("where", ["local", "s3"])
def test_a_pushed_folder_lands_whole_by_hash(
    registry: Registry, moto: Moto, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upload goes by hash (no repository index): a folder's manifest brings its files."""
    from gitmodel import dvc

    if where == "s3":
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            monkeypatch.setenv(key, "testing")
        moto.client().create_bucket(Bucket=BUCKET)
        default_s3_remote(registry, "s3", f"s3://{BUCKET}/{registry.root.parent.name}-folder", moto.endpoint)
    registry.write("adapter/adapter_config.json", '{"r": 16}')
    registry.write("adapter/w/adapter.safetensors", random_bytes(40_000, 8))
    registry.write("adapter/w/more.bin", random_bytes(1_000, 9))
    registry.ok("register", "acme:adapter", "adapter", "--meta", str(registry.meta()), "--push")
    pointer = (registry.root / "acme/models/adapter/adapter.dvc").read_text()
    assert dvc.missing_on_remote(registry.root, [pointer]) == []
    if where == "s3":
        keys = moto.client().list_objects_v2(Bucket=BUCKET, Prefix=f"{registry.root.parent.name}-folder/")
        assert len(keys["Contents"]) == 4  # three files and the .dir manifest
