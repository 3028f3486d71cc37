"""`gitmodel host init`: write this host's local settings (the host file)."""

from __future__ import annotations

from pathlib import Path

import click

from gitmodel.cli import output


@click.group()
def host() -> None:
    """This host's local settings: what it runs, calls and serves from (never from the repo)."""


@host.command("init")
@click.option(
    "--root",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory the model server reads; the default --root of deploy, rollback, status, agent.",
)
@click.option("--env", metavar="ENV", help="The environment this root follows (others are refused).")
@click.option("--reload-cmd", metavar="CMD", help="Shell command run after each swap.")
@click.option("--reload-url", metavar="URL", help="URL to POST after each swap (instead of a command).")
@click.option("--info-url", metavar="URL", help="URL whose JSON `version` confirms a deploy.")
@click.option(
    "--command",
    "commands",
    multiple=True,
    metavar="NAME=CMD",
    help="A command gitmodel.yaml may name by key (repeatable), e.g. restart-llama='systemctl ...'.",
)
@click.option(
    "--file",
    "path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write (default: $GITMODEL_HOST_CONFIG, else /etc/gitmodel/host.yaml).",
)
@click.option("--force", is_flag=True, help="Replace an existing file.")
def init(
    root: Path,
    env: str | None,
    reload_cmd: str | None,
    reload_url: str | None,
    info_url: str | None,
    commands: tuple[str, ...],
    path: Path | None,
    force: bool,
) -> None:
    """Write this host's file, so that deploy, rollback --root, status and agent need no flags."""
    from gitmodel import localconfig
    from gitmodel.errors import UsageError

    named = {}
    for item in commands:
        key, sep, line = item.partition("=")
        if not sep:
            raise UsageError(f"--command {item!r} is not NAME=CMD; write e.g. --command restart='CMD'")
        named[key] = line
    target = path or localconfig.host_path()
    done = localconfig.init_host(
        target,
        root=root.absolute(),
        env=env,
        reload_cmd=reload_cmd,
        reload_url=reload_url,
        info_url=info_url,
        commands=named,
        force=force,
    )
    output.info(f"wrote {done.path}")
    output.info(f"  root      {done.root}")
    if done.env:
        output.info(f"  env       {done.env}")
    entry = done.defaults
    if entry.reload_cmd or entry.reload_url:
        output.info(f"  reload    {entry.reload_cmd or 'POST ' + str(entry.reload_url)}")
    if entry.info_url:
        output.info(f"  info      {entry.info_url}")
    for key in done.commands:
        output.info(f"  command   {key}")


COMMANDS = [host]
