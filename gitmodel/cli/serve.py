"""gitmodel serve: the reference inference server (runs until SIGTERM or SIGINT)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from gitmodel.cli import output


@click.command()
@click.argument("name")
@click.option(
    "--root",
    required=True,
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="Host root holding NAME/versions/ and NAME/current, as `gitmodel deploy` writes them.",
)
@click.option("--port", required=True, type=click.IntRange(0, 65535), help="TCP port (0: any free one).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="VERSION:error_rate=R,latency_ms=MS",
    help="Inject errors or latency into one version (tests, canary drills). Repeatable.",
)
@click.option(
    "--drain",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0, 600),
    help="Seconds to let requests in flight finish on SIGTERM.",
)
@click.option(
    "--route-header",
    default="X-Route-Key",
    show_default=True,
    metavar="HEADER",
    help="Request header whose value (user or session id) routes a request to the "
    "canary or stable version when NAME/canary.json names a canary.",
)
@click.option(
    "--version",
    "pinned",
    metavar="vX.Y.Z",
    help="Serve exactly this version from NAME/versions/ (ignore `current` and canary.json), "
    "as a serving backend runs one process per version.",
)
@click.option("-v", "--verbose", is_flag=True, help="Also log every HTTP request.")
def serve(
    name: str,
    root: Path,
    port: int,
    host: str,
    faults: tuple[str, ...],
    drain: float,
    route_header: str,
    pinned: str | None,
    verbose: bool,
) -> None:
    """Serve the version that ROOT/NAME/current points to, for demos and tests.

    GET /info, /health, /metrics (Prometheus); POST /v1/completions, /reload.
    SIGHUP or POST /reload re-resolves `current`; a version that fails to load is
    refused and the old one keeps serving. With nothing deployed yet the server
    starts and answers 503 until a reload finds a version. When NAME/canary.json
    names a canary version, requests whose route header falls in its share go to it.
    """
    from gitmodel.server.app import App
    from gitmodel.server.faults import parse_flag
    from gitmodel.server.runner import bind
    from gitmodel.server.runner import serve as run

    level = logging.DEBUG if verbose else logging.INFO
    output.log_to_stderr("gitmodel.server", "gitmodel serve: %(message)s", level)
    app = App(root.resolve(), name, dict(parse_flag(f) for f in faults), route_header, pinned)
    app.start()  # raises (one line, exit 2) when `current` points at a bad version
    run(app, bind(app, host, port), drain)


COMMANDS = [serve]
