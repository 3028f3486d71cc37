"""Environment commands: gate, promote, rollback, deprecate."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gitmodel.cli import completion as complete
from gitmodel.cli import output, progress, render
from gitmodel.cli.options import host_root, json_option, quiet_option, repo, server_kwargs, server_options
from gitmodel.errors import UsageError

if TYPE_CHECKING:
    from gitmodel.environments import Move
    from gitmodel.host.rollback import HostRollback


@click.command()
@click.argument("name", shell_complete=complete.models)
@click.argument("version", metavar="vX.Y.Z", shell_complete=complete.versions)
@click.argument("env", shell_complete=complete.environments)
@json_option
def gate(name: str, version: str, env: str, as_json: bool) -> None:
    """Run the validation gate only: VERSION against what ENV serves now (exit 1 if refused)."""
    from gitmodel.gating import gate_check

    with order_hint("gate", ("name", "version", "env"), (name, version, env)):
        verdict = gate_check(repo(), name, version, env)
    if as_json:
        output.emit_json({"name": name, "version": version, "environment": env, **verdict.to_json()})
    else:
        render.verdict(verdict)
    if not verdict.passed:
        raise SystemExit(1)


@click.command()
@click.argument("name", shell_complete=complete.models)
@click.argument("version", metavar="vX.Y.Z", shell_complete=complete.versions)
@click.argument("env", shell_complete=complete.environments)
@click.option("--push", is_flag=True, help="Send the assignment tag to origin (atomically).")
@click.option("--force", is_flag=True, help="Override a refusing gate (needs --reason).")
@click.option("--reason", help="Why; recorded in the tag.")
def promote(name: str, version: str, env: str, push: bool, force: bool, reason: str | None) -> None:
    """Gate VERSION against what ENV serves, then point ENV at it."""
    from gitmodel.environments import promote as do_promote
    from gitmodel.gating import GateRefused

    try:
        with order_hint("promote", ("name", "version", "env"), (name, version, env)):
            move = do_promote(repo(), name, version, env, push=push, force=force, reason=reason)
    except GateRefused as exc:
        render.verdict(exc.verdict)
        raise
    if move.tag is None:
        output.info(move.note)
        return
    if move.verdict is not None and move.verdict.checks:
        render.verdict(move.verdict)
    _moved(move)


def _moved(move: Move) -> None:
    was = f" (was {move.previous})" if move.previous else ""
    output.info(f"{move.action}: {move.model} {move.env} -> {move.version}{was}")
    output.info(
        f"  tag     {move.tag}" + ("  (pushed to origin)" if move.pushed else "  (local; push with --push)")
    )
    if move.note:
        output.info(f"  note    {move.note}")


@click.command()
@click.argument("env", shell_complete=complete.environments)
@click.argument("name", required=False, shell_complete=complete.models)
@click.option(
    "--to",
    "to",
    metavar="vX.Y.Z",
    help="Roll back to this version instead of the previous good one.",
    shell_complete=complete.versions,
)
@click.option("--reason", help="Why; recorded in the tag.")
@click.option("--force", is_flag=True, help="With --to: a version ENV never served (needs --reason).")
@click.option("--push", is_flag=True, help="Send the assignment tag to origin (atomically).")
@click.option(
    "--root",
    "root_arg",
    metavar="DIR",
    is_flag=False,
    flag_value="",
    help="On a host: also make ROOT serve the result (implies --push); "
    "`--root` alone: the host file's root (`gitmodel host init`).",
)
@click.option("--local", is_flag=True, help="With --root: roll this host back alone; the pointer stays.")
@click.option(
    "--pointer-only",
    is_flag=True,
    help="Move the pointer only, even on a host whose host file names a root.",
)
@server_options
@quiet_option
@json_option
def rollback(
    env: str,
    name: str | None,
    to: str | None,
    reason: str | None,
    force: bool,
    push: bool,
    root_arg: str | None,
    local: bool,
    pointer_only: bool,
    quiet: bool,
    as_json: bool,
    **kw: Any,
) -> None:
    """Point ENV back at the previous good version of NAME (or --to a given one).

    With --root on an inference host, the move is pushed to origin and ROOT is
    converged to it at once (no download when the version is still on disk). A host
    whose host file (`gitmodel host init`) names a root does that with no flags, for
    the environment the file follows. When origin is unreachable, --local rolls back
    this host alone to the version it served before; `gitmodel status` then shows the drift.
    """
    bars = progress.transfers(quiet=quiet, as_json=as_json)  # a cold rollback downloads
    with order_hint("rollback", ("env", "name"), (env, name)), bars:
        _rollback(env, name, to, reason, force, push, root_arg, local, pointer_only, as_json, kw)


def _rollback(
    env: str,
    name: str | None,
    to: str | None,
    reason: str | None,
    force: bool,
    push: bool,
    root_arg: str | None,
    local: bool,
    pointer_only: bool,
    as_json: bool,
    kw: dict[str, Any],
) -> None:
    if pointer_only and (root_arg is not None or local):
        raise UsageError("--pointer-only leaves the host alone: drop --root and --local")
    root, note = _rollback_root(env, root_arg, local, pointer_only)
    if root is None:
        from gitmodel.environments import rollback as move_pointer

        if as_json:
            raise UsageError("--json goes with --root (the pointer move alone prints a summary)")
        _moved(move_pointer(repo(), env, name, to=to, reason=reason, push=push, force=force))
        if note:
            output.info(f"  note    {note}")
        return
    if force:
        raise UsageError("--force moves the pointer only: run it with --pointer-only, then `gitmodel deploy`")
    from gitmodel.host.rollback import rollback as roll_back_host

    done = roll_back_host(repo(), env, name, root, to=to, reason=reason, local=local, **server_kwargs(kw))
    if as_json:
        output.emit_json(done.to_json())
    else:
        _render_host(done, root)


def _rollback_root(
    env: str, root_arg: str | None, local: bool, pointer_only: bool
) -> tuple[Path | None, str | None]:
    """The root to converge (None: the pointer alone), and a note when the host file's is skipped."""
    if root_arg:
        return Path(root_arg), None
    if root_arg == "" or local:
        return host_root(None, env), None
    if pointer_only:
        return None, None
    from gitmodel.localconfig import host_file

    host = host_file()
    if host.root is None:
        return None, None  # a dev clone: the pointer alone, as always
    if host.env is not None and host.env != env:
        return None, f"{host.root} follows {host.env} ({host.path}); this host was left alone"
    return host.root, None


def _render_host(done: HostRollback, root: Path) -> None:
    if done.move is not None:
        _moved(done.move)
    else:
        output.info(
            f"the {done.deployed.env} pointer was NOT moved; "
            f"`gitmodel status {done.deployed.env} --root {root}` shows the drift"
        )
    render.deployed(done.deployed, root)


@click.command()
@click.argument("name", shell_complete=complete.models)
@click.argument("version", metavar="vX.Y.Z", shell_complete=complete.versions)
@click.option("--reason", help="Why; recorded in the tag.")
@click.option("--push", is_flag=True, help="Send the tag to origin.")
@click.option("--force", is_flag=True, help="Deprecate a version an environment serves (needs --reason).")
@click.option(
    "--on",
    "on",
    metavar="YYYY-MM-DD",
    help="Schedule it: deprecated from this date on (shown by list; sent to origin at once).",
)
def deprecate(name: str, version: str, reason: str | None, push: bool, force: bool, on: str | None) -> None:
    """Mark VERSION as never to be promoted or rolled back to again (its bytes stay)."""
    from gitmodel.environments import deprecate as do_deprecate

    if on is not None:
        from gitmodel.lifecycle.timeline import schedule

        if force:
            raise UsageError("--force goes with a deprecation now, not with --on DATE")
        planned = schedule(repo(), name, version, on, reason=reason)
        output.info(f"{planned.model} {planned.version} will be deprecated on {planned.on} ({planned.ref})")
        return
    done = do_deprecate(repo(), name, version, reason=reason, push=push, force=force)
    output.info(f"deprecated {name} {version} ({done.tag})")
    for stage, served in done.serving.items():
        output.info(
            f"  {stage} still serves {name} {served}, now deprecated: `gitmodel rollback {stage} {name}`"
        )
        gto = done.gto.get(stage)
        output.info(
            f"  warning: `gto show` now reads {stage} as {gto or 'nothing'} (GTO drops deprecated versions "
            f"from stages) while `dvc artifacts get --stage {stage}` still fetches {served}; "
            "a rollback makes all three agree"
        )


_VERSION = re.compile(r"^v?\d+\.\d+\.\d+$")


def reordered(command: str, roles: Sequence[str], given: Sequence[str], envs: Sequence[str]) -> str | None:
    """The command with GIVEN in ROLES' order, when they were given in another order.

    Each argument's role is guessed from its shape: a version, an environment
    gitmodel.yaml lists, else a model name. None when that guess is not one argument
    per role, or the order was already right.
    """

    def role(arg: str) -> str:
        return "version" if _VERSION.match(arg) else "env" if arg in envs else "name"

    by_role = {role(arg): arg for arg in given}
    if len(by_role) != len(given) or set(by_role) != set(roles):
        return None
    fixed = [by_role[r] for r in roles]
    return None if fixed == list(given) else " ".join(["gitmodel", command, *fixed])


@contextmanager
def order_hint(command: str, roles: Sequence[str], given: Sequence[str | None]) -> Iterator[None]:
    """A usage error from swapped arguments (`rollback support production`) says the right order."""
    try:
        yield
    except UsageError as exc:
        args = [arg for arg in given if arg is not None]
        hint = reordered(command, roles[: len(args)], args, _environments())
        if hint is None:
            raise
        raise UsageError(f"{exc.message}; did you mean `{hint}`?") from None


def _environments() -> list[str]:
    from gitmodel import config
    from gitmodel.errors import GitModelError

    try:
        return list(config.load(repo()).environments)
    except GitModelError:
        return []


COMMANDS = [gate, promote, rollback, deprecate]
