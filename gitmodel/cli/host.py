"""Host commands: deploy, status, agent."""

from __future__ import annotations

import logging
import signal
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gitmodel.cli import output, progress, render
from gitmodel.cli.options import (
    client_namespace,
    host_root,
    json_option,
    quiet_option,
    repo,
    root_option,
    server_kwargs,
    server_options,
    wide_option,
)

if TYPE_CHECKING:
    from gitmodel.host.status import CanaryView, HostStatus, ModelStatus


@click.command()
@click.argument("env")
@click.argument("name", required=False)
@root_option
@server_options
@click.option("--no-fetch", is_flag=True, help="Use the refs this clone has; do not ask origin.")
@click.option(
    "--verify", is_flag=True, help="Re-hash every hot version first; replace files that do not match."
)
@quiet_option
@json_option
def deploy(
    env: str,
    name: str | None,
    root: Path | None,
    no_fetch: bool,
    verify: bool,
    quiet: bool,
    as_json: bool,
    **kw: Any,
) -> None:
    """Converge ROOT to what ENV points at (every model in ENV when NAME is not given).

    Fetches refs, downloads missing bytes into the DVC cache, verifies every file's
    sha256, builds ROOT/NAME/versions/vX.Y.Z, swaps ROOT/NAME/current atomically,
    reloads the server and waits for its info endpoint to report the version; if it
    does not, swaps back. Every step is appended to ROOT/NAME/journal.jsonl.
    """
    from gitmodel.cli.envs import order_hint
    from gitmodel.host.deploy import deploy_many

    root = host_root(root, env)
    options = {**server_kwargs(kw), **({"verify": True} if verify else {})}
    with order_hint("deploy", ("env", "name"), (env, name)), progress.transfers(quiet=quiet, as_json=as_json):
        many = deploy_many(repo(), env, root, name, fetch=not no_fetch, **options)
    if as_json:
        output.emit_json(many.to_json())
    else:
        for done in many.deployed:
            render.deployed(done, root)
    for failed in many.failed:
        output.error(failed.error.message)
    if many.exit_code:
        sys.exit(many.exit_code)


@click.command()
@click.argument("env")
@click.argument("name", required=False)
@root_option
@click.option("--info-url", metavar="URL", help="Ask this endpoint what the server serves.")
@click.option("--no-fetch", is_flag=True, help="Compare with the refs this clone has; do not ask origin.")
@click.option("--verify", is_flag=True, help="Re-hash every hot version's files against its manifest.")
@click.option("--namespace", metavar="NS", help="Only the models of this client namespace.")
@wide_option
@json_option
def status(
    env: str,
    name: str | None,
    root: Path | None,
    info_url: str | None,
    no_fetch: bool,
    verify: bool,
    namespace: str | None,
    wide: bool,
    as_json: bool,
) -> None:
    """What this host serves next to the ENV pointer: pointer, current, server, hot versions.

    On a host serving several client namespaces, one table per namespace.

    With no root (no --root and none in the host file: a dev clone), the moves made
    here that origin lacks; one whose --push was cut short is finished by the next
    --push of that model.
    """
    from gitmodel.errors import UsageError
    from gitmodel.host.status import status as do_status
    from gitmodel.localconfig import host_file

    if name is not None and namespace is not None:
        raise UsageError("give NAME or --namespace, not both")
    ns = client_namespace(namespace)
    if root is None and host_file().root is None:
        _unpushed(env, name, as_json, wide)
        return
    root = host_root(root, env)
    found = do_status(
        repo(), env, root, name, fetch=not no_fetch, info_url=info_url, verify=verify, namespace=ns
    )
    if as_json:
        output.emit_json(found.to_json())
    else:
        _status_table(found, wide)


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
@click.option(
    "--pointers",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[REMOTE]",
    help="Poll signed pointer documents on the DVC remote REMOTE (default: the default remote) "
    "instead of origin; needs a trust file. See docs/host.md, Fleets.",
)
@click.option(
    "--git-every",
    type=click.FloatRange(min=1),
    default=600.0,
    show_default=True,
    metavar="S",
    help="With --pointers: also look at origin every S seconds (moves whose document is missing).",
)
@click.option(
    "--fetch-spread",
    type=click.FloatRange(min=0),
    default=0.0,
    metavar="S",
    help="With --pointers: wait a random 0..S seconds before fetching a move, to spread a fleet's fetches.",
)
@quiet_option
def agent(
    env: str,
    names: tuple[str, ...],
    root: Path | None,
    interval: float,
    once: bool,
    rounds: int | None,
    pointers: str | None,
    git_every: float,
    fetch_spread: float,
    quiet: bool,
    **kw: Any,
) -> None:
    """Keep ROOT converged to ENV: deploy whenever a pointer or its canary moves; stop on SIGTERM.

    Logs one line per action to stderr. A failed version is retried with backoff
    (up to 10 minutes), not at every tick. A local rollback is left alone until the
    pointer moves again.
    """
    from gitmodel.host.agent import Agent

    output.log_to_stderr(
        "gitmodel.agent", "%(asctime)s gitmodel agent %(levelname)s %(message)s", logging.INFO
    )
    stopping: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        stopping.append(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        options = server_kwargs(kw)
        watch = None
        if pointers is not None:
            from gitmodel.host.pointer_watch import open_watch

            trust_file = options.get("trust_file")
            where = host_root(root, env)
            watch = open_watch(repo(), env, where, pointers, trust_file, git_every, fetch_spread)
        worker = Agent(
            repo(),
            env,
            host_root(root, env),
            interval,
            list(names) or None,
            options,
            should_stop=lambda: bool(stopping),
            pointers=watch,
        )
        with progress.transfers(quiet=quiet):
            code = worker.run(once=once, rounds=rounds)
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    if code:
        sys.exit(code)


def _unpushed(env: str, name: str | None, as_json: bool, wide: bool) -> None:
    from gitmodel import config, unpushed
    from gitmodel.refs import parse_model

    root = repo()
    config.load(root).check_env(env)
    found = unpushed.unpushed(root, parse_model(name) if name else None)
    if as_json:
        output.emit_json({"env": env, "unpushed": [asdict(m) for m in found]})
        return
    if not found:
        output.info("every move on this clone is on origin")
        return
    rows = [[m.tag, m.action, m.version, m.blocked or _next(m.interrupted)] for m in found]
    output.echo_table(["UNPUSHED", "ACTION", "VERSION", "NEXT"], rows, wide)


def _next(interrupted: bool) -> str:
    if interrupted:
        return "its --push was cut short: the next --push of this model finishes it"
    return "made without --push: stays local"


def _status_table(found: HostStatus, wide: bool) -> None:
    env = found.env
    if not found.models:
        output.info(f"no model points at {env} and none is deployed under {found.root}")
        return
    groups = found.groups()
    canary = any(m.canary for m in found.models)
    if len(groups) == 1:
        _models_table(env, groups[0][1], canary, wide)  # one client: the table as it always was
    for i, (ns, models) in enumerate(groups if len(groups) > 1 else []):
        state = "in sync" if all(m.in_sync for m in models) else "DRIFT"
        count = f"{len(models)} model{'s' if len(models) > 1 else ''}"
        if i:
            output.info("")
        output.info(f"{ns or 'no namespace'} ({count}, {state})")
        _models_table(env, models, canary, wide)
    if found.origin != "fetched":
        output.info(f"origin: {found.origin}")
    for m in found.models:
        for note in [*m.drift, *m.notes]:
            output.info(f"{m.model}: {note}")


def _models_table(env: str, models: list[ModelStatus], canary: bool, wide: bool) -> None:
    rows = [
        [
            m.model,
            m.pointer,
            m.current,
            m.serving or ("?" if m.info_url else None),
            ", ".join(m.hot) or None,
            _canary_cell(m.canary),
            "in sync" if m.in_sync else "DRIFT",
        ]
        for m in models
    ]
    headers = ["MODEL", f"POINTER ({env})", "CURRENT", "SERVING", "HOT", "CANARY", "STATE"]
    if not canary:
        headers.remove("CANARY")  # no canary anywhere: the table stays as it always was
        rows = [row[:5] + row[6:] for row in rows]
    output.echo_table(headers, rows, wide)


def _canary_cell(can: CanaryView | None) -> str | None:
    """The host's canary (canary.json) as `v1.1.0 30%`, or what the registry wants instead."""
    if not can:
        return None
    side = can.host or can.pointer
    if side is None:
        return "ended"  # the server still routes to one: the drift notes say which
    shown = f"{side.version} {side.percent:g}%"
    return shown if can.host else f"({shown} wanted)"


COMMANDS = [deploy, status, agent]
