"""Rolling a host back without origin, and `status` showing the drift it leaves."""

from __future__ import annotations

import json
import shutil

import pytest
from plugin.host import FollowServer, Host, deploy_json, git

from gitmodel.errors import PolicyError, UnknownVersion
from gitmodel.host import rollback_local
from gitmodel.host.status import status


def served(host: Host, follow: FollowServer, *versions: str) -> None:
    for version in versions:
        host.promote(version)
        deploy_json(host, *follow.flags())


def local(host: Host, follow: FollowServer, to: str | None = None):  # type: ignore[no-untyped-def]
    return rollback_local(
        host.clone,
        "production",
        "support",
        host.root,
        to=to,
        reload_url=f"{follow.url}/reload",
        info_url=f"{follow.url}/info",
    )


def test_local_rollback_when_origin_is_gone(host: Host, follow: FollowServer) -> None:
    served(host, follow, "v1.0.0", "v1.1.0")
    shutil.move(host.origin, host.origin.with_name("gone.git"))
    done = local(host, follow)
    assert (str(done.version), str(done.previous), done.op, done.mode) == (
        "v1.0.0",
        "v1.1.0",
        "rollback-local",
        "hot",
    )
    assert "the production pointer was not moved: it names v1.1.0" in done.note
    assert follow.version == "v1.0.0"
    assert host.journal()[-1]["op"] == "rollback-local"
    data = json.loads(
        host.ok(
            "status", "production", "--root", str(host.root), "--json", "--info-url", f"{follow.url}/info"
        ).stdout
    )
    row = data["models"][0]
    assert data["origin"].startswith("unreachable")
    assert (row["pointer"], row["current"], row["serving"]) == ("v1.1.0", "v1.0.0", "v1.0.0")
    assert not row["in_sync"] and "rolled back locally" in row["drift"][0]
    text = host.ok(
        "status", "production", "--root", str(host.root), "--info-url", f"{follow.url}/info"
    ).stdout
    assert "DRIFT" in text and "rolled back locally" in text and "origin: unreachable" in text


def test_local_rollbacks_walk_back_through_history(host: Host, follow: FollowServer) -> None:
    served(host, follow, "v1.0.0", "v1.1.0", "v2.0.0")
    assert str(local(host, follow).version) == "v1.1.0"
    assert str(local(host, follow).version) == "v1.0.0"
    with pytest.raises(PolicyError, match=r"no earlier support version than v1\.0\.0"):
        local(host, follow)
    assert host.current() == "v1.0.0"


def test_local_rollback_does_not_return_to_a_rolled_back_version(host: Host, follow: FollowServer) -> None:
    served(host, follow, "v1.0.0", "v1.1.0", "v2.0.0")
    host.ok("rollback", "production", "support", "--push", cwd=host.dev)  # pointer: v1.1.0
    deploy_json(host, *follow.flags())
    assert str(local(host, follow).version) == "v1.0.0"  # not v2.0.0, which was rolled back from


def test_local_rollback_to_a_version_not_on_disk_fetches_it(host: Host, follow: FollowServer) -> None:
    host.promote("v1.0.0")  # production served it before; this host never did (policy: a return)
    served(host, follow, "v2.0.0")
    done = local(host, follow, to="v1.0.0")
    assert (str(done.version), done.mode, done.downloaded) == ("v1.0.0", "hardlink", 1)
    assert host.assert_current_valid() == "v1.0.0"
    with pytest.raises(UnknownVersion):
        local(host, follow, to="v9.9.9")
    with pytest.raises(PolicyError, match="already serves"):
        local(host, follow, to="v1.0.0")


def test_nothing_to_roll_back(host: Host, follow: FollowServer) -> None:
    host.promote("v1.0.0")
    with pytest.raises(PolicyError, match="than nothing"):
        local(host, follow)


def test_status_in_sync_and_after_a_pointer_move(host: Host, follow: FollowServer) -> None:
    served(host, follow, "v1.0.0")
    data = status(host.clone, "production", host.root, info_url=f"{follow.url}/info").to_json()
    assert data["in_sync"] and data["origin"] == "fetched"
    assert data["models"][0]["hot"] == ["v1.0.0"]
    host.promote("v1.1.0")
    data = status(host.clone, "production", host.root, info_url=f"{follow.url}/info").to_json()
    row = data["models"][0]
    assert (row["pointer"], row["current"], row["in_sync"]) == ("v1.1.0", "v1.0.0", False)
    assert "run `gitmodel deploy production support`" in row["drift"][0]
    follow.stop()
    row = status(host.clone, "production", host.root, info_url=f"{follow.url}/info").to_json()["models"][0]
    assert any("does not answer" in note for note in row["drift"])


def test_cli_rollback_on_a_host_moves_pointer_and_serves(host: Host, follow: FollowServer) -> None:
    """`gitmodel rollback ENV --root DIR`: pushed pointer move + hot swap, no remote check."""
    served(host, follow, "v1.0.0", "v1.1.0")
    out = host.ok(
        "rollback",
        "production",
        "support",
        "--root",
        str(host.root),
        "--reason",
        "refund answers",
        *follow.flags(),
    ).stdout
    assert "rollback: support production -> v1.0.0 (was v1.1.0)" in out
    assert "bytes already on this host: DVC remote not checked" in out
    assert follow.version == "v1.0.0"
    assert host.current() == "v1.0.0"
    origin_tags = git(host.origin, "tag").split()
    assert any(t.startswith("support#production#") for t in origin_tags)
    hist = json.loads(host.ok("history", "support", "--json").stdout)["events"][-1]
    assert (hist["action"], hist["version"], hist["reason"]) == ("rollback", "v1.0.0", "refund answers")


def test_cli_rollback_local_when_origin_is_gone(host: Host, follow: FollowServer) -> None:
    served(host, follow, "v1.0.0", "v1.1.0")
    shutil.move(host.origin, host.origin.with_name("gone.git"))
    result = host.fails(4, "rollback", "production", "support", "--root", str(host.root), *follow.flags())
    assert "--local --root" in result.stderr
    assert host.current() == "v1.1.0"
    data = json.loads(
        host.ok(
            "rollback",
            "production",
            "support",
            "--local",
            "--root",
            str(host.root),
            "--json",
            *follow.flags(),
        ).stdout
    )
    assert (data["version"], data["pointer_moved"], data["op"]) == ("v1.0.0", False, "rollback-local")
    assert follow.version == "v1.0.0"
    assert "--root" in host.fails(2, "rollback", "production", "--local").stderr


def test_rollback_skips_a_version_whose_deploy_failed_on_this_host(host: Host, follow: FollowServer) -> None:
    """v1.1.0 was promoted but this host refused it (reload failed): it never served here,
    so after v2.0.0 the previous good version is v1.0.0, not the v1.1.0 the tags suggest."""
    served(host, follow, "v1.0.0")
    host.promote("v1.1.0")
    broken = FollowServer(host.root, mode="broken")
    try:
        host.fails(1, "deploy", "production", "--root", str(host.root), *broken.flags())
    finally:
        broken.stop()
    assert host.current() == "v1.0.0" and host.journal()[-1]["step"] == "failed"
    served(host, follow, "v2.0.0")
    out = host.ok(
        "rollback", "production", "support", "--root", str(host.root), "--reason", "bad", *follow.flags()
    ).stdout
    assert "rollback: support production -> v1.0.0 (was v2.0.0)" in out
    assert follow.version == "v1.0.0" and host.current() == "v1.0.0"
