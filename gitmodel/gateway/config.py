"""The gateway as the host file describes it: each model's backend, the listener, the token.

Flags override the host file's `gateway:` section (localconfig.py); a model's backend is
its `backend:` mapping, judged by gitmodel/backends/config.py when first needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gitmodel import localconfig
from gitmodel import validate as v
from gitmodel.backends.base import Backend
from gitmodel.errors import UsageError
from gitmodel.gateway.app import DEFAULT_ROUTE_HEADER, Gateway, Settings
from gitmodel.gateway.checking import version_checks
from gitmodel.gateway.decisions import DecisionLog
from gitmodel.gateway.metrics import Metrics
from gitmodel.gateway.supervisor import BackendFor, FunctionalCheck, Supervisor, Timeouts

DEFAULT_LISTEN = "127.0.0.1:8000"


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
                "{kind: llama-cpp, binary: PATH, ports: [P1, P2]}}}}` (docs/gateway.md)"
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
    return gw, address, port
