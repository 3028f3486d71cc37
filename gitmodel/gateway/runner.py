"""Run the gateway until SIGTERM or SIGINT: listen, start every model's backends, drain, stop.

On a stop signal the listener closes first (new connections are refused, so a restarted
gateway or a load balancer takes them), requests in flight finish (bounded by the drain
time; answers given meanwhile close their connection), then every supervised backend is
stopped and the process exits 0.  SIGHUP re-reads the host file and reloads every model,
like POST /-/gitmodel/reload does one.
Meanwhile a watchdog confirms every serving instance every few seconds and starts a dead
one again (supervisor.watch).  Before any backend starts, what a killed previous gateway
left running on the same root is stopped (leftovers.py).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import time
from collections.abc import Callable

from aiohttp import web

from gitmodel.errors import UsageError
from gitmodel.gateway import layout, leftovers
from gitmodel.gateway.app import Gateway, build

log = logging.getLogger("gitmodel.gateway")


class GatewayError(UsageError):
    """The gateway cannot start (port in use, bad address)."""


def loop_factory(choice: str = "auto") -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when it is installed (auto) or asked for; None: the standard library's.

    uvloop (libuv) cut the gateway's added latency and raised its request rate against the
    standard loop in bench/gateway_overhead.py (figures in bench/README.md).
    """
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise GatewayError(
                "uvloop is not installed; `pip install uvloop`, or use --loop asyncio"
            ) from None
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


async def reload_all(gw: Gateway) -> None:
    """Re-read the host file, then bring every model in line with ROOT (SIGHUP, and at start)."""
    if gw.reread is not None:
        gw.reread()
    for model in layout.models_in(gw.supervisor.root):
        outcome = await gw.supervisor.reload(model)
        body = outcome.body
        if outcome.status == 200:
            canary = body.get("canary") or {}
            extra = f", canary {canary['version']}" if canary.get("version") else ""
            log.info("%s: %s %s%s", model, body["status"], body.get("version") or "(nothing deployed)", extra)
        else:
            log.warning("%s: %s", model, body.get("error"))


async def serve(
    gw: Gateway,
    host: str,
    port: int,
    stop: asyncio.Event | None = None,
    ready: Callable[[str], None] | None = None,
) -> str:
    """Serve until `stop` is set or a stop signal arrives; returns what stopped it."""
    stop = stop or asyncio.Event()
    stopped_by: list[str] = []
    runner = web.AppRunner(build(gw), handle_signals=False, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        if exc.errno == errno.EADDRINUSE:
            raise GatewayError(f"{host}:{port} is already in use; pick another --listen") from None
        raise GatewayError(f"cannot listen on {host}:{port} ({exc.strerror}); check --listen") from None
    bound = runner.addresses[0]
    url = f"http://{bound[0]}:{bound[1]}"
    if gw.claim_root:
        try:
            await asyncio.to_thread(leftovers.claim, gw.supervisor.root, bound[1])
        except BaseException:
            await runner.cleanup()
            raise
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []

    def on_stop(sig: signal.Signals) -> None:
        stopped_by.append(sig.name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, on_stop, sig)
            handled.append(sig)
        except (RuntimeError, ValueError):  # not the main thread (tests run it in one)
            break
    if handled:
        reloads: set[asyncio.Task[None]] = set()  # the loop keeps only weak references to tasks

        def on_hup() -> None:
            task = loop.create_task(reload_all(gw))
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        loop.add_signal_handler(signal.SIGHUP, on_hup)
        handled.append(signal.SIGHUP)
    log.info("listening on %s (pid %d); root %s", url, os.getpid(), gw.supervisor.root)
    watchdog = None
    try:
        await reload_all(gw)
        if gw.supervisor.timeouts.watch > 0:
            watchdog = asyncio.create_task(_watch(gw))
        if ready is not None:
            ready(url)
        await stop.wait()
    finally:
        if watchdog is not None:
            watchdog.cancel()
        for sig in handled:
            loop.remove_signal_handler(sig)
        left = await _drain(gw, site)
        await gw.supervisor.stop_all()
        await runner.cleanup()
        await gw.close()
    why = stopped_by[0] if stopped_by else "stop"
    cut = f"; {left} requests cut off after {gw.settings.drain:g} s" if left else ""
    log.info("stopped (%s)%s", why, cut)
    return why


async def _watch(gw: Gateway) -> None:
    """Every `watch` seconds, confirm every serving instance; a dead one is started again."""
    while True:
        await asyncio.sleep(gw.supervisor.timeouts.watch)
        for model in list(gw.supervisor.tables):
            try:
                await gw.supervisor.watch(model)
            except Exception:  # the watchdog must outlive any one model's trouble
                log.exception("watching %s", model)


async def _drain(gw: Gateway, site: web.TCPSite) -> int:
    gw.draining = True
    await site.stop()  # no new connections from here on
    deadline = time.monotonic() + gw.settings.drain
    while gw.inflight and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    return gw.inflight
