"""Host helpers: a moto S3 server, a registry world, one host's clones, a tiny model server.

The world (a bare origin with registered versions, a local DVC remote and an S3
bucket holding the same objects) is built once per session through the real CLI;
each host copies the bare origin, so pointer moves never leak between tests.  The
fixtures that make them (`moto`, `world`, `host`, `follow`) live in plugin.fixtures.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from gitmodel import hostlayout, yamlio
from gitmodel.cli.main import cli
from plugin import forkrun
from plugin.registry import EVIDENCE, hermetic_env, make_home
from plugin.server import wait_for

BUCKET = "gitmodel-test"
MIB = 1024 * 1024
VERSIONS = {  # version -> (base model, seed, accuracy): bumps follow the semver rules
    "v1.0.0": ("llama-3-8b-instruct", 1, 0.90),
    "v1.1.0": ("llama-3-8b-instruct", 2, 0.91),
    "v2.0.0": ("qwen-2.5-7b", 3, 0.92),
    "v2.1.0": ("qwen-2.5-7b", 4, 0.93),
}
ADAPTER = {"v1.0.0": 11, "v1.1.0": 12}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def base_env(home: Path) -> dict[str, str]:
    """What the autouse `hermetic` fixture sets, for processes started outside a test."""
    return {
        **os.environ,
        **hermetic_env(home),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, (args, proc.stderr)
    return proc.stdout.strip()


def gguf_blob(path: Path, size: int, seed: int) -> Path:
    """A valid GGUF (so `gitmodel serve` accepts it) carrying `size` bytes of noise."""
    import gguf
    import numpy as np

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name(f"support-{seed}")
    w.add_file_type(15)  # MOSTLY_Q4_K_M
    rng = np.random.default_rng(seed)
    w.add_tensor("blob", rng.integers(-128, 127, size=size, dtype=np.int8))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(MIB):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


# --- moto ---------------------------------------------------------------------------


@dataclass
class Moto:
    endpoint: str
    proc: subprocess.Popen[bytes]

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )


def start_moto(workdir: Path) -> Moto:
    port = free_port()
    log = (workdir / "moto.log").open("wb")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=log,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    for _ in range(400):
        try:
            urllib.request.urlopen(endpoint + "/", timeout=1).read()
            return Moto(endpoint, proc)
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"moto_server did not start: {(workdir / 'moto.log').read_text()[-500:]}")


# --- the registry world ---------------------------------------------------------------


@dataclass
class World:
    """A template: bare origin with support v1.0.0..v2.1.0 and acme/adapter v1.0.0, v1.1.0."""

    base: Path
    origin: Path
    remote: Path  # local-path DVC remote (the registry's default)
    s3_url: str
    moto: Moto
    home: Path
    sizes: dict[str, int] = field(default_factory=dict)


def invoke(cwd: Path, *args: str) -> Result:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return result


def build_world(base: Path, moto: Moto, size: int = 2 * MIB) -> World:
    home = make_home(base / "home")
    env = base_env(home)
    origin, dev, remote = base / "origin.git", base / "dev", base / "dvc-remote"
    moto.client().create_bucket(Bucket=BUCKET)
    s3_url = f"s3://{BUCKET}/{base.name}"
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        git(base, "init", "-q", "--bare", str(origin))
        git(base, "init", "-q", str(dev))
        git(dev, "remote", "add", "origin", str(origin))
        invoke(dev, "init", "--remote", str(remote))
        _dvc(dev, env, "remote", "add", "s3", s3_url)
        _dvc(dev, env, "remote", "modify", "s3", "endpointurl", moto.endpoint)
        git(dev, "add", ".dvc/config")
        git(dev, "commit", "-q", "-m", "S3 remote for hosts")
        world = World(base, origin, remote, s3_url, moto, home)
        artifact = dev / "models" / "support" / "support.gguf"
        for version, (model_base, seed, accuracy) in VERSIONS.items():
            src = dev / "support.gguf"
            gguf_blob(src, size + seed, seed)
            world.sizes[version] = src.stat().st_size
            if artifact.exists():
                artifact.unlink()
            meta = dev / "meta.yaml"
            meta.write_text(
                f"base_model: {model_base}\nquantization: q4_k_m\nmetrics: {{accuracy: {accuracy}}}\n"
                + EVIDENCE
            )
            invoke(dev, "register", "support", str(src), "--version", version, "--meta", str(meta), "--push")
        for version, seed in ADAPTER.items():
            folder = dev / "adapter"
            shutil.rmtree(dev / "acme" / "models" / "adapter" / "adapter", ignore_errors=True)
            (folder / "weights").mkdir(parents=True, exist_ok=True)
            (folder / "adapter_config.json").write_text(json.dumps({"r": 16, "seed": seed}))
            (folder / "weights" / "adapter.safetensors").write_bytes(os.urandom(64 * 1024))
            meta = dev / "meta.yaml"
            meta.write_text("base_model: llama-3-8b-instruct\nmetrics: {accuracy: 0.5}\n" + EVIDENCE)
            invoke(
                dev,
                "register",
                "acme/adapter",
                str(folder),
                "--version",
                version,
                "--meta",
                str(meta),
                "--push",
            )
        git(dev, "push", "-q", "origin", "main")
        _dvc(dev, env, "push", "-q", "-r", "s3", "--all-tags")
    return world


def _dvc(cwd: Path, env: dict[str, str], *args: str) -> None:
    """DVC's own CLI for a setup step (remotes, a push): forked from plugin.forkrun's zygote,
    which imported DVC once, rather than a `dvc` process paying its imports each time."""
    proc = forkrun.run("dvc", args, cwd, env, timeout=300)
    assert proc.returncode == 0, (args, proc.stdout, proc.stderr)


# --- one host -------------------------------------------------------------------------


@dataclass
class Host:
    """A copy of the world's origin, a dev clone that moves pointers, a host clone, a root."""

    world: World
    origin: Path
    dev: Path
    clone: Path
    root: Path

    def run(self, *args: str, cwd: Path | None = None) -> Result:
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(cwd or self.clone)
            return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    def ok(self, *args: str, cwd: Path | None = None) -> Result:
        result = self.run(*args, cwd=cwd)
        assert result.exit_code == 0, (args, result.exit_code, result.stdout, result.stderr)
        return result

    def fails(self, code: int, *args: str, cwd: Path | None = None) -> Result:
        result = self.run(*args, cwd=cwd)
        assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
        assert result.stderr.startswith("gitmodel: error: "), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        return result

    def promote(self, version: str, model: str = "support", env: str = "production") -> None:
        """Point ENV at VERSION from the dev clone (through staging, as gitmodel.yaml requires)."""
        if env == "production":
            self.ok("promote", model, version, "staging", "--push", cwd=self.dev)
        self.ok("promote", model, version, env, "--push", cwd=self.dev)

    def deploy(self, *extra: str, model: str = "support", env: str = "production") -> Result:
        return self.run("deploy", env, model, "--root", str(self.root), *extra)

    def use_s3(self) -> None:
        """Make this host fetch from the S3 remote (DVC's own per-clone settings: a host sets
        its endpoint itself, never from the registry's .dvc/config; docs/host.md)."""
        env = base_env(Path(os.environ["HOME"]))
        _dvc(self.clone, env, "remote", "default", "--local", "s3")
        _dvc(self.clone, env, "remote", "modify", "--local", "s3", "endpointurl", self.world.moto.endpoint)

    def private_remote(self) -> Path:
        """A copy of the local DVC remote for this host alone (to break it safely)."""
        copy = self.root.parent / "private-remote"
        shutil.copytree(self.world.remote, copy)
        _dvc(
            self.clone,
            base_env(Path(os.environ["HOME"])),
            "remote",
            "modify",
            "--local",
            "storage",
            "url",
            str(copy),
        )
        return copy

    def mroot(self, model: str = "support") -> Path:
        return hostlayout.model_root(self.root, model)

    def current(self, model: str = "support") -> str | None:
        link = hostlayout.current_link(self.root, model)
        return Path(os.readlink(link)).name if link.is_symlink() else None

    def journal(self, model: str = "support") -> list[dict[str, Any]]:
        path = self.mroot(model) / "journal.jsonl"
        out = []
        for line in path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"torn": line})
        return out

    def assert_current_valid(self, model: str = "support") -> str:
        """`current` resolves to a complete version whose every file matches its sha256."""
        vdir = Path(os.path.realpath(hostlayout.current_link(self.root, model)))
        manifest = hostlayout.read_manifest(vdir)
        assert manifest["version"] == vdir.name
        art = manifest["artifact"]
        for rel, digest in manifest["files"].items():
            path = vdir / art if manifest["kind"] == "file" else vdir / art / rel
            assert sha256(path) == digest, rel
        return str(manifest["version"])

    def deploy_process(
        self, *extra: str, env_extra: dict[str, str] | None = None, model: str = "support"
    ) -> subprocess.Popen[str]:
        env = {**os.environ, **(env_extra or {})}
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gitmodel",
                "deploy",
                "production",
                model,
                "--root",
                str(self.root),
                *extra,
            ],
            cwd=self.clone,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def make_host(world: World, tmp: Path) -> Host:
    origin = tmp / "origin.git"
    shutil.copytree(world.origin, origin, symlinks=True)
    dev, clone, root = tmp / "dev", tmp / "host", tmp / "root"
    git(tmp, "clone", "-q", str(origin), str(dev))
    git(tmp, "clone", "-q", str(origin), str(clone))
    return Host(world, origin, dev, clone, root)


# --- a tiny model server: /info and POST /reload, following `current` --------------------


class FollowServer:
    """Answers /info with the version `current` held at its last reload (like a real server).

    mode "ok" follows; "stuck" ignores reloads; "broken" answers 500 to reloads.
    """

    def __init__(self, root: Path, model: str = "support", mode: str = "ok") -> None:
        self.root, self.model, self.mode = root, model, mode
        self.reloads = 0
        self.version: str | None = None
        self._load()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path != "/info":
                    self.send_error(404)
                    return
                body = json.dumps({"model": outer.model, "version": outer.version}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                outer.reloads += 1
                if outer.mode == "broken":
                    self.send_error(500)
                    return
                if outer.mode == "ok":
                    outer._load()
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # shutdown() waits for the loop to look up: 0.05 s, not the default 0.5 s per test
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def _load(self) -> None:
        link = hostlayout.current_link(self.root, self.model)
        try:
            self.version = hostlayout.read_manifest(Path(os.path.realpath(link)))["version"]
        except Exception:
            self.version = None

    def flags(self) -> list[str]:
        return ["--reload-url", f"{self.url}/reload", "--info-url", f"{self.url}/info"]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def dead_url() -> str:
    """A loopback URL where nothing listens."""
    return f"http://127.0.0.1:{free_port()}/info"


# One bounded poll for all fixtures (it lives with the server's).
wait_until = wait_for


# --- reading what a deploy left behind -------------------------------------------------


def md5_of(host: Host, version: str, model: str = "support") -> str:
    text = git(host.dev, "show", f"{model}@{version}:models/{model}/model.yaml")
    return str(yamlio.loads(text, "model.yaml")["artifact"]["dvc_md5"])


def object_path(remote: Path, md5: str) -> Path:
    return remote / "files" / "md5" / md5[:2] / md5[2:]


def cache_path(host: Host, md5: str) -> Path:
    return object_path(host.clone / ".dvc" / "cache", md5)


def deploy_json(host: Host, *flags: str) -> dict[str, object]:
    out = host.ok("deploy", "production", "support", "--root", str(host.root), "--json", *flags).stdout
    return json.loads(out)["deployed"][0]  # type: ignore[no-any-return]


def staging_empty(host: Host, model: str = "support") -> bool:
    return list((host.mroot(model) / ".staging").iterdir()) == []
