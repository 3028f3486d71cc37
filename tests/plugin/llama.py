"""A real llama-server for the backend tests, and tiny llama GGUFs laid out as host versions.

The binary is built once by `make llama-server` (scripts/build_llama_server.sh) into a
cache outside the clone; the tests that need it skip with that hint when it is missing.
The cache path is resolved here, at import, from the real environment: the autouse
`hermetic` fixture points HOME and XDG_* at a temporary home before any test runs.

    llama_server_bin   the binary's path (skips without it)
    reap_servers       every server a backend spawned in the test is stopped at teardown,
                       so a failed assertion leaves nothing running on a shared machine
    llama_versions     llama_versions(SEED, ..., broken=False) -> VersionFiles under one ROOT
    llama_files(...)   the same as a plain function, for benches and other fixtures
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gitmodel import hostlayout, http
from gitmodel.backends import process
from gitmodel.backends.base import VersionFiles
from gitmodel.demo import write_llama_gguf
from plugin.server import make_version

SKIP_REASON = "llama-server not built: run `make llama-server` (scripts/build_llama_server.sh)"
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_llama_server.sh"


def _cached_binary() -> Path:
    """$GITMODEL_LLAMA_SERVER, else where the build script puts it (the one place that says)."""
    explicit = os.environ.get("GITMODEL_LLAMA_SERVER")
    if explicit:
        return Path(explicit)
    said = subprocess.run(["bash", str(SCRIPT), "--path"], capture_output=True, text=True, timeout=30)
    return Path(said.stdout.strip() or "/nonexistent/llama-server")


LLAMA_SERVER = _cached_binary()  # resolved before `hermetic` redirects HOME and XDG_CACHE_HOME


def llama_server_or_none() -> Path | None:
    return LLAMA_SERVER if LLAMA_SERVER.is_file() and os.access(LLAMA_SERVER, os.X_OK) else None


def version_files(vdir: Path) -> VersionFiles:
    """A version directory (as make_version writes it) as the backends see it."""
    manifest = hostlayout.read_manifest(vdir)
    vdir = Path(os.path.realpath(vdir))
    return VersionFiles(
        model=manifest["model"],
        version=manifest["version"],
        directory=vdir,
        artifact=vdir / manifest["artifact"],
        content_hash=manifest["dvc_md5"],
    )


def llama_files(root: Path, model: str, version: str, seed: int, broken: bool = False) -> VersionFiles:
    """ROOT/NAME/versions/VERSION holding a tiny llama GGUF (and its manifest), as VersionFiles."""
    scratch = root / f".{version}-{seed}.gguf"
    write_llama_gguf(scratch, seed=seed, broken=broken)
    data = scratch.read_bytes()
    scratch.unlink()
    return version_files(make_version(root, model, version, data=data))


@pytest.fixture
def llama_server_bin() -> Path:
    """The llama-server binary; the test skips with the way to build it when it is missing."""
    found = llama_server_or_none()
    if found is None:
        pytest.skip(SKIP_REASON)
    return found


@pytest.fixture
def reap_servers(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[process.Process]]:
    """Record each process the backends spawn; stop those still running when the test ends."""
    spawned: list[process.Process] = []
    real = process.spawn

    def recording(*args: Any, **kwargs: Any) -> process.Process:
        proc = real(*args, **kwargs)
        spawned.append(proc)
        return proc

    monkeypatch.setattr(process, "spawn", recording)
    yield spawned
    for proc in spawned:
        if proc.exit_code() is None:  # still ours (not reaped), so its group id is too
            process.stop(proc, 5)


@pytest.fixture
def llama_versions(tmp_path: Path) -> Callable[..., VersionFiles]:
    """llama_versions(VERSION, SEED, broken=False, model="acme/support") under tmp_path/root."""
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)

    def make(version: str, seed: int, broken: bool = False, model: str = "acme/support") -> VersionFiles:
        return llama_files(root, model, version, seed, broken)

    return make


def complete(base_url: str, prompt: str = "the", model: str | None = None, tokens: int = 8) -> str:
    """A greedy completion's text (temperature 0): the same version always says the same."""
    body: dict[str, object] = {"prompt": prompt, "max_tokens": tokens, "temperature": 0, "seed": 1}
    if model is not None:
        body["model"] = model
    answer = http.post(f"{base_url}/v1/completions", body, timeout=30)
    assert answer.ok, (answer.status, answer.text())
    return str(answer.json_object()["choices"][0]["text"])


def cmdlines_naming(path: Path) -> list[int]:
    """PIDs of live processes whose command line names PATH (a server left behind)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if str(path).encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found
