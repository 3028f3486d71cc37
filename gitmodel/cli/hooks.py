"""`gitmodel hooks install|uninstall`, and the hidden `gitmodel hook NAME` the shims run."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gitmodel.cli import output
from gitmodel.hooks.shim import ALL_HOOKS

path_option = click.option(
    "--path",
    "path",
    type=click.Path(file_okay=False, path_type=Path),
    help="Repository to act on (a bare one for --server); default: the current one.",
)

_SAID = {
    "installed": "installed",
    "updated": "updated",
    "unchanged": "already installed",
    "chained": "installed; the existing hook was kept and runs first",
    "removed": "removed",
    "restored": "removed; the previous hook is back",
    "foreign": "not gitmodel's; left alone",
    "under-pre-commit": "installed as the legacy hook that pre-commit's own hook runs first",
}


@click.group("hooks")
def hooks() -> None:
    """Install or remove gitmodel's policy hooks (see docs/hooks.md)."""


@hooks.command("install")
@click.option(
    "--server", is_flag=True, help="Install the server-side pre-receive hook (into a bare repository)."
)
@path_option
@click.option(
    "--dvc-check/--no-dvc-check",
    "dvc_check",
    default=None,
    help="With --server: also refuse version tags whose bytes are not on the DVC "
    "remote (the server needs read access to it). Off unless given.",
)
@click.option(
    "--dvc-remote",
    metavar="URL",
    help="With --server: the DVC remote the check asks (the pushed .dvc/config is never used).",
)
def install(server: bool, path: Path | None, dvc_check: bool | None, dvc_remote: str | None) -> None:
    """Install the client hooks (pre-commit, pre-push), or with --server the pre-receive hook.

    Running it again updates the hooks; a hook that was already there is kept and
    run first.
    """
    from gitmodel.hooks.install import install as do_install
    from gitmodel.hooks.install import repo_root

    if (dvc_check is not None or dvc_remote is not None) and not server:
        raise click.UsageError("--dvc-check/--no-dvc-check and --dvc-remote go with --server")
    repo = repo_root(path or Path.cwd())
    for change in do_install(repo, server=server, dvc_check=dvc_check, dvc_remote=dvc_remote):
        output.info(f"{change.hook}: {_SAID[change.action]} ({change.path})")
    if dvc_check is not None:
        output.info(f"DVC remote check on the server: {'on' if dvc_check else 'off'}")
    if dvc_remote is not None:
        output.info(f"DVC remote the server checks: {dvc_remote}")


@hooks.command("uninstall")
@path_option
def uninstall(path: Path | None) -> None:
    """Remove gitmodel's hooks and put back the hooks they had kept."""
    from gitmodel.hooks.install import repo_root
    from gitmodel.hooks.install import uninstall as do_uninstall

    changes = [c for c in do_uninstall(repo_root(path or Path.cwd())) if c.action != "absent"]
    for change in changes:
        output.info(f"{change.hook}: {_SAID[change.action]} ({change.path})")
    if not changes:
        output.info("no gitmodel hooks were installed")


@click.command(
    "hook", hidden=True, context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False}
)
@click.option("--shim", type=click.Path(path_type=Path), help="Path of the calling shim.")
@click.argument("name", type=click.Choice(ALL_HOOKS))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def hook(shim: Path | None, name: str, args: tuple[str, ...]) -> None:
    """Run gitmodel's checks for the git hook NAME (called by the installed shims)."""
    from gitmodel.cli.hookrun import run_hook

    code = run_hook(shim, name, list(args))
    if code:
        sys.exit(code)


COMMANDS = [hooks, hook]
