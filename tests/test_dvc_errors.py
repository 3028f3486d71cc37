"""DVC remotes that are missing, unconfigured or replaced: the right exit code and the real cause.

Before: a missing local remote directory said "push them with `dvc push`" (exit 1); a
pointer to another object blamed the remote; an uncommitted `dvc remote add -d` let
`register --push` succeed and every host fail later with DVC's raw NoRemoteError
(exit 4); `init --remote OTHER` silently replaced the default remote, path un-normalised.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from plugin.attacks import World, pointer, refused, run_git
from plugin.fsguard import Guard
from plugin.registry import Registry, git, random_bytes

from gitmodel import dvc
from gitmodel.errors import RemoteDirMissing


def clone(registry: Registry, tmp_path: Path) -> Path:
    host = tmp_path / "host-clone"
    run_git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(host))
    return host


def deploy(registry: Registry, host: Path, root: Path, *extra: str) -> Result:
    return registry.run("deploy", "production", "support", "--root", str(root), *extra, cwd=host)


def nothing_served(guard: Guard, root: Path) -> None:
    """Only the deploy's bookkeeping changed: no version, no `current`."""
    mroot = root / "support"
    guard.assert_only(*[mroot / p for p in ("", ".deploy.lock", ".staging", "journal.jsonl", "versions")])
    assert not (mroot / "current").exists() and not any((mroot / "versions").iterdir())


# --- a local-path remote whose directory is gone ---------------------------------------


@pytest.mark.slow
def test_a_missing_remote_directory_is_named_exit_4_and_nothing_is_written(
    released: Registry, tmp_path: Path, fs_guard: Callable[..., Guard]
) -> None:
    git(released.root, "push", "-q", "--no-verify", "origin", "--tags")  # the promotions too
    host, root = clone(released, tmp_path), tmp_path / "root"
    root.mkdir()
    away = released.remote.with_name("dvc-remote.unmounted")
    released.remote.rename(away)  # the clone's .dvc/config still names it
    guard = fs_guard(root)
    err = refused(deploy(released, host, root), 4, "does not exist", "dvc remote modify storage url")
    assert "push" not in err.split(";")[0]  # the cause is the directory, not an unpushed version
    nothing_served(guard, root)

    # The client-side check (pre-push, rollback) says the same instead of "push them".
    text = git(released.root, "show", "support@v1.1.0:models/support/m.gguf.dvc").stdout
    with pytest.raises(RemoteDirMissing, match="does not exist"):
        dvc.missing_on_remote(released.root, [text])

    away.rename(released.remote)  # mounted again: the same deploy works
    result = deploy(released, host, root)
    assert result.exit_code == 0, result.stderr


def test_the_missing_directory_check_is_local_paths_only(registry: Registry, tmp_path: Path) -> None:
    assert dvc.config.remote_dir_missing(registry.root) is None  # there
    registry.remote.rmdir()
    absent = dvc.config.remote_dir_missing(registry.root)
    assert absent is not None and absent.exit_code == 4 and str(registry.remote) in absent.message
    assert dvc.config.remote_dir_missing(registry.root, remote="elsewhere") is None  # another remote
    (registry.root / ".dvc" / "config").write_text(
        "[core]\n    remote = s3\n['remote \"s3\"']\n    url = s3://bucket/path\n"
    )
    assert dvc.config.remote_dir_missing(registry.root) is None


# --- a pointer to the wrong object -------------------------------------------------------


@pytest.fixture
def world(deployed: World) -> World:
    return deployed


@pytest.mark.slow
def test_a_pointer_to_another_object_names_the_mismatch_not_the_remote(
    world: World, fs_guard: Callable[..., Guard]
) -> None:
    """The .dvc names an md5 the remote lacks; model.yaml names v1.0.0's, which it has."""
    other = "0123456789abcdef0123456789abcdef"
    world.forge(
        "v1.0.1",
        {
            "models/support/model.yaml": world.model_yaml(),
            "models/support/support.gguf.dvc": pointer("support.gguf", other, 20_000),
        },
    )
    guard = fs_guard(world.root, world.remote)
    # The host's policy (rule assignment-target) sees it first; materialise checks again.
    err = refused(world.deploy(), 1, f"says the bytes are {hashlib.md5(world.payload).hexdigest()}")
    assert f"name {other}" in err
    assert "DVC remote" not in err and "dvc push" not in err
    guard.assert_only(*world.allowed())
    assert world.current() == "versions/v1.0.0"


# --- no DVC remote in the committed config ------------------------------------------------


def _remote_only_locally(registry: Registry) -> None:
    """`dvc remote add -d mine PATH` in the work tree, never committed."""
    cfg = registry.root / ".dvc" / "config"
    cfg.write_text(
        f"[core]\n    remote = mine\n['remote \"mine\"']\n    url = {registry.remote.parent / 'mine'}\n"
    )


def test_register_push_refuses_a_default_remote_that_is_not_committed(registry: Registry) -> None:
    _remote_only_locally(registry)
    registry.write("m.gguf", random_bytes(2000, 1))
    meta = str(registry.meta())
    before = registry.snapshot()
    result = registry.fails(2, "register", "support", "m.gguf", "--meta", meta, "--push")
    assert "'mine'" in result.stderr and "names 'storage'" in result.stderr
    assert "git commit" in result.stderr
    assert registry.snapshot() == before
    assert not (registry.remote.parent / "mine").exists()

    git(registry.root, "commit", "-q", "-m", "DVC remote mine", ".dvc/config")
    registry.ok("register", "support", "m.gguf", "--meta", meta, "--push")
    assert any((registry.remote.parent / "mine" / "files").rglob("*"))


def test_register_push_refuses_when_no_dvc_config_is_committed(
    registry: Registry,
) -> None:
    git(registry.root, "rm", "-q", "--cached", ".dvc/config")
    git(registry.root, "commit", "-q", "-m", "no DVC config committed")
    registry.write("m.gguf", random_bytes(2000, 2))
    result = registry.fails(2, "register", "support", "m.gguf", "--meta", str(registry.meta()), "--push")
    assert "names no default remote" in result.stderr


@pytest.mark.slow
def test_a_host_with_no_remote_in_the_registry_says_so_exit_2(
    released: Registry, tmp_path: Path, fs_guard: Callable[..., Guard]
) -> None:
    """The registry's committed .dvc/config lost its remote; the host's fresh cache is empty."""
    (released.root / ".dvc" / "config").write_text("[core]\n    autostage = false\n")
    git(released.root, "commit", "-q", "-m", "drop the DVC remote", ".dvc/config")
    git(released.root, "push", "-q", "--no-verify", "origin", "HEAD:refs/heads/main", "--tags")
    host, root = clone(released, tmp_path), tmp_path / "root"
    root.mkdir()
    head = git(host, "rev-parse", "HEAD").stdout.strip()
    guard = fs_guard(root)
    err = refused(deploy(released, host, root), 2, f"no DVC remote configured in the registry at {head[:10]}")
    assert "dvc remote add -d NAME URL" in err and "NoRemoteError" not in err
    nothing_served(guard, root)


# --- init --remote on an existing registry ------------------------------------------------


def test_init_remote_never_replaces_the_default_silently(registry: Registry, tmp_path: Path) -> None:
    cfg = registry.root / ".dvc" / "config"
    before = registry.snapshot(), cfg.read_text()
    # The same directory, written another way: nothing to change, nothing committed.
    registry.ok("init", "--remote", str(registry.remote.parent / "repo" / ".." / "dvc-remote"))
    result = registry.fails(2, "init", "--remote", str(tmp_path / "other"))
    assert "already 'storage'" in result.stderr and "--force" in result.stderr
    assert (registry.snapshot(), cfg.read_text()) == before
    assert not (tmp_path / "other").exists()

    registry.ok("init", "--remote", str(tmp_path / "x" / ".." / "other"), "--force")
    assert dvc.working_remote(registry.root) == ("storage", str(tmp_path / "other"))
    assert git(registry.root, "status", "--porcelain", ".dvc/config").stdout == ""  # committed


def test_init_remote_refuses_a_url(registry: Registry) -> None:
    registry.fails(2, "init", "--remote", "s3://bucket/models")
    assert not (registry.root / "s3:").exists()
