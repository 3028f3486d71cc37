"""The gateway as the host file describes it: each model's backend, the listener, the token.

Flags override the host file's `gateway:` section (localconfig.py); a model's backend is
its `backend:` mapping, judged by gitmodel/backends/config.py when first needed.

The file is read again before every reload (SIGHUP, POST /-/gitmodel/reload), and what may
change while serving is applied: a model's backend (added, changed or taken away: its next
reload starts its versions on the new one, blue/green, or stops serving it), the token, the
route header, the drain and start times, the decision log.  The listen address and the
root take a restart (said in the log).  A file that does not parse, or names a backend that
does not, is refused in one log line and the settings read before stay.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodel import localconfig
from gitmodel import validate as v
from gitmodel.backends.base import Backend
from gitmodel.errors import GitModelError, UsageError
from gitmodel.gateway import layout
from gitmodel.gateway.app import DEFAULT_ROUTE_HEADER, Gateway, Settings
from gitmodel.gateway.checking import version_checks
from gitmodel.gateway.decisions import DecisionLog
from gitmodel.gateway.metrics import Metrics
from gitmodel.gateway.supervisor import BackendFor, FunctionalCheck, Supervisor, Timeouts

DEFAULT_LISTEN = "127.0.0.1:8000"

log = logging.getLogger("gitmodel.gateway")


@dataclass(frozen=True)
class Options:
    """What the command line says; None: as the host file says, else the default."""

    listen: str | None = None
    route_header: str | None = None
    decision_log: Path | None = None
    drain: float | None = None
    start_timeout: float | None = None


def backend_for(host: localconfig.HostFile) -> BackendFor:
    def build(model: str) -> Backend:
        found = host.backend(model)
        if found is None:
            raise UsageError(
                f"{host.path} names no backend for {model}; add `models: {{{model}: {{backend: "
                "{kind: llama-cpp, binary: PATH, ports: [P1, P2]}}}` (docs/gateway.md)"
            )
        from gitmodel.backends import config

        mapping, at = found
        return config.parse(dict(mapping), at)

    return build


def read_token(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise UsageError(f"gateway token file {path}: {exc.strerror}; fix `gateway: token_file`") from None
    if not token:
        raise UsageError(f"gateway token file {path} is empty; write a long random token into it")
    return token


def make(
    root: Path,
    host: localconfig.HostFile,
    options: Options,
    functional_check: FunctionalCheck | None = None,
) -> tuple[Gateway, str, int]:
    """The gateway and the address to listen on; raises UsageError before anything starts.

    The functional check defaults to each version's own checks (checking.py).
    """
    file = host.gateway
    listen = options.listen or file.listen or DEFAULT_LISTEN
    address, port = localconfig.listen_address(
        listen, v.Field("--listen" if options.listen else str(host.path))
    )
    timeouts = Timeouts()
    start = options.start_timeout if options.start_timeout is not None else file.start_timeout
    if start is not None:
        timeouts.start = start
    drain = options.drain if options.drain is not None else file.drain
    if drain is not None:
        timeouts.drain = drain
    settings = Settings(
        route_header=options.route_header or file.route_header or DEFAULT_ROUTE_HEADER,
        token=read_token(file.token_file) if file.token_file else None,
        drain=timeouts.drain,
    )
    metrics = Metrics()
    check = functional_check or version_checks(timeouts.start)
    supervisor = Supervisor(root, backend_for(host), metrics, timeouts, check)
    decisions = DecisionLog(options.decision_log or file.decision_log)
    gw = Gateway(supervisor, settings, decisions)
    gw.claim_root = True
    gw.reread = rereader(gw, host, options)
    return gw, address, port


def rereader(gw: Gateway, host: localconfig.HostFile, options: Options) -> Callable[[], None]:
    """What the gateway calls before a reload: read the host file again and apply it."""
    read = [host]  # the file as last applied

    def reread() -> None:
        old = read[0]
        try:
            new = localconfig.host_file(old.path)
            said = _apply(gw, old, new, options)
        except GitModelError as exc:
            log.warning("%s refused: %s; the settings read before stay", old.path, exc.message)
            return
        read[0] = new
        if said:
            log.info("%s read again: %s", old.path, "; ".join(said))

    return reread


def _mapping(found: tuple[Mapping[str, Any], v.Field] | None) -> Mapping[str, Any] | None:
    return None if found is None else found[0]


def _apply(gw: Gateway, old: localconfig.HostFile, new: localconfig.HostFile, options: Options) -> list[str]:
    """Apply NEW where it differs from OLD; what changed, for the log.  Raises before changing
    anything when any part of NEW cannot be used."""
    was, now = old.gateway, new.gateway
    token = read_token(now.token_file) if now.token_file else None
    supervisor = gw.supervisor
    build = backend_for(new)
    models = sorted(set(supervisor.tables) | set(layout.models_in(supervisor.root)))
    changed = [m for m in models if _mapping(old.backend(m)) != _mapping(new.backend(m))]
    for model in changed:
        if new.backend(model) is not None:
            build(model)  # a ConfigError names the field; nothing is applied
    logfile = options.decision_log or now.decision_log
    decisions = None
    if logfile != gw.decisions.path:
        try:
            decisions = DecisionLog(logfile)
        except OSError as exc:
            raise UsageError(f"decision log {logfile}: {exc.strerror}") from None

    said = [f"{m}: {'a new backend' if new.backend(m) else 'no backend, it stops serving'}" for m in changed]
    supervisor.rebackend(build, changed)
    settings, timeouts = gw.settings, supervisor.timeouts
    if token != settings.token:
        settings.token = token
        said.append("a new token" if token else "no token: control from loopback only")
    header = options.route_header or now.route_header or DEFAULT_ROUTE_HEADER
    if header != settings.route_header:
        settings.route_header = header
        said.append(f"route header {header}")
    default = Timeouts()
    drain = next(t for t in (options.drain, now.drain, default.drain) if t is not None)
    if drain != timeouts.drain:
        settings.drain = timeouts.drain = drain
        said.append(f"drain {drain:g} s")
    start = next(t for t in (options.start_timeout, now.start_timeout, default.start) if t is not None)
    if start != timeouts.start:
        timeouts.start = start
        said.append(f"start timeout {start:g} s")
    if decisions is not None:
        gw.decisions.close()
        gw.decisions = decisions
        said.append(f"decision log {logfile}" if logfile else "no decision log")
    if now.listen != was.listen and options.listen is None:
        said.append(f"gateway.listen {now.listen} takes a restart")
    if new.root != old.root:
        said.append(f"root {new.root} takes a restart")
    return said
