"""Environment commands: gate, promote, rollback, deprecate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from gitmodel.cli import output
from gitmodel.cli.host import deployed_json, render_deployed, server_kwargs, server_options


def _root() -> Path:
    from gitmodel import git

    return git.toplevel(Path.cwd())


def render_verdict(verdict: Any) -> None:
    rows = [
        [
            c.metric,
            output.fmt_num(c.current),
            output.fmt_num(c.candidate),
            output.fmt_change(c.change),
            c.rule or "-",
            c.verdict.upper() if c.verdict in ("fail", "missing") else c.verdict,
        ]
        for c in verdict.checks
    ]
    if rows:
        output.echo_table(["METRIC", "CURRENT", "CANDIDATE", "CHANGE", "RULE", "VERDICT"], rows)
    baseline = verdict.baseline or "nothing (environment empty)"
    state = "PASSED" if verdict.passed else ("OVERRIDDEN" if verdict.forced else "REFUSED")
    output.info(f"gate {state} against {baseline}")


@click.command()
@click.argument("name")
@click.argument("version", metavar="vX.Y.Z")
@click.argument("env")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def gate(name: str, version: str, env: str, as_json: bool) -> None:
    """Run the validation gate only: VERSION against what ENV serves now (exit 1 if refused)."""
    from gitmodel.environments import gate_check

    verdict = gate_check(_root(), name, version, env)
    if as_json:
        output.emit_json({"name": name, "version": version, "environment": env, **verdict.to_record()})
    else:
        render_verdict(verdict)
    if not verdict.passed:
        raise SystemExit(1)


@click.command()
@click.argument("name")
@click.argument("version", metavar="vX.Y.Z")
@click.argument("env")
@click.option("--push", is_flag=True, help="Send the assignment tag to origin (atomically).")
@click.option("--force", is_flag=True, help="Override a refusing gate (needs --reason).")
@click.option("--reason", help="Why; recorded in the tag.")
def promote(name: str, version: str, env: str, push: bool, force: bool, reason: str | None) -> None:
    """Gate VERSION against what ENV serves, then point ENV at it."""
    from gitmodel.environments import GateRefused
    from gitmodel.environments import promote as do_promote

    try:
        move = do_promote(_root(), name, version, env, push=push, force=force, reason=reason)
    except GateRefused as exc:
        render_verdict(exc.verdict)
        raise
    if move.tag is None:
        output.info(move.note)
        return
    if move.verdict is not None and move.verdict.checks:
        render_verdict(move.verdict)
    _moved(move)


def _moved(move: Any) -> None:
    was = f" (was {move.previous})" if move.previous else ""
    output.info(f"{move.action}: {move.model} {move.env} -> {move.version}{was}")
    output.info(
        f"  tag     {move.tag}" + ("  (pushed to origin)" if move.pushed else "  (local; push with --push)")
    )
    if move.note:
        output.info(f"  note    {move.note}")


@click.command()
@click.argument("env")
@click.argument("name", required=False)
@click.option(
    "--to", "to", metavar="vX.Y.Z", help="Roll back to this version instead of the previous good one."
)
@click.option("--reason", help="Why; recorded in the tag.")
@click.option("--push", is_flag=True, help="Send the assignment tag to origin (atomically).")
@click.option(
    "--root",
    type=click.Path(path_type=Path, file_okay=False),
    help="On a host: also make ROOT serve the result (implies --push).",
)
@click.option("--local", is_flag=True, help="With --root: roll this host back alone; the pointer stays.")
@server_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def rollback(
    env: str,
    name: str | None,
    to: str | None,
    reason: str | None,
    push: bool,
    root: Path | None,
    local: bool,
    as_json: bool,
    **kw: Any,
) -> None:
    """Point ENV back at the previous good version of NAME (or --to a given one).

    With --root on an inference host, the move is pushed to origin and ROOT is
    converged to it at once (no download when the version is still on disk). When
    origin is unreachable, --local rolls back this host alone to the version it served
    before; `gitmodel status` then shows the drift.
    """
    from gitmodel import host
    from gitmodel.environments import rollback as do_rollback
    from gitmodel.errors import RemoteUnreachable, UsageError

    repo = _root()
    if local:
        if root is None:
            raise UsageError("--local rolls back a host: give its --root DIR")
        model = name or _only_model(repo)
        done = host.rollback_local(repo, env, model, root, to=to, **server_kwargs(kw))
        _render_host(done, root, as_json, None)
        return
    if root is None:
        if as_json:
            raise UsageError("--json goes with --root (the pointer move alone prints a summary)")
        _moved(do_rollback(repo, env, name, to=to, reason=reason, push=push))
        return
    try:
        move = do_rollback(
            repo,
            env,
            name,
            to=to,
            reason=reason,
            push=True,
            have_bytes=lambda model, version: host.is_hot(root, model, str(version)),
        )
    except RemoteUnreachable as exc:
        raise RemoteUnreachable(
            f"{exc.message}; to roll this host back alone: `gitmodel rollback {env} "
            f"{name or ''} --local --root {root}`".replace("  ", " ")
        ) from None
    done = host.deploy(repo, env, move.model, root, fetch=False, **server_kwargs(kw))
    _render_host(done, root, as_json, move)


def _only_model(repo: Path) -> str:
    from gitmodel.environments import only_model
    from gitmodel.registry import Registry

    return only_model(Registry.load(repo), None)


def _render_host(done: Any, root: Path, as_json: bool, move: Any) -> None:
    if as_json:
        data = deployed_json(done)
        data["pointer_moved"] = move is not None
        if move is not None:
            data["tag"] = move.tag
        output.emit_json(data)
        return
    if move is not None:
        _moved(move)
    else:
        output.info(
            f"the {done.env} pointer was NOT moved; "
            f"`gitmodel status {done.env} --root {root}` shows the drift"
        )
    render_deployed(done, root)


@click.command()
@click.argument("name")
@click.argument("version", metavar="vX.Y.Z")
@click.option("--reason", help="Why; recorded in the tag.")
@click.option("--push", is_flag=True, help="Send the tag to origin.")
def deprecate(name: str, version: str, reason: str | None, push: bool) -> None:
    """Mark VERSION as never to be promoted or rolled back to again (its bytes stay)."""
    from gitmodel.environments import deprecate as do_deprecate

    tag = do_deprecate(_root(), name, version, reason=reason, push=push)
    output.info(f"deprecated {name} {version} ({tag})")


COMMANDS = [gate, promote, rollback, deprecate]
