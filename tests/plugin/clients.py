"""Helpers for the "real clients must agree" tests: gto and dvc run as the user would run them.

Both clients are the installed command-line programs of the test environment, run as
subprocesses in the registry; the hermetic fixture's environment (temp HOME, no
analytics, no system git config) is inherited because it lives in os.environ.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from plugin import forkrun
from plugin.registry import META, Registry, random_bytes

# 2024-01-01T00:00:00Z: a fixed start, so tag times are reproducible.
EPOCH = 1_704_067_200
CLIENT_TIMEOUT = 120

# The CLI accepts `acme/support`; GTO and DVC name the same model `acme:support`.
MODELS = [("support", "support"), ("acme/support", "acme:support")]


class Clock:
    """Dates every git object that follows, ten seconds after the previous step.

    GTO and `dvc artifacts get --stage` order events by tagger time with one-second
    resolution; gitmodel's `git tag -a` inherits GIT_COMMITTER_DATE, so setting it
    per step orders events without sleeping.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._mp = monkeypatch
        self.now = EPOCH

    def tick(self) -> int:
        self.now += 10
        stamp = f"{self.now} +0000"
        self._mp.setenv("GIT_COMMITTER_DATE", stamp)
        self._mp.setenv("GIT_AUTHOR_DATE", stamp)
        return self.now


def program(name: str) -> str:
    """The client installed next to this interpreter (the test extras install both)."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        pytest.fail(f"{name} is not installed in {path.parent}; run `pip install -e '.[test]'`")
    return str(path)


def run_client(
    cwd: Path, name: str, *args: str, check: bool = True, binary: bool = False
) -> subprocess.CompletedProcess[str]:
    """NAME ARGS in CWD: a process forked from plugin.forkrun's zygote (the same entry point,
    without its imports each time), or with BINARY the installed script itself."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    if binary:
        proc = subprocess.run(
            [program(name), *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=CLIENT_TIMEOUT,
            env=env,
            check=False,
        )
    else:
        proc = forkrun.run(name, args, cwd, env, timeout=CLIENT_TIMEOUT)
    if check:
        assert proc.returncode == 0, (name, args, proc.stdout, proc.stderr)
    return proc


def gto_json(cwd: Path, *args: str) -> Any:
    return json.loads(run_client(cwd, "gto", *args, "--json").stdout)


def ours_json(registry: Registry, *args: str) -> Any:
    return json.loads(registry.ok(*args, "--json").stdout)


def dvc_get(
    cwd: Path, url: str, name: str, out: Path, *sel: str, binary: bool = False
) -> subprocess.CompletedProcess[str]:
    """`dvc artifacts get URL NAME --rev V | --stage S -o OUT`, without checking the exit code."""
    return run_client(
        cwd, "dvc", "artifacts", "get", url, name, *sel, "-o", str(out), check=False, binary=binary
    )


def read_tree(path: Path) -> dict[str, bytes]:
    """A file or folder as {relative path: bytes} ("" for a single file)."""
    if path.is_file():
        return {"": path.read_bytes()}
    files = sorted(p for p in path.rglob("*") if p.is_file())
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in files}


@dataclass(frozen=True)
class Registered:
    version: str
    content: dict[str, bytes]  # what read_tree() must return for a download of it


def meta_with(accuracy: float) -> str:
    """The standard test metadata with one metric changed (the gate compares metrics)."""
    return META.replace("accuracy: 0.942", f"accuracy: {accuracy}")


def register(
    registry: Registry,
    clock: Clock,
    name: str,
    kind: str,
    seed: int,
    accuracy: float,
    *extra: str,
) -> Registered:
    """Register new bytes for NAME (a GGUF file or a LoRA-style folder), dated by the clock."""
    if kind == "file":
        data = random_bytes(20_000 + seed, seed)
        registry.write("incoming/weights.gguf", data)
        path, content = "incoming/weights.gguf", {"": data}
    else:
        content = {
            "adapter_config.json": f'{{"r": 16, "seed": {seed}}}'.encode(),
            "adapter_model.safetensors": random_bytes(12_000 + seed, seed),
        }
        for rel, blob in content.items():
            registry.write(f"incoming/adapter/{rel}", blob)
        path = "incoming/adapter"
    meta = registry.meta(meta_with(accuracy), f"meta-{seed}.yaml")
    clock.tick()
    out = registry.ok("register", name, path, "--meta", str(meta), *extra).stdout
    version = out.split()[2]  # "registered NAME vX.Y.Z (...)"
    assert version.startswith("v"), out
    return Registered(version, content)
