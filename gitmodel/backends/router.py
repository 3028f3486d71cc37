"""`llama-cpp-router`: one llama-server in router mode, each version loaded under its own name.

    backend: {kind: llama-cpp-router, binary: /opt/llama-server, port: 8100, args: [-c, "2048"]}

gitmodel starts the router itself on first use (`--models-preset FILE --no-models-autoload`)
and owns FILE: each version is a preset section `[MODEL-VERSION]` with `model = PATH` (the
resolved path inside the version's directory).  Loading: write the file, `GET
/models?reload=1`, `POST /models/load`, then poll `GET /models` until the name is
`loaded` (or `unloaded` with `failed`: refused at once, with the exit code).

The router's unload returns before the model has stopped; a load of the same name then
gets 400 "model is already running" about half the time (FACTS.md).  So `stop` waits
until `GET /models` reports the name `unloaded`, and `start` waits the same way for a
name still stopping before it loads.

Confirm: the router is alive and ours, `GET /models` lists the name `loaded` with the
version's path in its arguments, and one of the router's children maps that file.  The
router stops (its whole process group) when its last version stops.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitmodel import http
from gitmodel import validate as v
from gitmodel.backends import config, process
from gitmodel.backends.base import BackendRefused, BackendUnreachable, Instance, VersionFiles, served_name
from gitmodel.errors import GitModelError

KIND = "llama-cpp-router"
RESERVED = ("-m", "--model", "--port", "--host", "--models-preset", "--models-dir", "--models-autoload")
_KEYS = ("binary", "args", "port", "host", "logs", "start_timeout")
REQUEST_TIMEOUT = 5.0
POLL = 0.05


@dataclass
class Router:
    binary: Path
    port: int
    args: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    logs: Path | None = None
    start_timeout: float = 30.0
    kind: str = KIND
    # The router process and the presets it reads; one per backend, shared by its instances.
    _proc: process.Process | None = field(default=None, repr=False)
    _dir: Path | None = field(default=None, repr=False)
    _presets: dict[str, Path] = field(default_factory=dict, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def url(self) -> str:
        return config.base_url(self.host, self.port)

    @staticmethod
    def name(files: VersionFiles) -> str:
        return served_name(files)

    def start(self, files: VersionFiles, slot: int, timeout: float) -> Instance:
        name, path = self.name(files), process.version_artifact(files)
        with self._lock:
            if name in self._presets and self._proc is not None and self._proc.exit_code() is None:
                raise BackendRefused(f"{name} is already loaded in the llama-server router: stop it first")
            router = self._router()
            self._wait_stopped(name, timeout)
            self._presets[name] = path
            try:
                waited = self._load(router, name, timeout)
            except BaseException:
                with contextlib.suppress(GitModelError):
                    self._unload(name, 10.0)
                self._forget(name)
                raise
            state = {"process": router, "name": name, "ready_s": waited}
            return Instance(files, self.url, upstream_model=name, pid=router.pid, state=state)

    def _load(self, router: process.Process, name: str, timeout: float) -> float:
        """Load NAME (already in the presets) and wait until it is `loaded`; seconds waited."""
        self._write_presets()
        self._models(reload=True)
        answer = self._post("/models/load", {"model": name})
        if not answer.ok:
            raise BackendRefused(f"llama-server router refused to load {name}: {_error(answer)}")
        started = time.monotonic()
        while True:
            status = self._status(name)
            if status.get("value") == "loaded":
                return time.monotonic() - started
            if status.get("value") == "unloaded" and status.get("failed"):
                raise BackendRefused(
                    f"llama-server router could not load {name} (exit code {status.get('exit_code')}): "
                    f"{router.last_line()}"
                )
            if router.exit_code() is not None:
                raise BackendRefused(
                    f"llama-server router died while loading {name}: {router.describe_exit()}"
                )
            if time.monotonic() - started > timeout:
                raise BackendUnreachable(f"llama-server router did not load {name} within {timeout:g} s")
            time.sleep(POLL)

    def confirm(self, instance: Instance) -> str | None:
        router, why = process.check_alive(instance.state.get("process"), instance.pid)
        if router is None:
            return why
        name, path = str(instance.state.get("name")), process.version_artifact(instance.files)
        try:
            entry = self._entry(name)
        except BackendUnreachable as exc:
            return exc.message
        if entry is None:
            return f"the router lists no model {name}"
        status = entry.get("status") or {}
        if status.get("value") != "loaded":
            return f"the router reports {name} {status.get('value')!r}, not 'loaded'"
        if str(path) not in (status.get("args") or []):
            return f"the router loaded {name} with arguments that do not name {path}"
        children = [p for p in process.group_members(router.pid) if p != router.pid]
        # Mapped, or (loaded without mmap) at least started with that path: the kernel says which.
        if not any(process.holds_file(pid, path) or process.argv_names(pid, path) for pid in children):
            return f"no process of the router maps {path}: it is not serving {instance.files.version}"
        return None

    def stop(self, instance: Instance, timeout: float) -> None:
        name, proc = str(instance.state.get("name")), instance.state.get("process")
        with self._lock:
            if proc is not self._proc:  # a router that died and was replaced: end what is left of it
                if isinstance(proc, process.Process):
                    process.stop(proc, timeout)
                return
            if self._proc is None or self._proc.exit_code() is not None:
                self._forget(name)
                self._shutdown(timeout)
                return
            try:
                self._unload(name, timeout)
            finally:
                self._forget(name)
                if not self._presets:
                    self._shutdown(timeout)

    # The router process.

    def _router(self) -> process.Process:
        if self._proc is not None and self._proc.exit_code() is None:
            return self._proc
        if self._proc is not None:  # it died: its versions went with it (their confirm says so)
            self._shutdown(1.0)
            self._presets.clear()
        self._dir = Path(tempfile.mkdtemp(prefix="gitmodel-router-"))
        self._write_presets()
        argv = [
            str(self.binary), "--models-preset", str(self._dir / "presets.ini"), "--no-models-autoload",
            "--host", self.host, "--port", str(self.port), *self.args,
        ]  # fmt: skip
        what = f"llama-server router on port {self.port}"
        try:
            proc = process.spawn(argv, self.logs)
            process.wait_ready(
                proc, lambda: process.serves(proc, self.port, f"{self.url}/health"), self.start_timeout, what
            )
        except BaseException:
            self._shutdown(1.0)  # wait_ready stopped the process; the presets go too
            raise
        self._proc = proc
        return proc

    def _shutdown(self, timeout: float) -> None:
        if self._proc is not None:
            process.stop(self._proc, timeout)
            self._proc = None
        if self._dir is not None:
            for child in self._dir.iterdir():
                child.unlink()
            self._dir.rmdir()
            self._dir = None

    def _write_presets(self) -> None:
        assert self._dir is not None
        lines = ["version = 1", ""]
        for name, path in sorted(self._presets.items()):
            lines += [f"[{name}]", f"model = {path}", ""]
        tmp = self._dir / "presets.ini.tmp"
        tmp.write_text("\n".join(lines), encoding="utf-8")
        tmp.replace(self._dir / "presets.ini")

    def _forget(self, name: str) -> None:
        if self._presets.pop(name, None) is not None and self._dir is not None:
            self._write_presets()

    # Its API.

    def _unload(self, name: str, timeout: float) -> None:
        status = self._status(name).get("value")
        if status in ("loaded", "loading", "sleeping"):
            self._post("/models/unload", {"model": name})
        self._wait_stopped(name, timeout)

    def _wait_stopped(self, name: str, timeout: float) -> None:
        """Until NAME is not running: unload answers before the model has stopped."""
        deadline = time.monotonic() + timeout
        while self._status(name).get("value") in ("loaded", "loading", "sleeping"):
            if time.monotonic() > deadline:
                raise BackendUnreachable(
                    f"llama-server router did not finish unloading {name} in {timeout:g} s"
                )
            time.sleep(POLL)

    def _status(self, name: str) -> dict[str, Any]:
        entry = self._entry(name)
        status = entry.get("status") if entry else None
        return status if isinstance(status, dict) else {}

    def _entry(self, name: str) -> dict[str, Any] | None:
        for entry in self._models():
            if isinstance(entry, dict) and entry.get("id") == name:
                return entry
        return None

    def _models(self, reload: bool = False) -> list[Any]:
        try:
            answer = http.get(f"{self.url}/models{'?reload=1' if reload else ''}", timeout=REQUEST_TIMEOUT)
        except http.Unreachable as exc:
            raise BackendUnreachable(f"llama-server router: {exc.message}") from None
        data = answer.json_object().get("data")
        return data if isinstance(data, list) else []

    def _post(self, path: str, payload: dict[str, Any]) -> http.Response:
        try:
            return http.post(f"{self.url}{path}", payload, timeout=REQUEST_TIMEOUT)
        except http.Unreachable as exc:
            raise BackendUnreachable(f"llama-server router: {exc.message}") from None


def _error(answer: http.Response) -> str:
    err = answer.json_object().get("error")
    message = err.get("message") if isinstance(err, dict) else err
    return f"HTTP {answer.status} {' '.join(str(message or answer.text()).split())[:160]}"


def parse(raw: dict[str, Any], at: v.Field) -> Router:
    checked = config.fields(raw, at, _KEYS, ("binary", "port"))
    return Router(
        binary=config.binary(checked["binary"], at / "binary"),
        port=config.port(checked["port"], at / "port"),
        args=config.argv(checked.get("args"), at / "args", RESERVED),
        host=config.host(checked.get("host"), at / "host"),
        logs=config.directory(checked.get("logs"), at / "logs"),
        start_timeout=config.timeout(checked.get("start_timeout"), at / "start_timeout", 30.0),
    )
