"""Attacks through repo data on a real host: forged commits and tags, forged DVC objects.

The attacker has ordinary push access to origin and write access to the DVC remote.
They write a version by hand with plain git (so no gitmodel hook sees it), point
production at it, and put whatever bytes they like on the DVC remote.  Each attack
must end in one error line with the documented exit code, `current` untouched, and
nothing written outside the host model's .staging/ and journal (fs_guard over the
whole test directory).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from plugin.attacks import World, pointer, refused, run_git, sha

from gitmodel import hostlayout

pytestmark = pytest.mark.slow


@pytest.fixture(name="world")
def world_fixture(deployed: World) -> World:
    """support v1.0.0 registered, pushed, in production, and deployed on a host (a copy)."""
    return deployed


def test_artifact_path_with_dotdot_writes_nothing_outside(world: World, fs_guard: Callable[..., Any]) -> None:
    evil = b"import os; os.system('echo owned')\n"
    md5 = world.put_object(evil)
    name = "x/" + "../" * 5 + "outside/evil.pth"  # from .staging/vX-PID/ to the test directory
    world.forge(
        "v1.0.1",
        {
            "models/support/model.yaml": world.model_yaml(
                path=name, kind="file", dvc_md5=md5, size=len(evil), files={name: sha(evil)}
            ),
            f"models/support/{name}.dvc": pointer(name, md5, len(evil)),
        },
    )
    guard = fs_guard(world.tmp)
    result = world.deploy()
    guard.assert_only(*world.allowed())
    assert world.current() == "versions/v1.0.0"
    refused(result, 1, "artifact.path", "..")


def test_artifact_named_like_the_manifest_never_touches_served_bytes(
    world: World, fs_guard: Callable[..., Any]
) -> None:
    # Same bytes as v1.0.0, so the hard link shares the inode that `current` serves.
    md5 = hashlib.md5(world.payload).hexdigest()
    name = hostlayout.MANIFEST
    world.forge(
        "v1.0.1",
        {
            "models/support/model.yaml": world.model_yaml(
                path=name, kind="file", dvc_md5=md5, files={name: sha(world.payload)}
            ),
            f"models/support/{name}.dvc": pointer(name, md5, len(world.payload)),
        },
    )
    served = world.mroot / "versions" / "v1.0.0" / "support.gguf"
    guard = fs_guard(world.tmp)
    result = world.deploy()
    guard.assert_only(*world.allowed())
    assert served.read_bytes() == world.payload
    assert world.current() == "versions/v1.0.0"
    refused(result, 1, "artifact.path", name)


def _dir_version(world: World, entries: list[dict[str, str]], files: dict[str, str]) -> str:
    md5 = world.put_dir(entries)
    world.forge(
        "v1.0.1",
        {
            "models/support/model.yaml": world.model_yaml(
                path="adapter", kind="directory", dvc_md5=md5, size=100, files=files
            ),
            "models/support/adapter.dvc": pointer("adapter", md5, 100),
        },
    )
    return md5


def test_dir_entry_md5_pointing_outside_the_cache_deletes_nothing(
    world: World, fs_guard: Callable[..., Any]
) -> None:
    victim = world.tmp / "victim.txt"
    victim.write_bytes(b"precious")
    cache = world.host / ".dvc" / "cache" / "files" / "md5"
    # DVC's cache path is f"{cache}/{oid[:2]}/{oid[2:]}": a '..' oid climbs out of the cache.
    bad = "../" * 5 + "victim.txt"
    assert Path(os.path.normpath(f"{cache}/{bad[:2]}/{bad[2:]}")) == victim
    # Today's cache check names each object after its cache path (parent's name + file
    # name): "..victim.txt", i.e. cache/files/victim.txt.  An entry with that name, put on
    # the remote beside files/md5/ and fetched earlier, makes the folder look complete.
    ok = "..victim.txt"
    (world.remote / "files" / "victim.txt").write_bytes(b"fine bytes")
    entries = [{"md5": ok, "relpath": "config.json"}, {"md5": bad, "relpath": "weights.bin"}]
    files = {"config.json": sha(b"fine bytes"), "weights.bin": sha(b"attacker guess")}
    md5 = _dir_version(world, entries, files)
    world.warm(md5, ok)
    guard = fs_guard(world.tmp)
    result = world.deploy()
    guard.assert_only(*world.allowed())
    assert victim.read_bytes() == b"precious"
    assert world.current() == "versions/v1.0.0"
    refused(result, 1, "md5")


@pytest.mark.parametrize(
    ("relpaths", "words"),
    [
        (["../../evil"], ["relpath", ".."]),
        (["weights.bin", "weights.bin"], ["relpath", "twice"]),
        (["weights", "weights/a.bin"], ["relpath", "weights"]),
    ],
    ids=["dotdot", "duplicate", "overlapping"],
)
def test_bad_dir_manifest_is_refused_on_the_host(
    world: World, fs_guard: Callable[..., Any], relpaths: list[str], words: list[str]
) -> None:
    blobs = [f"part {i}".encode() for i in range(len(relpaths))]
    entries = [{"md5": world.put_object(b), "relpath": r} for b, r in zip(blobs, relpaths, strict=True)]
    # model.yaml looks sound: only the manifest on the DVC remote is bad.
    md5 = _dir_version(world, entries, {"weights.bin": sha(blobs[0])})
    world.warm(md5, *(e["md5"] for e in entries))
    guard = fs_guard(world.tmp)
    result = world.deploy()
    guard.assert_only(*world.allowed())
    assert world.current() == "versions/v1.0.0"
    refused(result, 1, *words)


@pytest.mark.parametrize("relpath", ["ABS", "../../evil"], ids=["absolute", "dotdot"])
def test_smoke_layout_writes_nothing_outside_its_directory(
    world: World, fs_guard: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, relpath: str
) -> None:
    """The promoter's machine lays out the candidate's files for the smoke test."""
    scratch = world.tmp / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    evil_path = world.tmp / "outside" / "evil.sh"
    rel = str(evil_path) if relpath == "ABS" else relpath
    blob = b"#!/bin/sh\necho owned\n"
    entries = [{"md5": world.put_object(blob), "relpath": rel}]
    _dir_version(world, entries, {rel: sha(blob)})
    run_git(world.reg.root, "fetch", "-q", "--tags", "origin")
    # The repo names the smoke command; the promoter's own configuration defines it.
    user = Path(os.environ["XDG_CONFIG_HOME"]) / "gitmodel" / "config.yaml"
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_text("commands:\n  echo-metrics: 'echo {}'\n")
    config = world.reg.root / "gitmodel.yaml"
    config.write_text(config.read_text() + "smoke: {command: echo-metrics}\n")
    guard = fs_guard(world.tmp)
    result = world.reg.run("gate", "support", "v1.0.1", "staging")
    guard.assert_only(world.reg.root / ".dvc")
    refused(result, 1, "relpath")
