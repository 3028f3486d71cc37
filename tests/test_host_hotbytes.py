"""Hot versions hold their own bytes: the DVC cache cannot reach them; --verify re-hashes.

Real git, real DVC (local-path remote), a real HTTP server confirming each reload.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from plugin.host import FollowServer, Host, cache_path, md5_of, object_path

from gitmodel import hostlayout


def artifact(host: Host, version: str) -> Path:
    return hostlayout.versions_dir(host.root, "support") / version / "support.gguf"


def flip_byte(path: Path, offset: int = 4096) -> None:
    """What bit rot or a stray writer does to a read-only file."""
    folder = path.parent
    os.chmod(folder, 0o755)
    os.chmod(path, 0o644)
    with path.open("r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0x01]))
    os.chmod(path, 0o444)
    os.chmod(folder, 0o555)


def deployed(host: Host, follow: FollowServer, *extra: str) -> dict[str, object]:
    args = ["deploy", "production", "support", "--root", str(host.root), "--json", *follow.flags(), *extra]
    return json.loads(host.ok(*args).stdout)["deployed"][0]  # type: ignore[no-any-return]


def status(host: Host, *extra: str) -> dict[str, object]:
    args = ["status", "production", "support", "--root", str(host.root), "--json", *extra]
    return json.loads(host.ok(*args).stdout)["models"][0]  # type: ignore[no-any-return]


def two_hot(host: Host, follow: FollowServer) -> None:
    for version in ("v1.0.0", "v1.1.0"):
        host.promote(version)
        deployed(host, follow)


def test_bytes_written_into_the_cache_never_reach_a_hot_version(host: Host, follow: FollowServer) -> None:
    two_hot(host, follow)
    spare = artifact(host, "v1.0.0")
    assert spare.stat().st_nlink == 1  # its own inode: the cache's name was dropped
    # Whatever lands in the cache under that object's name later (a flipped copy, DVC's
    # own re-download) is another inode.
    cached = cache_path(host, md5_of(host, "v1.0.0"))
    cached.parent.mkdir(parents=True, exist_ok=True)
    good = object_path(host.world.remote, md5_of(host, "v1.0.0")).read_bytes()
    cached.write_bytes(good[:100] + bytes([good[100] ^ 1]) + good[101:])
    host.ok("rollback", "production", "support", "--push", "--reason", "regressed", cwd=host.dev)
    done = deployed(host, follow)
    assert (done["version"], done["mode"], done["downloaded"]) == ("v1.0.0", "hot", 0)
    assert host.assert_current_valid() == "v1.0.0" and follow.version == "v1.0.0"


@pytest.mark.slow
def test_status_verify_finds_a_flipped_spare_and_deploy_verify_replaces_it(
    host: Host, follow: FollowServer
) -> None:
    two_hot(host, follow)
    flip_byte(artifact(host, "v1.0.0"))
    assert status(host)["in_sync"] is True  # without --verify nothing is hashed
    row = status(host, "--verify")
    assert row["verified"] == {"v1.0.0": ["support.gguf"], "v1.1.0": []}
    assert row["in_sync"] is False
    assert any("v1.0.0: support.gguf does not match its sha256" in d for d in row["drift"])
    done = deployed(host, follow, "--verify")
    assert done["rehashed"] == {"v1.0.0": ["support.gguf"], "v1.1.0": []}
    assert done["action"] == "unchanged" and follow.version == "v1.1.0"
    assert status(host, "--verify")["verified"] == {"v1.0.0": [], "v1.1.0": []}
    host.ok("rollback", "production", "support", "--push", "--reason", "regressed", cwd=host.dev)
    assert deployed(host, follow)["mode"] == "hot"
    assert host.assert_current_valid() == "v1.0.0"
    steps = [r["step"] for r in host.journal()]
    assert "rehashed" in steps and "repaired" in steps


@pytest.mark.slow
def test_deploy_verify_replaces_a_flipped_current_in_place_and_reloads(
    host: Host, follow: FollowServer
) -> None:
    two_hot(host, follow)
    served = artifact(host, "v1.1.0")
    flip_byte(served)
    reloads = follow.reloads
    out = host.ok(
        "deploy", "production", "support", "--root", str(host.root), "--verify", *follow.flags()
    ).stdout
    assert "rehashed  2 hot version(s): v1.1.0: support.gguf replaced" in out
    assert follow.reloads == reloads + 1  # the server may hold the bad bytes: reloaded
    assert host.assert_current_valid() == "v1.1.0"
    assert served.stat().st_mode & 0o222 == 0 and served.parent.stat().st_mode & 0o222 == 0


@pytest.mark.slow
def test_verify_refuses_bytes_it_cannot_get_again_and_keeps_serving(host: Host, follow: FollowServer) -> None:
    remote = host.private_remote()
    two_hot(host, follow)
    object_path(remote, md5_of(host, "v1.0.0")).unlink()
    flip_byte(artifact(host, "v1.0.0"))
    host.ok("rollback", "production", "support", "--push", "--reason", "regressed", cwd=host.dev)
    err = host.fails(
        1, "deploy", "production", "support", "--root", str(host.root), "--verify", *follow.flags()
    ).stderr
    assert "the DVC remote lacks 1 object(s) of support v1.0.0" in err
    assert host.current() == "v1.1.0" and follow.version == "v1.1.0"
    assert host.assert_current_valid() == "v1.1.0"
