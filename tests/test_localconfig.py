"""Nothing executable comes from the repo: the host file, `gitmodel host init`, and the attacks.

A pusher controls gitmodel.yaml; commands and URLs a host or promoter uses come from
the host file (GITMODEL_HOST_CONFIG here, /etc/gitmodel/host.yaml by default) or the
user file ($XDG_CONFIG_HOME/gitmodel/config.yaml).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from plugin.host import FollowServer, Host, git

from gitmodel import localconfig


def host_file() -> Path:
    return Path(os.environ[localconfig.HOST_ENV])


def push_config(host: Host, old: str, new: str) -> None:
    """An attacker with push access changes gitmodel.yaml on main, past every client hook."""
    cfg = host.dev / "gitmodel.yaml"
    text = cfg.read_text()
    cfg.write_text(text.replace(old, new, 1) if old else text + new)
    git(host.dev, "commit", "-q", "--no-verify", "-am", "ops: faster reloads")
    git(host.dev, "push", "-q", "--no-verify", "origin", "main")
    git(host.clone, "pull", "-q", "--ff-only")


def test_host_init_writes_the_file_and_refuses_to_overwrite(host: Host) -> None:
    args = ["host", "init", "--root", str(host.root), "--env", "production", "--info-url", "http://h:1/info"]
    out = host.ok(*args, "--reload-cmd", "systemctl reload llama-server").stdout
    assert out.splitlines()[0] == f"wrote {host_file()}"
    written = localconfig.host_file()
    assert (written.root, written.env) == (host.root, "production")
    assert written.defaults.reload_cmd == "systemctl reload llama-server"
    before = host_file().read_text()
    err = host.fails(2, *args).stderr
    assert err == f"gitmodel: error: {host_file()} already exists; pass --force to replace it, or edit it\n"
    assert host_file().read_text() == before
    host.ok(*args, "--force", "--command", "restart=systemctl restart llama-server")
    assert localconfig.host_file().commands == {"restart": "systemctl restart llama-server"}
    assert localconfig.host_file().defaults.reload_cmd is None
    # Nothing invalid is ever written.
    host.fails(2, "host", "init", "--root", str(host.root), "--info-url", "ftp://x", "--force")
    assert "ftp://x" not in host_file().read_text()


@pytest.mark.slow
def test_a_configured_host_needs_no_flags(host: Host, follow: FollowServer) -> None:
    host.ok(
        "host",
        "init",
        "--root",
        str(host.root),
        "--env",
        "production",
        *follow.flags(),
    )
    host.promote("v1.0.0")
    host.promote("v1.1.0")
    out = host.ok("deploy", "production").stdout
    assert out.startswith(f"deployed support v1.1.0 to {host.root} (production")
    assert f"{follow.url}/info reports v1.1.0" in out
    assert host.current() == "v1.1.0"
    out = host.ok("rollback", "production", "support", "--root").stdout
    assert out.startswith("rollback: support production -> v1.0.0 (was v1.1.0)")
    assert f"deployed support v1.0.0 to {host.root} (production, was v1.1.0)" in out
    assert host.current() == "v1.0.0" and follow.version == "v1.0.0"
    assert "in sync" in host.ok("status", "production").stdout
    # The host file says this root follows production: staging is not converged into it.
    err = host.fails(2, "deploy", "staging").stderr
    assert f"{host.root} follows production ({host_file()})" in err


def test_without_a_host_file_deploy_asks_for_a_root(host: Host) -> None:
    err = host.fails(2, "deploy", "production").stderr
    assert f"give --root DIR, or set this host's root in {host_file()}" in err


RAW = [
    (
        "host:\n",
        "host:\n  models:\n    support: {reload: {command: 'touch PWNED'}}\n",
        "gitmodel.yaml: host.models.support.reload.command is a command line ('touch ",
    ),
    ("", "smoke: {command: 'touch PWNED'}\n", "gitmodel.yaml: smoke.command is a command line ('touch "),
    (
        "gate:\n",
        "gate:\n  smoke_test: {command: 'touch PWNED'}\n",
        "gitmodel.yaml: gate.smoke_test carries a command line",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("old", "new", "words"), RAW)
def test_a_pushed_command_is_never_run(
    host: Host, follow: FollowServer, tmp_path: Path, fs_guard: Any, old: str, new: str, words: str
) -> None:
    pwned = tmp_path / "pwned"
    host.promote("v1.0.0")
    host.ok("deploy", "production", "support", "--root", str(host.root), *follow.flags())
    push_config(host, old, new.replace("PWNED", str(pwned)))
    guard = fs_guard(tmp_path)
    for cwd, args in [
        (host.clone, ["deploy", "production", "support", "--root", str(host.root), "--no-fetch"]),
        (host.clone, ["rollback", "production", "support", "--root", str(host.root), "--local"]),
        (host.dev, ["promote", "support", "v1.1.0", "staging"]),
        (host.dev, ["gate", "support", "v1.1.0", "staging"]),
    ]:
        err = host.fails(1, *args, cwd=cwd).stderr
        assert words in err and "nothing executable comes from the repo" in err, err
    assert not pwned.exists()
    guard.assert_unchanged()
    assert host.current() == "v1.0.0"


@pytest.mark.slow
def test_a_pushed_key_runs_only_what_the_host_file_defines(host: Host, tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    push_config(host, "  hot_versions: 3\n", "  hot_versions: 3\n  reload: {command: restart-llama}\n")
    host.promote("v1.0.0")
    deploy = ["deploy", "production", "support", "--root", str(host.root)]
    err = host.fails(2, *deploy).stderr
    assert err == (
        "gitmodel: error: gitmodel.yaml: host.reload.command names the command 'restart-llama', which no "
        f"local configuration defines; add `commands: {{restart-llama: COMMAND}}` to {host_file()}\n"
    )
    assert host.current() is None and not ran.exists()
    host.ok("host", "init", "--root", str(host.root), "--command", f"restart-llama=touch {ran}")
    host.ok(*deploy)
    assert ran.exists() and host.current() == "v1.0.0"


def test_the_host_files_trust_file_is_the_hosts_default(tmp_path: Path) -> None:
    from gitmodel.host.trust import host_trust
    from gitmodel.trust import TrustFileError

    missing = tmp_path / "trust.yaml"
    localconfig.init_host(host_file(), root=tmp_path / "models")
    assert localconfig.host_file().trust_file is None
    host_file().write_text(host_file().read_text() + f"trust_file: {missing}\n")
    assert localconfig.host_file().trust_file == missing
    with pytest.raises(TrustFileError) as info:
        host_trust()  # configured but unusable: every deploy is refused, never trusted blindly
    assert str(missing) in str(info.value)
