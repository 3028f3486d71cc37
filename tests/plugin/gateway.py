"""The gateway in a thread, a fake backend that starts tiny OpenAI-compatible servers, a prober.

`FakeBackend` keeps the backend contract (gitmodel/backends/base.py) with real HTTP servers on
127.0.0.1, one per started version, whose behaviour a test sets per version with `Plan`:
refuse to start, fail confirmation, answer 5xx, answer slowly, hold a stream at a gate.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from gitmodel.backends.base import BackendRefused, Instance, VersionFiles
from gitmodel.gateway.app import Gateway, Settings
from gitmodel.gateway.decisions import DecisionLog
from gitmodel.gateway.metrics import Metrics
from gitmodel.gateway.runner import serve
from gitmodel.gateway.supervisor import FunctionalCheck, Supervisor, Timeouts
from plugin.server import make_version, swap_current


@dataclass
class Plan:
    """How one version's server behaves."""

    status: int = 200  # what completions answer
    refuse: str | None = None  # start raises BackendRefused with this
    unconfirmed: str | None = None  # confirm answers this
    delay: float = 0.0  # seconds before each answer
    gate: threading.Event | None = None  # a stream waits here after its first event
    upstream_model: str | None = None


class Upstream:
    """One version's tiny OpenAI-compatible server."""

    def __init__(self, files: VersionFiles, plan: Plan) -> None:
        self.files, self.plan = files, plan
        self.seen: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                outer.seen.append({"body": body, "request_id": self.headers.get("X-Request-Id")})
                if outer.plan.delay:
                    time.sleep(outer.plan.delay)
                if outer.plan.status >= 400:
                    self._send(outer.plan.status, {"error": f"{outer.files.version} failed"})
                elif body.get("stream"):
                    self._stream()
                else:
                    self._send(200, outer.answer(body))

            def do_GET(self) -> None:
                self._send(200, {"status": "ok", "version": outer.files.version})

            def _send(self, status: int, doc: dict[str, Any]) -> None:
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                version = outer.files.version
                first = {"choices": [{"text": f"{version} first"}]}
                self.wfile.write(f"data: {json.dumps(first)}\n\n".encode())
                self.wfile.flush()
                if outer.plan.gate is not None:
                    outer.plan.gate.wait(10)
                last = {"choices": [{"text": " last"}], "usage": {"prompt_tokens": 2, "completion_tokens": 7}}
                self.wfile.write(f"data: {json.dumps(last)}\n\ndata: [DONE]\n\n".encode())
                self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        self.alive = True

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        version = self.files.version
        return {
            "object": "text_completion",
            "model": body.get("model"),
            "version": version,
            "choices": [{"text": f"{version} says {body.get('prompt', '')}"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
        }

    def stop(self) -> None:
        if self.alive:
            self.alive = False
            self.server.shutdown()
            self.server.server_close()


class FakeBackend:
    kind = "fake"

    def __init__(self, plans: dict[str, Plan] | None = None) -> None:
        self.plans = plans or {}
        self.events: list[tuple[str, str, int]] = []  # (start|stop|refused, version, slot)
        self.live: dict[str, Upstream] = {}  # base_url -> server
        # (model, slot) -> the version holding it: a real backend's port for that model
        self.slots: dict[tuple[str, int], str] = {}
        self.lock = threading.Lock()

    def start(self, files: VersionFiles, slot: int, timeout: float) -> Instance:
        plan = self.plans.get(files.version, Plan())
        with self.lock:
            if (files.model, slot) in self.slots:  # a real backend would find its port taken
                raise AssertionError(f"slot {slot} still holds {self.slots[files.model, slot]}")
            if plan.refuse:
                self.events.append(("refused", files.version, slot))
                raise BackendRefused(plan.refuse)
            upstream = Upstream(files, plan)
            self.live[upstream.url] = upstream
            self.slots[files.model, slot] = files.version
            self.events.append(("start", files.version, slot))
        return Instance(files, upstream.url, plan.upstream_model, pid=None, state={"slot": slot})

    def confirm(self, instance: Instance) -> str | None:
        upstream = self.live.get(instance.base_url)
        if upstream is None or not upstream.alive:
            return "its server is not running"
        return self.plans.get(instance.files.version, Plan()).unconfirmed

    def stop(self, instance: Instance, timeout: float) -> None:
        with self.lock:
            upstream = self.live.pop(instance.base_url, None)
            slot = int(str(instance.state["slot"]))
            self.slots.pop((instance.files.model, slot), None)
            self.events.append(("stop", instance.files.version, slot))
        if upstream is not None:
            upstream.stop()

    def server(self, version: str, model: str = "support") -> Upstream:
        return next(u for u in self.live.values() if (u.files.model, u.files.version) == (model, version))

    def running(self) -> list[str]:
        return sorted(u.files.version for u in self.live.values() if u.alive)


def host_versions(root: Path, *versions: str, model: str = "support") -> Path:
    """A host root holding `versions` of `model` (distinct bytes each), the first current."""
    for version in versions:
        make_version(root, model, version, artifact="model.bin", data=f"{model} {version}".encode())
    swap_current(root, model, versions[0])
    return root


class GatewayThread:
    """The gateway, serving on 127.0.0.1 from its own event loop in a thread."""

    def __init__(
        self,
        root: Path,
        backend: Any,
        *,
        token: str | None = None,
        decision_log: Path | None = None,
        drain: float = 5.0,
        check: FunctionalCheck | None = None,
        start_timeout: float = 10.0,
        watch: float = 0.0,
    ) -> None:
        metrics = Metrics()
        timeouts = Timeouts(start=start_timeout, stop=5.0, drain=drain, watch=watch)
        self.supervisor = Supervisor(root, lambda model: backend, metrics, timeouts, check)
        settings = Settings(token=token, drain=drain)
        self.gw = Gateway(self.supervisor, settings, DecisionLog(decision_log))
        self._ready = threading.Event()
        self.url = ""
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self._ready.wait(20):
            raise AssertionError(f"the gateway did not start: {self.error}")
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await serve(self.gw, "127.0.0.1", 0, self._stop, self._on_ready)

        try:
            asyncio.run(main())
        except BaseException as exc:  # surfaced to the test
            self.error = exc
            self._ready.set()

    def _on_ready(self, url: str) -> None:
        self.url = url
        self._ready.set()

    def stop(self) -> None:
        if self.loop is not None and self._stop is not None and self.thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(20)

    def reload(self, model: str = "support") -> Reply:
        return request("POST", f"{self.url}/-/gitmodel/reload?model={model}")

    def info(self, model: str = "support") -> Reply:
        return request("GET", f"{self.url}/-/gitmodel/info?model={model}")

    def complete(self, key: str | None = None, **body: Any) -> Reply:
        headers = {"X-Route-Key": key} if key else {}
        return request("POST", f"{self.url}/v1/completions", {"prompt": "hi", **body}, headers)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    method: str, url: str, data: Any = None, headers: dict[str, str] | None = None, timeout: float = 10.0
) -> Reply:
    body = None if data is None else json.dumps(data).encode()
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Reply(r.status, dict(r.headers), r.read())
    except urllib.error.HTTPError as e:
        return Reply(e.code, dict(e.headers), e.read())


@dataclass
class Prober:
    """Sends one request every `interval` seconds from its own thread; records every outcome."""

    send: Callable[[], Reply]
    interval: float = 0.05
    outcomes: list[tuple[int, str]] = field(default_factory=list)  # (status, version or error)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                reply = self.send()
                self.outcomes.append((reply.status, reply.headers.get("X-Gitmodel-Version", "")))
            except OSError as exc:
                self.outcomes.append((0, str(exc)))
            self._stop.wait(self.interval)

    def stop(self) -> list[tuple[int, str]]:
        self._stop.set()
        self._thread.join(30)
        return self.outcomes

    def failures(self) -> list[tuple[int, str]]:
        return [o for o in self.outcomes if o[0] != 200]


def main() -> None:
    """A gateway process with the fake backend: ROOT PORT PLANS_JSON EVENTS_FILE (the SIGTERM test).

    Plans: {"v1.0.0": {"delay": 1.0}}; at exit the backend's events go to EVENTS_FILE.
    """
    import logging
    import sys

    root, port, plans, events = (
        Path(sys.argv[1]),
        int(sys.argv[2]),
        json.loads(sys.argv[3]),
        Path(sys.argv[4]),
    )
    logging.basicConfig(level=logging.INFO, format="gitmodel gateway: %(message)s")
    backend = FakeBackend({version: Plan(**plan) for version, plan in plans.items()})
    supervisor = Supervisor(root, lambda model: backend, Metrics(), Timeouts(drain=5.0))
    gw = Gateway(supervisor, Settings(drain=5.0))
    try:
        asyncio.run(serve(gw, "127.0.0.1", port))
    finally:
        events.write_text(json.dumps(backend.events))
