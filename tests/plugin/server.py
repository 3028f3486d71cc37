"""Host layouts built by hand (per the manifest contract) and `gitmodel serve` as a real process.

Reusable by the host and rollout tests: `make_version`, `swap_current`, `write_gguf`,
`ServerProcess`.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodel import hostlayout
from gitmodel.demo import write_gguf
from gitmodel.refs import parse_model


def write_sparse_gguf(path: Path, size: int) -> Path:
    """A valid GGUF whose one F32 tensor is `size` bytes of holes: big, but no disk used."""
    import gguf
    import numpy as np

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_file_type(0)
    w.add_tensor_info("big.weight", (size // 4,), np.dtype(np.float32), size)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    assert w.fout is not None
    w.fout[0].flush()
    end = w.fout[0].tell()
    w.close()
    os.truncate(path, -(-end // 32) * 32 + size)
    return path


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_version(
    root: Path,
    model: str,
    version: str,
    *,
    artifact: str = "model.gguf",
    data: bytes | None = None,
    gguf_seed: int | None = 0,
    adapter: bool = False,
    faults: dict[str, float] | None = None,
    manifest: bool = True,
    **extra: Any,
) -> Path:
    """ROOT/NAME_DIR/versions/vX.Y.Z with an artifact and a manifest, as the deployer writes it."""
    vdir = hostlayout.version_dir(root, model, version)
    vdir.mkdir(parents=True)
    path = vdir / artifact
    files: dict[str, str]
    if adapter:
        path.mkdir()
        members = {"adapter_config.json": b'{"r": 16}', "adapter_model.safetensors": bytes(64)}
        for rel, content in members.items():
            (path / rel).write_bytes(content)
        files = {rel: sha256(content) for rel, content in members.items()}
        md5 = hashlib.md5(json.dumps(files, sort_keys=True).encode()).hexdigest() + ".dir"
    else:
        if data is not None:
            path.write_bytes(data)
        else:
            write_gguf(path, seed=gguf_seed or 0)
        content = path.read_bytes()
        files = {artifact: sha256(content)}
        md5 = hashlib.md5(content).hexdigest()
    if manifest:
        doc = {
            "model": parse_model(model),
            "version": version,
            "dvc_md5": md5,
            "artifact": artifact,
            "kind": "directory" if adapter else "file",
            "files": files,
            "base_model": "llama-3-8b-instruct",
            "quantization": "q4_k_m",
            **({"faults": faults} if faults else {}),
            **extra,
        }
        hostlayout.manifest_path(vdir).write_text(json.dumps(doc, indent=2))
    return vdir


def swap_current(root: Path, model: str, version: str) -> None:
    """Point `current` at a version the way the deployer does: a temp link renamed over it."""
    link = hostlayout.current_link(root, model)
    tmp = link.with_name(".current.tmp")
    if os.path.lexists(tmp):
        tmp.unlink()
    os.symlink(f"{hostlayout.VERSIONS}/{version}", tmp)
    os.replace(tmp, link)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http(method: str, url: str, data: Any = None, timeout: float = 10.0) -> Response:
    body = data if data is None or isinstance(data, bytes) else json.dumps(data).encode()
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Response(r.status, dict(r.headers), r.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, dict(e.headers), e.read())


class ServerProcess:
    """`python -m gitmodel serve` on a free loopback port; stderr goes to a file."""

    def __init__(self, root: Path, model: str, *args: str, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stderr_path = workdir / f"serve-{self.port}.err"
        self._err = open(self.stderr_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gitmodel",
                "serve",
                model,
                "--root",
                str(root),
                "--port",
                str(self.port),
                *args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._err,
            cwd=workdir,
        )

    def wait_ready(self, timeout: float = 15.0) -> ServerProcess:
        """Bounded: until /health answers at all (200, or 503 when nothing is deployed)."""
        deadline = time.monotonic() + timeout
        for _ in range(int(timeout / 0.05) + 1):
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}: {self.stderr()}")
            try:
                http("GET", self.url + "/health", timeout=1.0)
                return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        raise AssertionError(f"server did not answer /health in {timeout} s: {self.stderr()}")

    def get(self, path: str) -> Response:
        return http("GET", self.url + path)

    def post(self, path: str, data: Any = None, timeout: float = 10.0) -> Response:
        return http("POST", self.url + path, data if data is not None else b"", timeout=timeout)

    def complete(self, prompt: str = "hello", **kw: Any) -> Response:
        return self.post("/v1/completions", {"prompt": prompt, **kw})

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def stderr(self) -> str:
        self._err.flush()
        return self.stderr_path.read_text(errors="replace")

    def wait_exit(self, timeout: float = 10.0) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._err.close()


def wait_for(check: Any, timeout: float = 10.0, step: float = 0.05) -> Any:
    """Poll check() until it returns something truthy; bounded in count and time."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / step) + 1):
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            break
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout} s")


def kill_at(cwd: Path, step: str, *args: str) -> None:
    """Run `gitmodel ARGS` in `cwd` (forked: plugin.forkrun), wait until it pauses at `step`
    (GITMODEL_TEST_PAUSE_AT), SIGKILL it there; the pause marker is a file beside `cwd`."""
    from plugin import forkrun

    marker = cwd.parent / "paused"
    marker.unlink(missing_ok=True)
    env = {**os.environ, "GITMODEL_TEST_PAUSE_AT": step, "GITMODEL_TEST_PAUSE_MARKER": str(marker)}
    proc = forkrun.start("gitmodel", args, cwd, env)
    try:
        wait_for(lambda: marker.exists() or proc.poll() is not None, timeout=60)
        assert proc.poll() is None, proc.wait(60)
    finally:
        proc.kill()
        proc.wait(60)


def two_gguf_versions(root: Path, model: str = "support") -> Path:
    """A host root with v1.0.0 and v1.1.0 (different tiny GGUFs), `current` on v1.0.0."""
    make_version(root, model, "v1.0.0", artifact=f"{model}.gguf", gguf_seed=1)
    make_version(root, model, "v1.1.0", artifact=f"{model}.gguf", gguf_seed=2)
    swap_current(root, model, "v1.0.0")
    return root
