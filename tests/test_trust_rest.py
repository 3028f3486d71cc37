"""Loose ends of the trust boundary (issue 9): the host manifest through the one door,
the journal's history from structure not records, `rollback --local --to` under policy,
and a stage tag on a commit holding two versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from plugin.host import FollowServer, Host, deploy_json, git

from gitmodel import hostlayout
from gitmodel.errors import PolicyError
from gitmodel.host import journal, rollback_local
from gitmodel.records import format_message
from gitmodel.registry import Registry

SHA = "sha256:" + "a" * 64


def manifest(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "model": "support",
        "version": "v1.0.0",
        "dvc_md5": "0" * 32,
        "artifact": "support.gguf",
        "kind": "file",
        "files": {"support.gguf": SHA},
    }
    return {**data, **over}


# --- 1. the manifest's names go through gitmodel/untrusted.py ---------------------------


def test_a_sound_manifest_passes() -> None:
    assert hostlayout.validate_manifest(manifest())["artifact"] == "support.gguf"
    folder = manifest(artifact="adapter", kind="directory", dvc_md5="0" * 32 + ".dir")
    folder["files"] = {"adapter/weights/a.safetensors": SHA, "adapter/config.json": SHA}
    assert hostlayout.validate_manifest(folder)["kind"] == "directory"


@pytest.mark.parametrize(
    ("artifact", "words"),
    [
        ("evil\u202efsg.gguf", "bidi marks"),
        ("a\x1b[31mb", "control characters"),
        ("x" * 256, "at most 255 bytes"),
        ("model.yaml", "reserved"),
        ("support.gguf.dvc", "reserved"),
        (hostlayout.MANIFEST, "reserved"),
        ("a/b", "one name"),
        ("..", "not allowed"),
    ],
)
def test_the_artifact_name_goes_through_the_door(artifact: str, words: str) -> None:
    with pytest.raises(ValueError, match="'artifact'") as info:
        hostlayout.validate_manifest(manifest(artifact=artifact, files={artifact: SHA}))
    assert words in str(info.value) and "\n" not in str(info.value)
    assert "\x1b" not in str(info.value) and "\u202e" not in str(info.value)


@pytest.mark.parametrize(
    ("files", "words"),
    [
        ({"adapter/a\u2066b": SHA}, "bidi marks"),
        ({"adapter/a\nb": SHA}, "control characters"),
        ({"adapter/" + "y" * 256: SHA}, "at most 255 bytes"),
        ({"adapter/./a": SHA}, "not allowed"),
        ({"adapter//a": SHA}, "empty part"),
        ({"adapter/a": SHA, "adapter/a/b": SHA}, "listed as a file and used as a folder"),
        ({"adapter/a": "sha256:" + "A" * 64}, "64 lowercase hex"),
    ],
)
def test_the_files_keys_go_through_the_door(files: dict[str, str], words: str) -> None:
    data = manifest(artifact="adapter", kind="directory", dvc_md5="0" * 32 + ".dir", files=files)
    with pytest.raises(ValueError, match="'files'") as info:
        hostlayout.validate_manifest(data)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_a_manifest_with_a_bidi_name_is_refused_on_read_and_nothing_changes(
    tmp_path: Path, fs_guard: Any
) -> None:
    vdir = tmp_path / "root" / "support" / "versions" / "v1.0.0"
    vdir.mkdir(parents=True)
    bad = manifest(artifact="evil\u202efsg.gguf", files={"evil\u202efsg.gguf": SHA})
    hostlayout.manifest_path(vdir).write_text(json.dumps(bad))
    guard = fs_guard(tmp_path)
    with pytest.raises(hostlayout.ManifestError) as info:
        hostlayout.read_manifest(vdir)
    assert "bidi marks" in info.value.message and "redeploy" in info.value.message
    assert info.value.exit_code == 2
    guard.assert_unchanged()


# --- 2. the journal's history comes from structure, not from records --------------------


def done(version: str, op: str) -> dict[str, Any]:
    return {"step": journal.DONE, "op": op, "version": version}


def test_served_history_ignores_the_op_a_record_claimed() -> None:
    forward_claimed_back = [done("v1", "deploy"), done("v2", "deploy"), done("v3", "rollback")]
    back_claimed_forward = [
        done("v1", "deploy"),
        done("v2", "deploy"),
        done("v3", "deploy"),
        done("v2", "deploy"),
    ]
    assert journal.served_history(forward_claimed_back) == ["v1", "v2", "v3"]
    assert journal.served_history(back_claimed_forward) == ["v1", "v2"]
    assert journal.served_history([done("v1", "deploy"), done("v1", "rollback")]) == ["v1"]


def served(host: Host, follow: FollowServer, *versions: str) -> None:
    for version in versions:
        host.promote(version)
        deploy_json(host, *follow.flags())


def local(host: Host, follow: FollowServer, to: str | None = None) -> Any:
    return rollback_local(
        host.clone,
        "production",
        "support",
        host.root,
        to=to,
        reload_url=f"{follow.url}/reload",
        info_url=f"{follow.url}/info",
    )


def forge(host: Host, version: str, action: str) -> str:
    """Push a hand-made production assignment onto VERSION's commit whose record claims ACTION."""
    tags = git(host.dev, "tag", "-l", "support#*").split()
    n = 1 + max(int(t.rsplit("#", 1)[1]) for t in tags if t.count("#") == 2)
    tag = f"support#production#{n}"
    record = {
        "action": action,
        "actor": "mallory",
        "env": "production",
        "model": "support",
        "version": version,
    }
    message = format_message(f"gitmodel: {action} support {version} to production", record)
    git(host.dev, "tag", "-a", tag, "-m", message, f"support@{version}^{{}}")
    git(host.dev, "push", "-q", "origin", tag)
    return tag


@pytest.mark.slow
def test_a_forward_move_recorded_as_a_rollback_is_journaled_and_rolled_back_as_forward(
    host: Host, follow: FollowServer
) -> None:
    served(host, follow, "v1.0.0", "v1.1.0")
    host.ok("promote", "support", "v2.0.0", "staging", "--push", cwd=host.dev)
    forge(host, "v2.0.0", "rollback")
    deploy_json(host, *follow.flags())
    last = host.journal()[-1]
    assert (last["step"], last["version"], last["op"]) == ("done", "v2.0.0", "deploy")
    assert str(local(host, follow).version) == "v1.1.0"


@pytest.mark.slow
def test_a_return_recorded_as_a_promote_pops_the_history(host: Host, follow: FollowServer) -> None:
    served(host, follow, "v1.0.0", "v1.1.0", "v2.0.0")
    forge(host, "v1.1.0", "promote")
    deploy_json(host, *follow.flags())
    assert host.journal()[-1]["op"] == "rollback"
    # not v2.0.0, which production was moved back from whatever the record said
    assert str(local(host, follow).version) == "v1.0.0"


# --- 3. rollback --local --to under the host's policy -----------------------------------


@pytest.mark.slow
def test_local_rollback_refuses_a_deprecated_version(host: Host, follow: FollowServer, fs_guard: Any) -> None:
    served(host, follow, "v1.0.0", "v1.1.0")
    host.ok("deprecate", "support", "v1.0.0", "--push", cwd=host.dev)
    git(host.clone, "fetch", "-q", "origin", "--tags")
    guard = fs_guard(host.root)
    with pytest.raises(PolicyError, match="deprecated") as info:
        local(host, follow, to="v1.0.0")
    assert "\n" not in info.value.message and "--to" in info.value.message
    with pytest.raises(PolicyError, match="deprecated"):
        local(host, follow)  # the only earlier version is deprecated
    guard.assert_unchanged()
    result = host.fails(
        1, "rollback", "production", "support", "--local", "--root", str(host.root), "--to", "v1.0.0"
    )
    assert "deprecated" in result.stderr
    assert host.current() == "v1.1.0"


@pytest.mark.slow
def test_local_rollback_to_a_version_never_served_must_pass_the_host_policy(
    host: Host, follow: FollowServer, fs_guard: Any
) -> None:
    served(host, follow, "v1.0.0")
    guard = fs_guard(host.root)
    with pytest.raises(PolicyError, match="staging") as info:
        local(host, follow, to="v1.1.0")  # never in staging: promotion order refuses it
    assert "\n" not in info.value.message
    guard.assert_unchanged()
    host.ok("promote", "support", "v1.1.0", "staging", "--push", cwd=host.dev)
    git(host.clone, "fetch", "-q", "origin", "--tags")
    assert str(local(host, follow, to="v1.1.0").version) == "v1.1.0"  # the policy accepts it
    assert host.current() == "v1.1.0"


# --- 4. a stage tag on a commit holding two versions -----------------------------------


def test_a_stage_tag_on_a_commit_holding_two_versions_names_no_version(released: Any, fs_guard: Any) -> None:
    repo = released.root
    git(repo, "tag", "-a", "support@v9.0.0", "-m", "a second version on v1.0.0's commit", "support@v1.0.0^{}")
    record = {"action": "promote", "env": "production", "model": "support", "version": "v9.0.0"}
    message = format_message("gitmodel: promote support v9.0.0 to production", record)
    git(repo, "tag", "-a", "support#production#9", "-m", message, "support@v1.0.0^{}")
    state = Registry.load_model(repo, "support")
    assert state.stage_version("production") is None  # the record's claim decides nothing
    guard = fs_guard(repo.parent)
    result = released.fails(
        1, "deploy", "production", "support", "--no-fetch", "--root", str(repo.parent / "root")
    )
    assert "v1.0.0 and v9.0.0" in result.stderr
    guard.assert_unchanged()
