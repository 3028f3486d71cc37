"""The OpenAI-compatible endpoints: pick a version for each request and pass the answer through.

A request's model is its body's "model" when that names a model behind the gateway, else
the only model there is.  Its routing key is the route header (X-Route-Key by default):
the same key always reaches the same version (rollout/routing.py).  A request without
one gets a random key, so the canary also sees its share of anonymous traffic; a client
that must stay on one version sends a key.  A canary that answers 5xx or not at all is
retried once on stable before anything reaches the client; a stable failure is the
client's answer.  Streams (text/event-stream) are relayed chunk by chunk as they arrive.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from gitmodel.gateway.decisions import key_hash, request_id
from gitmodel.gateway.routes import CANARY, STABLE, Live
from gitmodel.gateway.upstream import Answer

if TYPE_CHECKING:
    from gitmodel.gateway.app import Gateway

log = logging.getLogger("gitmodel.gateway")

CLIENT_GONE = 499
FORWARDED = ("Content-Type", "Accept", "Authorization")  # what a backend may need from the client
_MAX_LINE = 1 << 20  # an SSE line longer than this carries no usage we will parse


def error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


async def infer(request: web.Request, gw: Gateway) -> web.StreamResponse:
    started = time.perf_counter()
    rid = request_id(request.headers.get("X-Request-Id"))
    body = await request.read()
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        return error(400, f"the body is not JSON ({exc})")
    if not isinstance(doc, dict):
        return error(400, 'the body must be a JSON object like {"model": "...", "prompt": "..."}')
    model = gw.model_for(doc.get("model"))
    if model is None:
        known = ", ".join(sorted(gw.supervisor.tables)) or "none yet"
        return error(404, f"no model {doc.get('model')!r} behind this gateway (models: {known})")
    given = request.headers.get(gw.settings.route_header)
    key = given or secrets.token_hex(8)
    picked = gw.supervisor.table(model).pick(key)
    if picked is None:
        return error(503, f"no version of {model} is serving; deploy one with `gitmodel deploy`")
    live, role = picked
    relay = Relay(gw, request, model, rid, doc, body)
    gw.inflight += 1
    try:
        status, live, role, fell_back = await relay.run(live, role)
    finally:
        gw.inflight -= 1
    if gw.decisions.enabled:
        gw.decisions.write(
            id=rid,
            model=model,
            key=key_hash(given) if given else None,
            version=live.version if live else None,
            role=role,
            fallback_from=fell_back,
            status=status,
            ms=round((time.perf_counter() - started) * 1000, 2),
        )
    return relay.response or error(502, f"{model}: no answer")  # every path sets one; never None


class Relay:
    """One client request through one or two attempts (canary, then stable)."""

    def __init__(
        self, gw: Gateway, request: web.Request, model: str, rid: str, doc: dict[str, Any], body: bytes
    ):
        self.gw, self.request, self.model, self.rid, self.doc, self.body = gw, request, model, rid, doc, body
        self.response: web.StreamResponse | None = None  # set by _relay

    async def run(self, live: Live, role: str) -> tuple[int, Live, str, str | None]:
        fell_back = None
        self._enter(live)
        try:
            started = time.perf_counter()
            answer = await self._send(live)
            if role == CANARY and (answer is None or answer.status >= 500):
                stable = self.gw.supervisor.table(self.model).stable
                if stable is not None and stable is not live:
                    failed = answer.status if answer is not None else 0
                    self._observe(live, started, failed)
                    self.gw.metrics.series(self.model, live.version).fallbacks.inc()
                    if answer is not None:
                        answer.release()  # its body unread: the connection closes
                    log.debug(
                        "%s canary %s answered %s; retrying on stable", self.model, live.version, failed
                    )
                    fell_back = live.version
                    self._leave(live)
                    live, role = stable, STABLE
                    self._enter(live)  # no await since the pick: the drain sees it
                    started = time.perf_counter()
                    answer = await self._send(live)
            status = await self._relay(live, role, answer, fell_back)
            self._observe(live, started, status)
            return status, live, role, fell_back
        finally:
            self._leave(live)

    def _enter(self, live: Live) -> None:
        live.inflight += 1
        self.gw.metrics.series(self.model, live.version).inflight.inc()

    def _leave(self, live: Live) -> None:
        live.inflight -= 1
        self.gw.metrics.series(self.model, live.version).inflight.dec()

    async def _send(self, live: Live) -> Answer | None:
        instance = live.instance
        body = self.body
        if instance.upstream_model is not None and self.doc.get("model") != instance.upstream_model:
            body = json.dumps({**self.doc, "model": instance.upstream_model}).encode()
        headers = {h: self.request.headers[h] for h in FORWARDED if h in self.request.headers}
        headers["X-Request-Id"] = self.rid
        try:
            return await self.gw.client.pool(instance.base_url).post(self.request.path, body, headers)
        except (OSError, TimeoutError) as exc:
            log.warning(
                "%s %s at %s did not answer (%s)", self.model, live.version, instance.base_url, _why(exc)
            )
            return None

    async def _relay(self, live: Live, role: str, answer: Answer | None, fell_back: str | None) -> int:
        headers = {"X-Gitmodel-Version": live.version, "X-Gitmodel-Role": role, "X-Request-Id": self.rid}
        if fell_back:
            headers["X-Gitmodel-Fallback-From"] = fell_back
        if answer is None:
            why = f"{self.model} {live.version} did not answer"
            self.response = web.json_response({"error": why}, status=502, headers=headers)
            self._close_if_draining()
            return 0  # counted as an error of that version; the client got a 502
        try:
            ctype = answer.headers.get("content-type", "application/json")
            headers["Content-Type"] = ctype
            if ctype.startswith("text/event-stream"):
                return await self._stream(live, answer, headers)
            try:
                data = await answer.read()
            except (OSError, TimeoutError) as exc:
                why = f"{self.model} {live.version} broke off its answer ({_why(exc)})"
                self.response = web.json_response({"error": why}, status=502, headers=headers)
                return 0
            self._count_tokens(live, _usage(data))
            self.response = web.Response(status=answer.status, body=data, headers=headers)
            self._close_if_draining()
            return answer.status
        finally:
            answer.release()  # pooled when read to its end, else closed: a generation stops

    async def _stream(self, live: Live, answer: Answer, headers: dict[str, str]) -> int:
        out = web.StreamResponse(status=answer.status, headers={**headers, "Cache-Control": "no-cache"})
        self.response = out
        self._close_if_draining()
        scan = UsageScan()
        try:
            await out.prepare(self.request)
            async for chunk in answer.chunks():
                scan.feed(chunk)
                await out.write(chunk)
            await out.write_eof()
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            return CLIENT_GONE  # the caller's release closes the upstream connection: generation stops
        except (OSError, TimeoutError) as exc:
            log.warning("%s %s broke off a stream (%s)", self.model, live.version, _why(exc))
            return 0
        finally:
            self._count_tokens(live, scan.usage)
        return answer.status

    def _close_if_draining(self) -> None:
        if self.gw.draining and self.response is not None:
            self.response.force_close()  # the client reconnects, to whoever listens then

    def _observe(self, live: Live, started: float, status: int) -> None:
        self.gw.metrics.series(self.model, live.version).observe(time.perf_counter() - started, status)

    def _count_tokens(self, live: Live, usage: dict[str, Any] | None) -> None:
        if not usage:
            return
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if _count(prompt) or _count(completion):
            self.gw.metrics.series(self.model, live.version).count_tokens(_count(prompt), _count(completion))


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _usage(data: bytes) -> dict[str, Any] | None:
    if b'"usage"' not in data:
        return None
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    usage = doc.get("usage") if isinstance(doc, dict) else None
    return usage if isinstance(usage, dict) else None


class UsageScan:
    """The last `usage` object in a server-sent event stream, read as the chunks pass."""

    def __init__(self) -> None:
        self.usage: dict[str, Any] | None = None
        self._tail = b""

    def feed(self, chunk: bytes) -> None:
        lines = (self._tail + chunk).split(b"\n")
        self._tail = lines.pop()
        if len(self._tail) > _MAX_LINE:
            self._tail = b""
        for line in lines:
            if line.startswith(b"data:") and b'"usage"' in line:
                found = _usage(line[5:].strip())
                self.usage = found or self.usage


def _why(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


async def models(request: web.Request, gw: Gateway) -> web.Response:
    """GET /v1/models: every model behind the gateway and the versions serving it."""
    data = []
    for model, table in sorted(gw.supervisor.tables.items()):
        data.append(
            {
                "id": model,
                "object": "model",
                "owned_by": "gitmodel",
                "created": int(table.stable.started_at) if table.stable else None,
                "version": table.stable.version if table.stable else None,
                "canary": table.canary.version if table.canary else None,
            }
        )
    return web.json_response({"object": "list", "data": data})
