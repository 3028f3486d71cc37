"""Hook helpers: `Served` (a registry with a pushed version and a bare origin), `refused`.

Registry content is made with the CLI (`init`, `register`); bad tags and commits are
then crafted with plain git, as someone bypassing gitmodel would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodel import yamlio
from plugin.registry import Registry, git, random_bytes, refs

DVC = str(Path(sys.executable).with_name("dvc"))


@dataclass
class Served:
    """A registry whose origin holds main and support@v1.0.0 (bytes on the DVC remote)."""

    reg: Registry
    origin: Path
    side: str  # "client": only the pusher's hooks run; "server": only origin's pre-receive

    @property
    def root(self) -> Path:
        return self.reg.root

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return git(self.root, *args, check=check)

    def push(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`git push` as the side under test sees it (client hooks skipped for "server")."""
        skip = ["--no-verify"] if self.side == "server" else []
        return git(self.root, "push", *skip, "origin", *args, check=False)

    def remote_refs(self) -> list[str]:
        return refs(self.origin)

    def edit_meta(self, change: Callable[[dict[str, Any]], None], model_dir: str = "models/support") -> None:
        path = self.root / model_dir / "model.yaml"
        data = yamlio.load_mapping(path)
        change(data)
        path.write_text(yamlio.dumps(data))

    def commit(self, message: str = "edit", *paths: str) -> str:
        """Commit as someone bypassing the client hooks would (`--no-verify`)."""
        self.git("add", "-A", "--", *(paths or ("models",)))
        self.git("commit", "-q", "--no-verify", "-m", message)
        return self.git("rev-parse", "HEAD").stdout.strip()

    def tag(self, name: str, target: str = "HEAD", annotated: bool = True) -> None:
        extra = ["-a", "-m", f"tag {name}"] if annotated else []
        self.git("tag", *extra, name, target)

    def dvc_push(self) -> None:
        subprocess.run(
            [DVC, "push", "-q", "--all-tags"],
            cwd=self.root,
            check=True,
            capture_output=True,
            env={**os.environ, "DVC_NO_ANALYTICS": "1"},
        )

    def register(self, seed: int, *args: str) -> str:
        """Register new bytes for support with the CLI; returns the new tag."""
        self.reg.write(f"w{seed}.gguf", random_bytes(2000, seed))
        out = self.reg.ok("register", "support", f"w{seed}.gguf", *args).stdout
        return out.split("tag ", 1)[1].split()[0]


def refused(proc: subprocess.CompletedProcess[str], tag: str, rule: str) -> str:
    """Assert a push or commit was refused by `rule` for `tag`; return git's stderr."""
    assert proc.returncode != 0, (proc.stdout, proc.stderr)
    assert f"refused {tag} [{rule}]" in proc.stderr, proc.stderr
    return proc.stderr
