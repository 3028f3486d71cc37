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
import json
import os
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from plugin.registry import Registry, random_bytes

from gitmodel import hostlayout

pytestmark = pytest.mark.slow


def run_git(cwd: Path, *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, (args, proc.stderr)
    return proc.stdout.strip()


@dataclass
class World:
    reg: Registry
    tmp: Path
    host: Path  # the host's clone
    root: Path  # the host root
    payload: bytes  # v1.0.0's bytes

    @property
    def mroot(self) -> Path:
        return hostlayout.model_root(self.root, "support")

    @property
    def remote(self) -> Path:
        return self.reg.remote

    def current(self) -> str:
        return os.readlink(hostlayout.current_link(self.root, "support"))

    def deploy(self) -> Any:
        # Refs were fetched before the listing: the deploy itself may write only on the host.
        return self.reg.run(
            "deploy", "production", "support", "--root", str(self.root), "--no-fetch", cwd=self.host
        )

    def allowed(self) -> list[Path]:
        # DVC's own scratch files in the host's clone (locks, timestamps) are not host data.
        return [self.mroot / ".staging", self.mroot / "journal.jsonl", self.host / ".dvc" / "tmp"]

    def put_object(self, data: bytes, suffix: str = "") -> str:
        """Write bytes onto the DVC remote under their md5, as `dvc push` would."""
        md5 = hashlib.md5(data).hexdigest() + suffix
        path = self.remote / "files" / "md5" / md5[:2] / md5[2:]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return md5

    def put_dir(self, entries: list[dict[str, str]]) -> str:
        return self.put_object(json.dumps(entries).encode(), ".dir")

    def warm(self, *md5s: str) -> None:
        """Copy objects into the host's DVC cache, as an earlier fetch would have."""
        for md5 in md5s:
            src = self.remote / "files" / "md5" / md5[:2] / md5[2:]
            dest = self.host / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(src.read_bytes())

    def forge(self, version: str, files: dict[str, bytes]) -> str:
        """A commit holding v1.0.0's tree plus `files` (path parts may be '..'), tagged as
        `version` and assigned to staging and production, pushed with plain git."""
        repo = self.reg.root
        base = run_git(repo, "rev-parse", "support@v1.0.0^{commit}")
        entries = {}
        for line in run_git(repo, "ls-tree", "-r", base).splitlines():
            meta, path = line.split("\t", 1)
            entries[path] = meta.split()[2]
        for path, data in files.items():
            proc = subprocess.run(
                ["git", "hash-object", "-w", "--stdin"], cwd=repo, input=data, capture_output=True, check=True
            )
            entries[path] = proc.stdout.decode().strip()
        tree = _mktree(repo, entries)
        commit = run_git(repo, "commit-tree", tree, "-p", base, "-m", f"support {version}")
        counters = [int(t.rsplit("#", 1)[1]) for t in run_git(repo, "tag", "-l", "support#*").split()]
        n = max(counters) + 1
        tags = [f"support@{version}", f"support#staging#{n}", f"support#production#{n + 1}"]
        for tag in tags:
            run_git(repo, "tag", "-a", tag, commit, "-m", tag)
        run_git(repo, "push", "-q", "--no-verify", "origin", *[f"refs/tags/{t}" for t in tags])
        run_git(self.host, "fetch", "-q", "--tags", "origin")
        return commit

    def model_yaml(self, **artifact: Any) -> bytes:
        """v1.0.0's model.yaml (JSON is YAML) as v1.0.1 with `artifact` fields replaced."""
        from gitmodel import yamlio

        text = run_git(self.reg.root, "show", "support@v1.0.0:models/support/model.yaml")
        meta = yamlio.plain(yamlio.loads(text, "model.yaml"))
        meta["version"] = "v1.0.1"
        meta["parent_version"] = "v1.0.0"
        meta["artifact"].update(artifact)
        return json.dumps(meta).encode()


def _mktree(repo: Path, entries: dict[str, str]) -> str:
    nested: dict[str, Any] = {}
    for path, oid in entries.items():
        node = nested
        *dirs, leaf = path.split("/")
        for part in dirs:
            node = node.setdefault(part, {})
        node[leaf] = oid

    def write(node: dict[str, Any]) -> str:
        lines = [
            f"040000 tree {write(v)}\t{k}" if isinstance(v, dict) else f"100644 blob {v}\t{k}"
            for k, v in node.items()
        ]
        return run_git(repo, "mktree", stdin="".join(line + "\n" for line in lines))

    return write(nested)


def pointer(name: str, md5: str, size: int) -> bytes:
    return f"outs:\n- md5: {md5}\n  size: {size}\n  hash: md5\n  path: {name}\n".encode()


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture(name="world")
def world_fixture(registry: Registry, tmp_path: Path) -> World:
    """support v1.0.0 registered, pushed, in production, and deployed on a host."""
    payload = random_bytes(20_000, 7)
    registry.write("support.gguf", payload)
    registry.ok("register", "support", "support.gguf", "--meta", str(registry.meta()), "--push")
    registry.ok("promote", "support", "v1.0.0", "staging", "--push")
    registry.ok("promote", "support", "v1.0.0", "production", "--push")
    host = tmp_path / "host"
    run_git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(host))
    w = World(registry, tmp_path, host, tmp_path / "root", payload)
    result = w.deploy()
    assert result.exit_code == 0, result.stderr
    assert w.current() == "versions/v1.0.0"
    return w


def refused(result: Any, code: int, *words: str) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    err = str(result.stderr)
    assert err.startswith("gitmodel: error: ") and len(err.strip().splitlines()) == 1, err
    for word in words:
        assert word in err, err
    return err


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
