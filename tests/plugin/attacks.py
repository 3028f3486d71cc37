"""Attack helpers: a registry with support v1.0.0 deployed on a host, and forged versions.

`World.forge` writes a version with plain git (no gitmodel hook sees it); `put_object`
writes bytes onto the DVC remote as `dvc push` would.  Used by tests/test_untrusted_*.py,
whose `world` fixture is the `deployed` fixture: a copy of deployed_world's result.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodel import hostlayout
from plugin.registry import Registry, random_bytes


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


def deployed_world(registry: Registry, tmp_path: Path) -> World:
    """support v1.0.0 registered, pushed, in production, and deployed on a host."""
    registry.write("support.gguf", random_bytes(20_000, 7))
    registry.ok("register", "support", "support.gguf", "--meta", str(registry.meta()), "--push")
    registry.ok("promote", "support", "v1.0.0", "staging", "--push")
    registry.ok("promote", "support", "v1.0.0", "production", "--push")
    run_git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(tmp_path / "host"))
    w = world(registry, tmp_path)
    result = w.deploy()
    assert result.exit_code == 0, result.stderr
    assert w.current() == "versions/v1.0.0"
    return w


def world(registry: Registry, tmp_path: Path) -> World:
    """The World over what deployed_world left in TMP_PATH (or a copy of it: the `deployed` fixture)."""
    return World(registry, tmp_path, tmp_path / "host", tmp_path / "root", random_bytes(20_000, 7))


def refused(result: Any, code: int, *words: str) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    err = str(result.stderr)
    assert err.startswith("gitmodel: error: ") and len(err.strip().splitlines()) == 1, err
    for word in words:
        assert word in err, err
    return err
