"""The gateway's state and its HTTP routes, on one aiohttp listener.

    POST /v1/completions, /v1/chat/completions   proxied to stable or canary (proxy.py)
    GET  /v1/models                              the models behind the gateway
    GET  /health, /metrics                       liveness; Prometheus text format
    POST /-/gitmodel/reload?model=NAME           re-read ROOT for NAME (control.py)
    GET  /-/gitmodel/info?model=NAME             which version serves NAME

Why aiohttp: an LLM proxy mostly holds long streams open.  Measured on this 2-core machine
(bench/gateway_overhead.py, figures in bench/README.md), 300 clients streaming 1-second
generations through it: 150-167 streams/s and 0 failed, where a ThreadingHTTPServer +
http.client proxy managed 9-58 streams/s with 59-130 failed (listen backlog, a thread per
stream).  For one client at a time the threaded proxy added less (0.3-2.3 ms vs 0.45-2.4 ms
at p50, load average 11-18).  aiohttp's client was then half of the gateway's CPU per
request; backends are now reached by upstream.py's small keep-alive HTTP/1.1 client.
aiohttp is already installed (DVC depends on it); tests/test_layering.py keeps it here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gitmodel.errors import GitModelError
from gitmodel.gateway import control, proxy, upstream
from gitmodel.gateway.decisions import DecisionLog
from gitmodel.gateway.metrics import Metrics
from gitmodel.gateway.supervisor import Supervisor
from gitmodel.refs import parse_model

DEFAULT_ROUTE_HEADER = "X-Route-Key"
MAX_BODY = 32 << 20  # a long chat history is megabytes; beyond this is a client bug


@dataclass
class Settings:
    route_header: str = DEFAULT_ROUTE_HEADER
    token: str | None = None  # required on every control request when set
    drain: float = 30.0  # seconds for requests in flight on SIGTERM
    connect_timeout: float = 5.0
    read_timeout: float = 600.0  # between two reads from a backend: a long generation may pause


class Gateway:
    def __init__(
        self, supervisor: Supervisor, settings: Settings | None = None, decisions: DecisionLog | None = None
    ) -> None:
        self.supervisor = supervisor
        self.metrics: Metrics = supervisor.metrics
        self.settings = settings or Settings()
        self.decisions = decisions or DecisionLog(None)
        self.inflight = 0  # client requests being answered now (the SIGTERM drain waits for them)
        self.draining = False
        # Stop what a killed previous gateway on this root left running, before starting
        # backends (leftovers.py); the command sets it, a gateway embedded in a test does not.
        self.claim_root = False
        # Re-reads the host file and applies what may change while serving (config.py); run
        # before every reload, SIGHUP's and POST /-/gitmodel/reload's.  None: no host file.
        self.reread: Callable[[], None] | None = None
        self.client = upstream.Client(self.settings.connect_timeout, self.settings.read_timeout)

    async def close(self) -> None:
        self.client.close()
        self.decisions.close()

    def model_for(self, name: object) -> str | None:
        """The model a request names, or the only one; None when neither."""
        tables = self.supervisor.tables
        if isinstance(name, str) and name:
            if name in tables:  # the usual case, without parsing the name again
                return name
            try:
                model = parse_model(name)
            except GitModelError:
                model = None
            if model in tables:
                return model
        return next(iter(tables)) if len(tables) == 1 else None

    def health(self) -> tuple[int, dict[str, Any]]:
        roles = {
            m: {
                "stable": t.stable.version if t.stable else None,
                "canary": t.canary.version if t.canary else None,
            }
            for m, t in sorted(self.supervisor.tables.items())
        }
        ok = bool(roles) and all(r["stable"] for r in roles.values()) and not self.draining
        status = "draining" if self.draining else "ok" if ok else "unavailable"
        return (200 if ok else 503), {"status": status, "models": roles}


GATEWAY = web.AppKey("gateway", Gateway)


def build(gw: Gateway) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    app[GATEWAY] = gw

    async def infer(request: web.Request) -> web.StreamResponse:
        return await proxy.infer(request, gw)

    async def models(request: web.Request) -> web.Response:
        return await proxy.models(request, gw)

    async def health(request: web.Request) -> web.Response:
        status, body = gw.health()
        return web.json_response(body, status=status)

    async def metrics(request: web.Request) -> web.Response:
        data, ctype = gw.metrics.exposition()
        return web.Response(body=data, headers={"Content-Type": ctype})

    async def reload(request: web.Request) -> web.Response:
        return await control.reload(request, gw)

    async def info(request: web.Request) -> web.Response:
        return await control.info(request, gw)

    app.router.add_post("/v1/completions", infer)
    app.router.add_post("/v1/chat/completions", infer)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    app.router.add_post(control.PREFIX + "reload", reload)
    app.router.add_get(control.PREFIX + "info", info)
    return app
