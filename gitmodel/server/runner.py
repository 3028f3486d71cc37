"""Run the server until SIGTERM or SIGINT; SIGHUP reloads.

The HTTP loop runs in a thread and the main thread only waits for a stop signal:
``shutdown()`` called from a signal handler on the thread running ``serve_forever``
would wait for itself. A reload never runs inside a signal handler either (a second
SIGHUP arriving mid-reload would re-enter it); the handler hands it to a thread.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import threading
from types import FrameType

from gitmodel.server.app import App, describe
from gitmodel.server.errors import ServeError
from gitmodel.server.handler import Server
from gitmodel.server.limits import TOKEN_ENV, Limits, is_loopback

log = logging.getLogger("gitmodel.server")


def bind(app: App, host: str, port: int, limits: Limits | None = None) -> Server:
    """Listen on host:port; `limits` default to the documented ones and the env's reload token."""
    try:
        return Server((host, port), app, limits or Limits.from_env())
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ServeError(f"{host}:{port} is already in use; pick another --port") from None
        raise ServeError(f"cannot listen on {host}:{port} ({exc.strerror}); check --host") from None


def serve(app: App, server: Server, drain_seconds: float = 10.0) -> str:
    """Serve until a stop signal; returns the signal's name. Call from the main thread."""
    stop = threading.Event()
    stopped_by: list[str] = []

    def on_stop(signum: int, frame: FrameType | None) -> None:
        stopped_by.append(signal.Signals(signum).name)
        stop.set()

    def on_hup(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=app.reload, args=("SIGHUP",), name="reload", daemon=True).start()

    previous = {
        s: signal.signal(s, h)
        for s, h in ((signal.SIGTERM, on_stop), (signal.SIGINT, on_stop), (signal.SIGHUP, on_hup))
    }
    loop = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="http", daemon=True
    )
    loop.start()
    host, port = server.server_address[:2]
    lm = app.models.get()
    state = (
        f"serving {app.model} {lm.version} ({describe(lm)})"
        if lm
        else f"waiting for a version of {app.model} (503 until a reload loads one)"
    )
    log.info("%s on http://%s:%s (pid %d)", state, host, port, os.getpid())
    if not is_loopback(str(host)):
        who = "token holders" if server.limits.reload_token else f"loopback only (set {TOKEN_ENV})"
        log.warning(
            "listening beyond loopback on %s: completions have no authentication; POST /reload: %s",
            host,
            who,
        )
    try:
        # Wake up regularly: signal handlers run on the main thread only between bytecodes,
        # and an untimed wait can hold them off under load.
        while not stop.wait(0.2):
            pass
    finally:
        server.shutdown()
        loop.join(timeout=5)
        left = app.drain(drain_seconds)
        server.server_close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    why = stopped_by[0] if stopped_by else "stop"
    cut = f"; {left} requests cut off after {drain_seconds:g} s" if left else ""
    log.info("stopped (%s)%s", why, cut)
    return why
