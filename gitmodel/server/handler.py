"""HTTP endpoints: /info, /health, /metrics, POST /v1/completions, POST /reload.

Every request a client gets wrong is answered with a 4xx and one line saying why (bad
JSON or types 400, unknown path 404, wrong method 405, a stalled request 408, no length
411, too large 413, too many connections 429); a 5xx means the server itself failed
(or an injected fault), since `gitmodel monitor` reads the 5xx rate as a verdict on the
version.  What a client may cost is bounded in limits.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from gitmodel.server.app import App
from gitmodel.server.limits import DeadlineReader, Gate, Limits, linger, reload_refusal, turn_away
from gitmodel.server.loaded import LoadedModel
from gitmodel.server.roles import CANARY
from gitmodel.server.toy import MAX_WORDS, complete

log = logging.getLogger("gitmodel.server")

CLIENT_GONE = 499  # nginx's word for a client that hung up first: a 4xx, not our failure
MAX_LINE = 8192  # the request line; headers are bounded by http.client (100 of 64 KiB)
_LENGTH = re.compile(r"[0-9]{1,19}")
# path -> method -> handler method name
_ROUTES = {
    "/health": {"GET": "_health"},
    "/info": {"GET": "_info"},
    "/metrics": {"GET": "_metrics"},
    "/v1/completions": {"POST": "_complete"},
    "/reload": {"POST": "_reload"},
}


class Refused(Exception):
    """A request the client got wrong: answered with `status` and `message`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Server(ThreadingHTTPServer):
    daemon_threads = True  # a stuck client must not hold shutdown; drain() bounds the wait

    def __init__(self, address: tuple[str, int], app: App, limits: Limits | None = None) -> None:
        self.app = app
        self.limits = limits or Limits()
        self.gate = Gate(self.limits)
        self._admitted: dict[Any, str] = {}  # socket -> peer, until the socket is closed
        super().__init__(address, Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Checked before a thread exists: a client over its cap costs one short write.
        peer = str(client_address[0])
        refused = self.gate.enter(peer)
        if refused is not None:
            if count := self.gate.refusals_to_log(time.monotonic()):
                log.warning("turned away %d connection(s), the last from %s: %s", count, peer, refused[1])
            turn_away(request, *refused)
            self.shutdown_request(request)
            return
        self._admitted[request] = peer
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        # Every path ends here, a failed thread start included. The slot is freed before the
        # close, so a client that saw our EOF and connects again finds it free (after an
        # error answer, linger() shows it EOF up to LINGER seconds earlier).
        peer = self._admitted.pop(request, None)
        if peer is not None:
            self.gate.leave(peer)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The base prints a traceback to stderr; one line is enough (a client hung up, ...).
        exc = sys.exc_info()[1]
        log.warning("request from %s failed: %s: %s", client_address[0], type(exc).__name__, exc)


class Handler(BaseHTTPRequestHandler):
    server: Server
    _answered = False
    _status = 0  # the status sent, once sent
    default_request_version = "HTTP/1.0"  # else a garbage line's 400 goes out headerless (0.9)

    def version_string(self) -> str:
        return "gitmodel-serve"

    def setup(self) -> None:
        super().setup()
        # One deadline for everything the client sends (see limits.py).
        self.rfile.close()
        deadline = time.monotonic() + self.server.limits.deadline
        self.rfile = io.BufferedReader(DeadlineReader(self.connection, deadline))

    def handle_one_request(self) -> None:
        # The base answers an unknown method with 501 and a stalled one with silence;
        # both are the client's doing, so they get a 4xx here.
        try:
            self.raw_requestline = self.rfile.readline(MAX_LINE + 1)
            if not self.raw_requestline:
                self.close_connection = True
                return
            if len(self.raw_requestline) > MAX_LINE:
                self.requestline = self.request_version = self.command = ""
                self.send_error(414, f"the request line is over {MAX_LINE} bytes")
                return
            if not self.parse_request():
                return  # it answered already (400, 431 or 505)
            self._dispatch()
            self.wfile.flush()
        except Refused as exc:
            self._last_word(exc.status, exc.message)
        except TimeoutError:
            limit = self.server.limits.deadline
            self._last_word(408, f"the request did not arrive within {limit:g} s")
        except ConnectionError:
            self.close_connection = True  # the client went away; nobody to answer
        except Exception:
            log.exception("%s %s failed", self.command, getattr(self, "path", "?"))
            self._last_word(500, "internal error; see the server log")
        finally:
            self.close_connection = True
            if self._status >= 400:
                linger(self.connection)  # so the client reads the 4xx, not a reset

    def _dispatch(self) -> None:
        path = self.path.split("?", 1)[0]
        methods = _ROUTES.get(path)
        if methods is None:
            self._skip_body()
            known = ", ".join(f"{m} {p}" for p, ms in _ROUTES.items() for m in ms)
            raise Refused(404, f"no such endpoint {path[:200]}; try {known}")
        name = methods.get(self.command)
        if name is None:
            self._skip_body()
            allowed = ", ".join(methods)
            self._json(405, {"error": f"{path} takes {allowed}, not {self.command[:20]}"}, {"Allow": allowed})
            return
        getattr(self, name)(self.server.app)

    def _metrics(self, app: App) -> None:
        body, ctype = app.metrics.exposition()
        self._send(200, body, ctype)

    def _reload(self, app: App) -> None:
        self._skip_body()
        refused = reload_refusal(
            self.server.limits, self.client_address[0], self.headers.get("Authorization")
        )
        if refused is not None:
            log.warning("POST /reload from %s refused: %s", self.client_address[0], refused[1])
            extra = {"WWW-Authenticate": 'Bearer realm="gitmodel-serve"'} if refused[0] == 401 else None
            self._json(refused[0], {"error": refused[1]}, extra)
            return
        result = app.reload("POST /reload")
        self._json(200 if result.ok else 409, result.as_dict())

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
            self._skip_body()
            self._json(503, {"error": app.unavailable or f"no version loaded for role {role!r}"})
            return
        start = time.perf_counter()
        app.begin()
        app.metrics.inflight.labels(lm.model, lm.version).inc()
        status = 500  # stays so only when we failed: a real server error
        try:
            status = self._answer(app, lm, role)
        except ConnectionError:  # the client hung up: what we meant to answer, else 499
            status = self._status or CLIENT_GONE
            raise
        finally:
            app.metrics.inflight.labels(lm.model, lm.version).dec()
            app.metrics.observe(lm.model, lm.version, time.perf_counter() - start, status)
            app.end()

    def _answer(self, app: App, lm: LoadedModel, role: str) -> int:
        headers = {"X-Gitmodel-Version": lm.version, "X-Gitmodel-Role": role}
        try:
            prompt, max_tokens = _prompt(self._read_body())
        except Refused as exc:
            return self._json(exc.status, {"error": exc.message, "version": lm.version}, headers)
        except TimeoutError:
            limit = self.server.limits.deadline
            message = f"the request did not arrive within {limit:g} s"
            return self._json(408, {"error": message, "version": lm.version}, headers)
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
        if "Transfer-Encoding" in self.headers:
            raise Refused(411, "send the body with a Content-Length; chunked bodies are not accepted")
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths:
            return b""
        raw = lengths[0].strip()
        if len(set(lengths)) > 1 or not _LENGTH.fullmatch(raw):
            raise Refused(400, f"Content-Length {', '.join(lengths)[:60]!r} is not one non-negative integer")
        length, limit = int(raw), self.server.limits.max_body
        if length > limit:
            raise Refused(413, f"the request body is {length} bytes, over the limit of {limit}")
        body = self.rfile.read(length)
        if len(body) < length:
            raise Refused(400, f"the body ended after {len(body)} of {length} bytes")
        return body

    def _skip_body(self) -> None:
        # Read a body nobody needs, so closing does not reset the connection under our answer.
        with contextlib.suppress(Refused):
            self._read_body()

    def _last_word(self, status: int, message: str) -> None:
        """Answer an error if nothing was sent yet; the connection closes after it either way."""
        self.close_connection = True
        if self._answered:
            return
        with contextlib.suppress(OSError):
            self._json(status, {"error": message}, {"Connection": "close"})

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # The base writes an HTML page; every answer of ours is JSON.  Only request parsing
        # calls this, so even its 505 (HTTP/2.0 in the request line) is the client's error.
        why = message or self.responses.get(code, ("error",))[0]
        self._last_word(400 if code >= 500 else code, why)

    def send_response(self, code: int, message: str | None = None) -> None:
        self._answered, self._status = True, code
        self.connection.settimeout(self.server.limits.deadline)  # a client that never reads
        super().send_response(code, message)

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
    except ValueError as exc:  # bad UTF-8 and over-long integers too
        raise Refused(400, f"the body is not JSON ({exc})") from None
    except RecursionError:
        raise Refused(400, "the body is not JSON we accept (nested too deeply)") from None
    if not isinstance(request, dict):
        raise Refused(400, 'the body must be a JSON object like {"prompt": "..."}')
    prompt = request.get("prompt")
    if not isinstance(prompt, str):
        raise Refused(400, '"prompt" must be a string')
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError:
        raise Refused(400, '"prompt" is not valid Unicode (a lone surrogate escape?)') from None
    max_tokens = request.get("max_tokens", 16)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 0:
        raise Refused(400, '"max_tokens" must be a non-negative integer')
    return prompt, min(max_tokens, MAX_WORDS)
