"""gitmodel gateway: the OpenAI-compatible proxy in front of real servers (runs until SIGTERM)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from gitmodel.cli import output


@click.command()
@click.option(
    "--root",
    type=click.Path(path_type=Path, file_okay=False),
    help="Host root, as `gitmodel deploy` writes it (default: the host file's root).",
)
@click.option(
    "--listen",
    metavar="HOST:PORT",
    help="Address for clients and the control endpoints (default: the host file's "
    "gateway.listen, else 127.0.0.1:8000; port 0 picks a free one).",
)
@click.option(
    "--route-header",
    metavar="HEADER",
    help="Request header whose value (user or session id) picks stable or canary "
    "(default X-Route-Key; without it a request gets a random key).",
)
@click.option(
    "--decision-log",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Append one JSON line per request: id, hashed key, version, role, status, latency.",
)
@click.option(
    "--drain",
    type=click.FloatRange(0, 3600),
    help="Seconds to let requests in flight finish, on SIGTERM and on a swap (default 30).",
)
@click.option(
    "--start-timeout",
    type=click.FloatRange(0.1, 3600),
    help="Seconds a backend gets to start and answer (default 30); keep the host's timeouts.reload above it.",
)
@click.option(
    "--loop",
    type=click.Choice(["auto", "uvloop", "asyncio"]),
    default="auto",
    show_default=True,
    help="Event loop: uvloop when installed (auto), or the standard library's.",
)
@click.option("-v", "--verbose", is_flag=True, help="Also log each fallback and backend detail.")
def gateway(
    root: Path | None,
    listen: str | None,
    route_header: str | None,
    decision_log: Path | None,
    drain: float | None,
    start_timeout: float | None,
    loop: str,
    verbose: bool,
) -> None:
    """Proxy /v1/completions, /v1/chat/completions and /v1/models to each model's backends.

    Starts a backend (the host file's `backend:`) for the version ROOT/NAME/current names
    and for the canary canary.json names; routes each request by its route header; retries a
    failed canary request on stable; exports /metrics per version. POST
    /-/gitmodel/reload?model=NAME swaps versions blue/green (the host file's reload URL);
    GET /-/gitmodel/info?model=NAME says which version serves (its info_url). docs/gateway.md.
    """
    import asyncio

    from gitmodel import localconfig
    from gitmodel.gateway.config import Options, make
    from gitmodel.gateway.runner import loop_factory, serve

    output.log_to_stderr(
        "gitmodel.gateway", "gitmodel gateway: %(message)s", logging.DEBUG if verbose else logging.INFO
    )
    host = localconfig.host_file()
    directory = localconfig.host_root(root)
    if not directory.is_dir():
        raise click.BadParameter(f"{directory} is not a directory", param_hint="--root")
    options = Options(listen, route_header, decision_log, drain, start_timeout)
    gw, address, port = make(directory.resolve(), host, options)
    with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
        runner.run(serve(gw, address, port))


COMMANDS = [gateway]
