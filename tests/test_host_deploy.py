"""deploy: real git clones, real DVC cache and remotes, a real HTTP server to confirm."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from plugin.host import (
    FollowServer,
    Host,
    cache_path,
    dead_url,
    deploy_json,
    git,
    md5_of,
    object_path,
    staging_empty,
)

from gitmodel import hostlayout

MOUNT_SKIP = "needs root and `mount -t tmpfs` (a small filesystem made by the test)"


def test_first_deploy_materialises_verifies_and_swaps(host: Host, follow: FollowServer) -> None:
    host.promote("v1.0.0")
    out = host.ok("deploy", "production", "support", "--root", str(host.root), *follow.flags()).stdout
    assert "deployed support v1.0.0" in out and "sha256 verified" in out
    assert f"{follow.url}/info reports v1.0.0" in out
    assert host.current() == "v1.0.0"
    assert host.assert_current_valid() == "v1.0.0"
    assert follow.version == "v1.0.0"
    vdir = hostlayout.versions_dir(host.root, "support") / "v1.0.0"
    assert os.readlink(hostlayout.current_link(host.root, "support")) == "versions/v1.0.0"
    assert (vdir / "support.gguf").stat().st_mode & 0o222 == 0
    # hard-linked from the host's DVC cache (no copy), then the cache's name dropped: its own inode
    assert (vdir / "support.gguf").stat().st_nlink == 1
    assert not cache_path(host, md5_of(host, "v1.0.0")).exists()
    manifest = hostlayout.read_manifest(vdir)
    assert manifest["model"] == "support" and manifest["quantization"] == "q4_k_m"
    assert manifest["base_model"] == "llama-3-8b-instruct"
    steps = [r["step"] for r in host.journal()]
    assert steps == ["start", "fetched", "verified", "materialised", "swapped", "reloaded", "done"]
    assert staging_empty(host)


def test_deploying_again_is_a_no_op(host: Host, follow: FollowServer) -> None:
    host.promote("v1.0.0")
    first = deploy_json(host, *follow.flags())
    assert first["action"] == "deployed" and first["downloaded"] == 1
    lines = len(host.journal())
    again = deploy_json(host, *follow.flags())
    assert again["action"] == "unchanged" and again["downloaded"] == 0
    assert len(host.journal()) == lines
    assert follow.reloads == 1


def test_pointer_moves_keep_k_hot_versions(host: Host, follow: FollowServer) -> None:
    for version in ("v1.0.0", "v1.1.0", "v2.0.0", "v2.1.0"):
        host.promote(version)
        done = deploy_json(host, *follow.flags())
        assert done["version"] == version and follow.version == version
    assert done["retired"] == ["v1.0.0"]
    assert sorted(p.name for p in hostlayout.versions_dir(host.root, "support").iterdir()) == [
        "v1.1.0",
        "v2.0.0",
        "v2.1.0",
    ]
    # removed from the host only: the remote and the registry keep it
    assert object_path(host.world.remote, md5_of(host, "v1.0.0")).is_file()
    assert "support@v1.0.0" in git(host.clone, "tag")
    assert staging_empty(host)


def test_hot_versions_from_gitmodel_yaml(host: Host, follow: FollowServer) -> None:
    config = host.clone / "gitmodel.yaml"
    config.write_text(config.read_text().replace("hot_versions: 3", "hot_versions: 1"))
    host.promote("v1.0.0")
    deploy_json(host, *follow.flags())
    host.promote("v1.1.0")
    done = deploy_json(host, *follow.flags())
    assert done["retired"] == ["v1.0.0"]
    assert [p.name for p in hostlayout.versions_dir(host.root, "support").iterdir()] == ["v1.1.0"]


def test_rollback_to_a_hot_version_downloads_nothing(host: Host, follow: FollowServer) -> None:
    host.promote("v1.0.0")
    deploy_json(host, *follow.flags())
    host.promote("v1.1.0")
    deploy_json(host, *follow.flags())
    host.ok("rollback", "production", "support", "--push", "--reason", "bad answers", cwd=host.dev)
    done = deploy_json(host, *follow.flags())
    assert (done["version"], done["previous"], done["mode"], done["downloaded"]) == (
        "v1.0.0",
        "v1.1.0",
        "hot",
        0,
    )
    assert done["op"] == "rollback"
    assert follow.version == "v1.0.0"
    assert host.journal()[-1]["op"] == "rollback"


def test_folder_artifact_of_a_namespaced_model(host: Host) -> None:
    host.promote("v1.0.0", model="acme/adapter")
    out = host.ok("deploy", "production", "acme/adapter", "--root", str(host.root)).stdout
    assert "deployed acme:adapter v1.0.0" in out
    vdir = host.root / "acme=adapter" / "versions" / "v1.0.0"
    assert (vdir / "adapter" / "weights" / "adapter.safetensors").is_file()
    assert json.loads((vdir / "adapter" / "adapter_config.json").read_text())["seed"] == 11
    assert host.assert_current_valid("acme:adapter") == "v1.0.0"
    assert (vdir / "adapter" / "weights").stat().st_mode & 0o222 == 0


def test_deploy_without_a_name_deploys_every_model_in_env(host: Host) -> None:
    host.promote("v1.0.0")
    host.promote("v1.1.0", model="acme/adapter")
    out = host.ok("deploy", "production", "--root", str(host.root)).stdout
    assert "deployed acme:adapter v1.1.0" in out and "deployed support v1.0.0" in out


def test_one_model_failing_does_not_stop_the_others(host: Host) -> None:
    from filelock import FileLock

    host.promote("v1.0.0")
    host.promote("v1.1.0", model="acme/adapter")
    (host.root / "support").mkdir(parents=True)
    with FileLock(str(host.root / "support" / ".deploy.lock")):
        result = host.run("deploy", "production", "--root", str(host.root), "--json", "--lock-timeout", "0.3")
    assert result.exit_code == 3, (result.stdout, result.stderr)
    data = json.loads(result.stdout)
    assert [(d["model"], d["version"]) for d in data["deployed"]] == [("acme:adapter", "v1.1.0")]
    [failed] = data["failed"]
    assert (failed["model"], failed["exit_code"]) == ("support", 3)
    assert "another deploy of support holds" in failed["error"]
    assert result.stderr == f"gitmodel: error: {failed['error']}\n"
    assert host.current() is None and host.current("acme:adapter") == "v1.1.0"


def test_reload_command_gets_the_version_and_paths(host: Host, follow: FollowServer) -> None:
    host.promote("v1.0.0")
    seen = host.root.parent / "seen.json"
    script = (
        f"import json, os, urllib.request; json.dump({{k: v for k, v in os.environ.items() "
        f"if k.startswith('GITMODEL_')}}, open({str(seen)!r}, 'w')); "
        f"urllib.request.urlopen(urllib.request.Request({follow.url + '/reload'!r}, method='POST'))"
    )
    cmd = f'{sys.executable} -c "{script}"'
    host.ok(
        "deploy",
        "production",
        "support",
        "--root",
        str(host.root),
        "--reload-cmd",
        cmd,
        "--info-url",
        f"{follow.url}/info",
    )
    env = json.loads(seen.read_text())
    assert env["GITMODEL_VERSION"] == "v1.0.0" and env["GITMODEL_MODEL"] == "support"
    assert env["GITMODEL_ENV"] == "production"
    assert Path(env["GITMODEL_CURRENT"]).resolve() == Path(env["GITMODEL_VERSION_DIR"]).resolve()
    assert follow.version == "v1.0.0"


def _deployed_then_bad(host: Host, follow: FollowServer, mode: str) -> None:
    host.promote("v1.0.0")
    deploy_json(host, *follow.flags())
    host.promote("v1.1.0")
    follow.mode = mode


def test_server_that_keeps_the_old_version_is_reverted(host: Host, follow: FollowServer) -> None:
    _deployed_then_bad(host, follow, "stuck")
    err = host.fails(
        1,
        "deploy",
        "production",
        "support",
        "--root",
        str(host.root),
        *follow.flags(),
        "--health-timeout",
        "0.5",
    ).stderr
    assert "still reports 'v1.0.0'" in err and "expected v1.1.0" in err
    assert "reverted `current` to v1.0.0" in err
    assert host.current() == "v1.0.0" and host.assert_current_valid() == "v1.0.0"
    steps = [r["step"] for r in host.journal()][-4:]
    assert steps == ["reloaded", "check-failed", "reverted", "failed"]
    # v1.1.0 stays built: fixing the server and deploying again needs no download
    follow.mode = "ok"
    assert deploy_json(host, *follow.flags())["mode"] == "hot"
    assert follow.version == "v1.1.0"


def test_info_endpoint_that_never_answers_exits_4(host: Host, follow: FollowServer) -> None:
    _deployed_then_bad(host, follow, "ok")
    err = host.fails(
        4,
        "deploy",
        "production",
        "support",
        "--root",
        str(host.root),
        "--reload-url",
        f"{follow.url}/reload",
        "--info-url",
        dead_url(),
        "--health-timeout",
        "0.5",
    ).stderr
    assert "did not answer within 0.5 s" in err and "reverted `current` to v1.0.0" in err
    assert host.current() == "v1.0.0"
    assert follow.version == "v1.0.0"  # reloaded again after the swap back


def test_failing_reload_command_is_reverted(host: Host, follow: FollowServer) -> None:
    _deployed_then_bad(host, follow, "ok")
    err = host.fails(
        1,
        "deploy",
        "production",
        "support",
        "--root",
        str(host.root),
        "--reload-cmd",
        "echo model server is down >&2; exit 3",
        "--info-url",
        f"{follow.url}/info",
    ).stderr
    assert "exited 3 (model server is down)" in err
    assert "reload failed too" in err  # the same command runs again after the swap back
    assert host.current() == "v1.0.0"


def test_reload_url_answering_500(host: Host, follow: FollowServer) -> None:
    _deployed_then_bad(host, follow, "broken")
    err = host.fails(1, *_deploy_args(host), *follow.flags()).stderr
    assert "answered HTTP 500" in err
    assert host.current() == "v1.0.0"


def test_first_deploy_that_fails_leaves_no_current(host: Host, follow: FollowServer) -> None:
    host.promote("v1.0.0")
    follow.mode = "stuck"
    err = host.fails(1, *_deploy_args(host), *follow.flags(), "--health-timeout", "0.3").stderr
    assert "removed `current` (nothing was served before)" in err
    assert host.current() is None


def _deploy_args(host: Host, model: str = "support") -> list[str]:
    return ["deploy", "production", model, "--root", str(host.root)]


def test_unknown_model_unknown_env_and_no_pointer(host: Host) -> None:
    assert "unknown model 'nope'" in host.fails(2, *_deploy_args(host, "nope")).stderr
    assert (
        "unknown environment 'prod'"
        in host.fails(2, "deploy", "prod", "support", "--root", str(host.root)).stderr
    )
    err = host.fails(2, *_deploy_args(host)).stderr
    assert "production does not point at any version of support" in err
    assert not host.root.exists()  # nothing written for a refusal


def test_second_deploy_waits_then_exits_3(host: Host) -> None:
    from filelock import FileLock

    host.promote("v1.0.0")
    host.root.mkdir()
    mroot = host.root / "support"
    mroot.mkdir()
    with FileLock(str(mroot / ".deploy.lock")):
        err = host.fails(3, *_deploy_args(host), "--lock-timeout", "0.3").stderr
    assert "another deploy of support holds" in err and "waited 0.3 s" in err
    assert host.current() is None
    host.ok(*_deploy_args(host))  # the lock is free again


def test_concurrent_deploy_processes(host: Host) -> None:
    host.promote("v1.0.0")
    marker = host.root.parent / "paused"
    first = host.deploy_process(
        env_extra={"GITMODEL_TEST_PAUSE_AT": "fetched", "GITMODEL_TEST_PAUSE_MARKER": str(marker)}
    )
    try:
        from plugin.host import wait_until

        wait_until(marker.exists, timeout=30)
        err = host.fails(3, *_deploy_args(host), "--lock-timeout", "0").stderr
        assert "another deploy of support" in err
    finally:
        first.kill()
        first.wait(timeout=10)
    host.ok(*_deploy_args(host))
    assert host.assert_current_valid() == "v1.0.0"


def test_missing_bytes_on_the_remote_are_refused(host: Host, follow: FollowServer) -> None:
    remote = host.private_remote()
    host.promote("v1.0.0")
    deploy_json(host, *follow.flags())
    host.promote("v1.1.0")
    object_path(remote, md5_of(host, "v1.1.0")).unlink()
    err = host.fails(1, *_deploy_args(host), *follow.flags()).stderr
    assert "the DVC remote lacks 1 object(s) of support v1.1.0" in err
    assert host.current() == "v1.0.0" and follow.version == "v1.0.0"
    assert staging_empty(host)


def test_corrupted_object_is_refused_and_old_version_keeps_serving(host: Host, follow: FollowServer) -> None:
    remote = host.private_remote()
    host.promote("v1.0.0")
    deploy_json(host, *follow.flags())
    host.promote("v1.1.0")
    md5 = md5_of(host, "v1.1.0")
    obj = object_path(remote, md5)
    obj.chmod(0o644)
    data = bytearray(obj.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit in the middle of the weights
    obj.write_bytes(bytes(data))
    # Bit rot keeps the mode. (DVC itself re-hashes a local remote's object whose mode is
    # not 0444, and deletes it from the remote when it does not match.)
    obj.chmod(0o444)
    err = host.fails(1, *_deploy_args(host), *follow.flags()).stderr
    assert "refused support v1.1.0: support.gguf does not match its sha256" in err
    assert host.current() == "v1.0.0" and host.assert_current_valid() == "v1.0.0"
    assert follow.version == "v1.0.0" and follow.reloads == 1
    assert not cache_path(host, md5).exists()  # the bad bytes do not stay in the cache
    assert not (hostlayout.versions_dir(host.root, "support") / "v1.1.0").exists()
    assert staging_empty(host)
    assert host.journal()[-1]["step"] == "failed"


def test_torn_cache_object_is_fetched_again(host: Host) -> None:
    host.promote("v1.0.0")
    md5 = md5_of(host, "v1.0.0")
    cached = cache_path(host, md5)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"half a download")  # what a killed transfer could leave
    done = deploy_json(host)
    assert done["downloaded"] == 1
    assert host.assert_current_valid() == "v1.0.0"


def test_origin_unreachable(host: Host) -> None:
    host.promote("v1.0.0")
    host.ok(*_deploy_args(host))
    shutil.move(host.origin, host.origin.with_name("moved.git"))
    err = host.fails(4, *_deploy_args(host)).stderr
    assert "could not fetch from origin" in err and "--local" in err
    out = host.ok(*_deploy_args(host), "--no-fetch").stdout
    assert "already served" in out


@pytest.fixture
def tmpfs(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Mount small tmpfs filesystems under tmp_path; unmounted at the end."""
    import subprocess

    mounted: list[Path] = []

    def mount(name: str, size: str, *opts: str) -> Path:
        target = tmp_path / name
        target.mkdir()
        options = ",".join([f"size={size}", *opts])
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            pytest.skip(f"{MOUNT_SKIP}: {proc.stderr.strip()}")
        mounted.append(target)
        return target

    yield mount
    for target in reversed(mounted):
        subprocess.run(["umount", "-l", str(target)], check=False)


def test_root_on_another_filesystem_is_copied(host: Host, tmpfs) -> None:  # type: ignore[no-untyped-def]
    host.root = tmpfs("fs", "64m") / "root"
    host.promote("v1.0.0")
    done = deploy_json(host)
    assert done["mode"] == "copy"
    assert host.assert_current_valid() == "v1.0.0"


def test_full_disk_leaves_current_untouched(host: Host, follow: FollowServer, tmpfs) -> None:  # type: ignore[no-untyped-def]
    size = host.world.sizes["v1.0.0"]
    host.root = tmpfs("small", f"{int(size * 1.5)}") / "root"
    follow.root = host.root
    host.promote("v1.0.0")
    deploy_json(host, *follow.flags())
    host.promote("v1.1.0")
    err = host.fails(1, *_deploy_args(host), *follow.flags()).stderr
    assert "[disk-space]: no space left under" in err and "`current` was not changed" in err
    assert host.current() == "v1.0.0" and host.assert_current_valid() == "v1.0.0"
    assert follow.version == "v1.0.0"
    assert staging_empty(host)


def test_root_not_writable(host: Host, tmpfs) -> None:  # type: ignore[no-untyped-def]
    ro = tmpfs("ro", "1m", "ro")
    host.promote("v1.0.0")
    err = host.fails(2, "deploy", "production", "support", "--root", str(ro / "root")).stderr
    assert "cannot write to" in err and "Read-only file system" in err


def test_a_directory_where_current_should_be(host: Host) -> None:
    host.promote("v1.0.0")
    (host.root / "support" / "current" / "weights").mkdir(parents=True)
    err = host.fails(2, *_deploy_args(host)).stderr
    assert "cannot update" in err and "current" in err
    assert (host.root / "support" / "current" / "weights").is_dir()  # someone else's: left alone
    assert host.journal()[-1]["step"] == "failed"
