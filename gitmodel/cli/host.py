"""Host commands: deploy, status, agent (the CLI's `rollback --root` renders with these too)."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import click

from gitmodel.cli import output

F = Callable[..., Any]


def root_option(f: F) -> F:
    return click.option(
        "--root",
        required=True,
        type=click.Path(path_type=Path, file_okay=False),
        help="Directory the model server reads: ROOT/NAME/current -> versions/vX.Y.Z.",
    )(f)


def server_options(f: F) -> F:
    """Per-host overrides of gitmodel.yaml's `host:` section."""
    for option in reversed(
        [
            click.option(
                "--reload-url", metavar="URL", help="POST here after the swap (instead of host.reload)."
            ),
            click.option("--reload-cmd", metavar="CMD", help="Run this shell command after the swap."),
            click.option(
                "--info-url",
                metavar="URL",
                help="GET this until its JSON `version` is the deployed one (host.info_url).",
            ),
            click.option(
                "--lock-timeout",
                type=float,
                metavar="S",
                help="Wait this long for another deploy of the model (default 60); then exit 3.",
            ),
            click.option(
                "--health-timeout",
                type=float,
                metavar="S",
                help="Wait this long for the info endpoint (default 30); then revert.",
            ),
        ]
    ):
        f = option(f)
    return f


def _repo() -> Path:
    from gitmodel import git

    return git.toplevel(Path.cwd())


def server_kwargs(kw: dict[str, Any]) -> dict[str, Any]:
    """The `server_options` a command received, as keyword arguments for gitmodel.host."""
    keys = ("reload_url", "reload_cmd", "info_url", "lock_timeout", "health_timeout")
    return {k: kw[k] for k in keys if kw.get(k) is not None}


def deployed_json(done: Any) -> dict[str, Any]:
    data = {f.name: getattr(done, f.name) for f in fields(done)}
    for key in ("version", "previous", "pointer"):
        data[key] = str(data[key]) if data[key] is not None else None
    data["retired"] = [str(v) for v in done.retired]
    data["seconds"] = round(done.seconds, 3)
    return data


def render_deployed(done: Any, root: Path) -> None:
    """Human lines for a Deployed result (used by deploy and by `rollback --root`)."""
    was = f", was {done.previous}" if done.previous and done.previous != done.version else ""
    canary_moved = bool(done.canary) and done.canary["action"] != "unchanged"
    if done.action == "unchanged":
        todo = "" if canary_moved else "; nothing to do"
        output.info(f"{done.model} {done.version} is already served from {root} ({done.env}){todo}")
    elif done.op == "rollback-local":
        output.info(f"rolled back {done.model} on this host to {done.version} in {root}{was}")
    else:
        verb = "reloaded" if done.action == "reloaded" else "deployed"
        output.info(f"{verb} {done.model} {done.version} to {root} ({done.env}{was})")
    if done.action == "deployed":
        how = {
            "hot": "already on disk, nothing downloaded",
            "hardlink": "hard links from the DVC cache",
            "copy": "copied from the DVC cache (another filesystem)",
        }[done.mode]
        fetched = f"downloaded {done.downloaded} object(s), " if done.downloaded else ""
        output.info(
            f"  bytes     {fetched}{how}, sha256 verified" if done.mode != "hot" else f"  bytes     {how}"
        )
    if done.action != "unchanged":
        output.info(f"  verified  {done.verified or 'no info endpoint configured (host.info_url)'}")
    if canary_moved:
        from gitmodel.host.agent import describe

        output.info(f"  canary    {describe(done.canary)}")
    if done.retired:
        output.info(f"  retired   {', '.join(str(v) for v in done.retired)} (host disk only)")
    output.info(f"  took      {done.seconds:.2f} s")
    if done.note:
        output.info(f"  note      {done.note}")


@click.command()
@click.argument("env")
@click.argument("name", required=False)
@root_option
@server_options
@click.option("--no-fetch", is_flag=True, help="Use the refs this clone has; do not ask origin.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def deploy(env: str, name: str | None, root: Path, no_fetch: bool, as_json: bool, **kw: Any) -> None:
    """Converge ROOT to what ENV points at (every model in ENV when NAME is not given).

    Fetches refs, downloads missing bytes into the DVC cache, verifies every file's
    sha256, builds ROOT/NAME/versions/vX.Y.Z, swaps ROOT/NAME/current atomically,
    reloads the server and waits for its info endpoint to report the version; if it
    does not, swaps back. Every step is appended to ROOT/NAME/journal.jsonl.
    """
    from gitmodel.errors import GitModelError
    from gitmodel.host.deploy import assigned_models
    from gitmodel.host.deploy import deploy as do_deploy

    repo = _repo()
    names = [name] if name else assigned_models(repo, env, fetch=not no_fetch)
    results, worst = [], 0
    for i, model in enumerate(names):
        fetch = not no_fetch and name is not None and i == 0
        try:
            done = do_deploy(repo, env, model, root, fetch=fetch, **server_kwargs(kw))
        except GitModelError as exc:
            if len(names) == 1:
                raise
            output.error(exc.message)
            worst = max(worst, exc.exit_code)
            continue
        results.append(done)
        if not as_json:
            render_deployed(done, root)
    if as_json:
        output.emit_json({"deployed": [deployed_json(d) for d in results]})
    if worst:
        sys.exit(worst)


@click.command()
@click.argument("env")
@click.argument("name", required=False)
@root_option
@click.option("--info-url", metavar="URL", help="Ask this endpoint what the server serves.")
@click.option("--no-fetch", is_flag=True, help="Compare with the refs this clone has; do not ask origin.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def status(
    env: str, name: str | None, root: Path, info_url: str | None, no_fetch: bool, as_json: bool
) -> None:
    """What this host serves next to the ENV pointer: pointer, current, server, hot versions."""
    from gitmodel.host.status import status as do_status

    data = do_status(_repo(), env, root, name, fetch=not no_fetch, info_url=info_url)
    if as_json:
        output.emit_json(data)
        return
    if not data["models"]:
        output.info(f"no model points at {env} and none is deployed under {root}")
        return
    rows = [
        [
            m["model"],
            m["pointer"],
            m["current"],
            m["serving"] or ("?" if m["info_url"] else None),
            ", ".join(m["hot"]) or None,
            _canary_cell(m.get("canary")),
            "in sync" if m["in_sync"] else "DRIFT",
        ]
        for m in data["models"]
    ]
    headers = ["MODEL", f"POINTER ({env})", "CURRENT", "SERVING", "HOT", "CANARY", "STATE"]
    if not any(m.get("canary") for m in data["models"]):
        headers.remove("CANARY")  # no canary anywhere: the table stays as it always was
        rows = [row[:5] + row[6:] for row in rows]
    output.echo_table(headers, rows)
    if data["origin"] != "fetched":
        output.info(f"origin: {data['origin']}")
    for m in data["models"]:
        for note in m["drift"]:
            output.info(f"{m['model']}: {note}")


@click.command()
@click.argument("env")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@root_option
@server_options
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    metavar="S",
    help="Seconds between looks at origin (one `git ls-remote`).",
)
@click.option("--once", is_flag=True, help="Look once, converge, exit with the deploy's exit code.")
@click.option(
    "--rounds",
    type=click.IntRange(min=1),
    metavar="N",
    help="Stop after N looks (default: run until SIGTERM).",
)
def agent(
    env: str, names: tuple[str, ...], root: Path, interval: float, once: bool, rounds: int | None, **kw: Any
) -> None:
    """Keep ROOT converged to ENV: deploy whenever a pointer or its canary moves; stop on SIGTERM.

    Logs one line per action to stderr. A failed version is retried with backoff
    (up to 10 minutes), not at every tick. A local rollback is left alone until the
    pointer moves again.
    """
    from gitmodel.host.agent import Agent

    logger = logging.getLogger("gitmodel.agent")
    logger.handlers = [h for h in logger.handlers if not isinstance(h, _EchoHandler)]
    handler = _EchoHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s gitmodel agent %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    stopping: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        stopping.append(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        worker = Agent(
            _repo(),
            env,
            root,
            interval,
            list(names) or None,
            server_kwargs(kw),
            should_stop=lambda: bool(stopping),
        )
        code = worker.run(once=once, rounds=rounds)
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    if code:
        sys.exit(code)


def _canary_cell(can: dict[str, Any] | None) -> str | None:
    """The host's canary (canary.json) as `v1.1.0 30%`, or what the registry wants instead."""
    if not can:
        return None
    side = can["host"] or can["pointer"]
    if side is None:
        return "ended"  # the server still routes to one: the drift notes say which
    shown = f"{side['version']} {side['percent']:g}%"
    return shown if can["host"] else f"({shown} wanted)"


class _EchoHandler(logging.Handler):
    """Log lines to whatever stderr is now (click's, under a test runner)."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(self.format(record), err=True)


COMMANDS = [deploy, status, agent]
