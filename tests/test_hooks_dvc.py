"""The `dvc-remote` rule: on by default in pre-push, opt-in on the server; and quarantine."""

from __future__ import annotations

from pathlib import Path

import pytest
from plugin import forkrun
from plugin.hooks import refused
from plugin.registry import Registry, git, random_bytes, refs

ORIGIN = "origin.git"


def _register(registry: Registry, seed: int = 1) -> str:
    registry.write("m.gguf", random_bytes(2000, seed))
    registry.ok("register", "support", "m.gguf", "--meta", str(registry.meta()))
    return "support@v1.0.0"


def _dvc_push(root: Path) -> None:
    proc = forkrun.run("dvc", ["push", "-q"], root, timeout=300)  # DVC imported once per worker
    assert proc.returncode == 0, proc.stderr


def test_client_refuses_a_version_whose_bytes_are_not_on_the_remote(registry: Registry) -> None:
    tag = _register(registry)
    origin = registry.root.parent / ORIGIN
    proc = git(registry.root, "push", "origin", "main", tag, check=False)
    err = refused(proc, tag, "dvc-remote")
    assert "dvc push" in err
    assert refs(origin) == []  # the whole push was refused, the branch too
    _dvc_push(registry.root)
    proc = git(registry.root, "push", "origin", "main", tag, check=False)
    assert proc.returncode == 0, proc.stderr
    assert any(tag in r for r in refs(origin))


def test_client_check_can_be_turned_off(registry: Registry) -> None:
    cfg = registry.root / "gitmodel.yaml"
    cfg.write_text(cfg.read_text() + "hooks:\n  dvc_remote_check: false\n")
    git(registry.root, "commit", "-q", "-am", "no dvc check")
    tag = _register(registry)
    proc = git(registry.root, "push", "origin", "main", tag, check=False)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_server_check_is_off_by_default_and_opt_in(registry: Registry) -> None:
    origin = registry.root.parent / ORIGIN
    tag = _register(registry)
    registry.ok("hooks", "install", "--server", "--path", str(origin))
    # Off: the server accepts what it cannot verify (the client's check was bypassed).
    assert git(registry.root, "push", "--no-verify", "origin", "main", tag, check=False).returncode == 0
    err = registry.fails(2, "hooks", "install", "--server", "--path", str(origin), "--dvc-check").stderr
    assert "--dvc-check needs --dvc-remote URL" in err
    out = registry.ok(
        "hooks",
        "install",
        "--server",
        "--path",
        str(origin),
        "--dvc-check",
        "--dvc-remote",
        str(registry.remote),
    ).stdout
    assert "DVC remote check on the server: on" in out
    assert git(origin, "config", "gitmodel.dvcRemoteCheck").stdout.strip() == "true"
    assert git(origin, "config", "gitmodel.dvcRemoteUrl").stdout.strip() == str(registry.remote)
    registry.write("n.gguf", random_bytes(2000, 2))
    registry.ok("register", "support", "n.gguf", "-m", "new bytes")
    before = refs(origin)
    proc = git(registry.root, "push", "--no-verify", "origin", "main", "support@v1.1.0", check=False)
    err = refused(proc, "support@v1.1.0", "dvc-remote")
    assert "remote:" in err  # it came from origin's hook
    assert refs(origin) == before
    _dvc_push(registry.root)
    proc = git(registry.root, "push", "--no-verify", "origin", "main", "support@v1.1.0", check=False)
    assert proc.returncode == 0, proc.stderr
    registry.ok("hooks", "install", "--server", "--path", str(origin), "--no-dvc-check")
    assert git(origin, "config", "gitmodel.dvcRemoteCheck", check=False).returncode != 0


@pytest.mark.slow
def test_server_checks_its_own_remote_never_the_pushed_one(registry: Registry, tmp_path: Path) -> None:
    """A pusher points .dvc/config at a remote of their own that holds the bytes: the server
    still asks the remote it was configured with, which does not, and refuses."""
    origin = registry.root.parent / ORIGIN
    _register(registry)
    _dvc_push(registry.root)
    git(registry.root, "push", "-q", "origin", "main", "support@v1.0.0")
    server_remote = tmp_path / "server-remote"
    server_remote.mkdir()
    registry.ok(
        "hooks",
        "install",
        "--server",
        "--path",
        str(origin),
        "--dvc-check",
        "--dvc-remote",
        str(server_remote),
    )
    registry.write("n.gguf", random_bytes(2000, 2))
    registry.ok("register", "support", "n.gguf", "-m", "new bytes")
    _dvc_push(registry.root)  # the bytes are on the pusher's remote, named by the pushed .dvc/config
    before = refs(origin)
    proc = git(registry.root, "push", "--no-verify", "origin", "main", "support@v1.1.0", check=False)
    refused(proc, "support@v1.1.0", "dvc-remote")
    assert refs(origin) == before
    assert list(server_remote.iterdir()) == []  # nothing was written to the server's remote either


def test_server_reads_the_pushed_objects_from_quarantine(registry: Registry, tmp_path: Path) -> None:
    """pre-receive runs before the objects are in the repository: git keeps them in a
    quarantine directory and tells the hook's git commands where it is."""
    origin = registry.root.parent / ORIGIN
    registry.ok("hooks", "install", "--server", "--path", str(origin))
    seen = tmp_path / "seen"
    chained = origin / "hooks" / "pre-receive.gitmodel-chained"
    chained.write_text(f'#!/bin/sh\necho "$GIT_QUARANTINE_PATH" > {seen}\ncat >> {seen}\n')
    chained.chmod(0o755)
    tag = _register(registry)
    commit = git(registry.root, "rev-parse", f"{tag}^{{commit}}").stdout.strip()
    proc = git(registry.root, "push", "--no-verify", "origin", "main", tag, check=False)
    assert proc.returncode == 0, proc.stderr
    quarantine, *lines = seen.read_text().splitlines()
    assert "tmp_objdir-incoming" in quarantine  # the hooks really ran in quarantine
    assert any(line.endswith(f"refs/tags/{tag}") for line in lines)  # and got the same stdin
    assert git(origin, "cat-file", "-t", commit).stdout.strip() == "commit"  # accepted, kept
    # A refusal that depends on the new commit's contents: only readable in quarantine.
    meta = registry.root / "models/support/model.yaml"
    meta.write_text(
        meta.read_text()
        .replace("version: v1.0.0", "version: v1.1.0")
        .replace("accuracy: 0.942", "accuracy: high")
    )
    git(registry.root, "commit", "-q", "--no-verify", "-am", "bad")
    git(registry.root, "tag", "-a", "-m", "x", "support@v1.1.0")
    bad = git(registry.root, "rev-parse", "HEAD").stdout.strip()
    proc = git(registry.root, "push", "--no-verify", "origin", "main", "support@v1.1.0", check=False)
    assert "metrics.accuracy" in refused(proc, "support@v1.1.0", "schema")
    assert git(origin, "cat-file", "-e", bad, check=False).returncode != 0  # quarantine dropped


@pytest.mark.parametrize("check", ["on", "off"])
def test_unreachable_dvc_remote_is_a_refusal_when_checked(registry: Registry, check: str) -> None:
    tag = _register(registry)
    dvc_config = registry.root / ".dvc/config"
    text = dvc_config.read_text()
    dvc_config.write_text(text.replace(str(registry.remote), "/nonexistent/remote"))
    assert dvc_config.read_text() != text
    git(registry.root, "commit", "-q", "--no-verify", "-am", "broken remote")
    if check == "off":
        cfg = registry.root / "gitmodel.yaml"
        cfg.write_text(cfg.read_text() + "hooks:\n  dvc_remote_check: false\n")
    proc = git(registry.root, "push", "origin", tag, check=False)
    if check == "off":
        assert proc.returncode == 0, proc.stderr
    else:
        refused(proc, tag, "dvc-remote")


def test_server_version_check_without_dvc_check_imports_no_dvc(registry: Registry) -> None:
    import subprocess
    import sys

    from gitmodel.git import ZERO

    origin = registry.root.parent / ORIGIN
    tag = _register(registry)
    git(registry.root, "push", "-q", "--no-verify", "origin", "main", tag)
    tag_id = git(origin, "rev-parse", f"refs/tags/{tag}").stdout.strip()
    git(origin, "update-ref", "-d", f"refs/tags/{tag}")  # the objects stay; the hook judges anew
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gitmodel", "hook", "pre-receive"],
        cwd=origin,
        input=f"{ZERO} {tag_id} refs/tags/{tag}\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "gitmodel.policy.versions" in imported and "jsonschema" in imported  # it did check
    assert sorted(m for m in imported if m.split(".")[0] == "dvc" or m == "gitmodel.dvc") == []
