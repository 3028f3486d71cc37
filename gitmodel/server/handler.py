"""HTTP endpoints: /info, /health, /metrics, POST /v1/completions, POST /reload."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from gitmodel.server.app import App
from gitmodel.server.loaded import LoadedModel
from gitmodel.server.roles import CANARY
from gitmodel.server.toy import MAX_WORDS, complete

log = logging.getLogger("gitmodel.server")

MAX_BODY = 1 << 20  # a toy prompt; anything larger is a client bug


class Server(ThreadingHTTPServer):
    daemon_threads = True  # a stuck client must not hold shutdown; drain() bounds the wait

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        super().__init__(address, Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The base prints a traceback to stderr; one line is enough (a client hung up, ...).
        exc = sys.exc_info()[1]
        log.warning("request from %s failed: %s: %s", client_address[0], type(exc).__name__, exc)


class Handler(BaseHTTPRequestHandler):
    server: Server

    def version_string(self) -> str:
        return "gitmodel-serve"

    def do_GET(self) -> None:
        app = self.server.app
        path = self.path.split("?", 1)[0]
        if path == "/health":
            self._health(app)
        elif path == "/info":
            self._info(app)
        elif path == "/metrics":
            body, ctype = app.metrics.exposition()
            self._send(200, body, ctype)
        else:
            self._json(404, {"error": f"no such endpoint {path}; try /info, /health, /metrics"})

    def do_POST(self) -> None:
        app = self.server.app
        path = self.path.split("?", 1)[0]
        if path == "/v1/completions":
            self._complete(app)
        elif path == "/reload":
            self._discard_body()
            result = app.reload("POST /reload")
            self._json(200 if result.ok else 409, result.as_dict())
        else:
            self._json(404, {"error": f"no such endpoint {path}; try /v1/completions, /reload"})

    def _health(self, app: App) -> None:
        lm = app.models.get()
        if lm is None:
            self._json(
                503, {"status": "unavailable", "model": app.model, "version": None, "reason": app.unavailable}
            )
        else:
            self._json(200, {"status": "ok", "model": app.model, "version": lm.version, "roles": _roles(app)})

    def _info(self, app: App) -> None:
        lm = app.models.get()
        if lm is None:
            self._json(503, {"model": app.model, "version": None, "error": app.unavailable})
        else:
            self._json(200, {**lm.info(), "roles": _roles(app), "canary": _canary(app)})

    def _complete(self, app: App) -> None:
        loaded = app.models.snapshot()  # taken once: a reload from here on does not affect us
        role = app.router({k.lower(): v for k, v in self.headers.items()}, loaded) if loaded else ""
        lm = loaded.get(role)
        if lm is None:
            self._discard_body()
            self._json(503, {"error": app.unavailable or f"no version loaded for role {role!r}"})
            return
        start = time.perf_counter()
        app.begin()
        app.metrics.inflight.labels(lm.model, lm.version).inc()
        status = 500
        try:
            status = self._answer(app, lm, role)
        finally:
            app.metrics.inflight.labels(lm.model, lm.version).dec()
            app.metrics.observe(lm.model, lm.version, time.perf_counter() - start, status)
            app.end()

    def _answer(self, app: App, lm: LoadedModel, role: str) -> int:
        headers = {"X-Gitmodel-Version": lm.version, "X-Gitmodel-Role": role}
        try:
            prompt, max_tokens = _prompt(self._read_body())
        except ValueError as exc:
            return self._json(400, {"error": str(exc), "version": lm.version}, headers)
        seq = lm.next_request()
        if lm.faults.latency_ms:
            time.sleep(lm.faults.latency_ms / 1000)
        if lm.faults.fails(seq):
            return self._json(
                500,
                {"error": f"injected fault (error_rate {lm.faults.error_rate:g})", "version": lm.version},
                headers,
            )
        result = complete(lm, prompt, max_tokens)
        app.metrics.count_tokens(
            lm.model, lm.version, result["usage"]["prompt_tokens"], result["usage"]["completion_tokens"]
        )
        return self._json(200, result, headers)

    def _read_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise ValueError("Content-Length is not a number") from None
        if length > MAX_BODY:
            raise ValueError(f"the request body is over {MAX_BODY} bytes")
        return self.rfile.read(length) if length > 0 else b""

    def _discard_body(self) -> None:
        # A bad length is ignored: the connection closes after the answer (HTTP/1.0).
        with contextlib.suppress(ValueError):
            self._read_body()

    def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> int:
        body = (json.dumps(data, indent=2) + "\n").encode()
        self._send(status, body, "application/json", headers)
        return status

    def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # One line per request on stderr would drown the reload lines; keep it at debug.
        log.debug("%s %s", self.address_string(), format % args)


def _canary(app: App) -> dict[str, Any] | None:
    loaded = app.models.get(CANARY)
    split = app.router.describe()
    if loaded is None or split is None or split["version"] != loaded.version:
        return None
    return {**split, "loaded_at": loaded.loaded_at, "content_hash": loaded.content_hash}


def _roles(app: App) -> dict[str, str]:
    return {role: lm.version for role, lm in app.models.snapshot().items()}


def _prompt(body: bytes) -> tuple[str, int]:
    try:
        request = json.loads(body or b"null")
    except ValueError as exc:
        raise ValueError(f"the body is not JSON ({exc})") from None
    if not isinstance(request, dict):
        raise ValueError('the body must be a JSON object like {"prompt": "..."}')
    prompt = request.get("prompt")
    if not isinstance(prompt, str):
        raise ValueError('"prompt" must be a string')
    max_tokens = request.get("max_tokens", 16)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 0:
        raise ValueError('"max_tokens" must be a non-negative integer')
    return prompt, min(max_tokens, MAX_WORDS)
