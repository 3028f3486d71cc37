"""Pointer documents: `gitmodel publish` (re)writes them to object storage."""

from __future__ import annotations

import sys

import click

from gitmodel.cli import output
from gitmodel.cli.options import json_option, repo


@click.command()
@click.argument("name", required=False)
@click.argument("env", required=False)
@click.option(
    "--remote",
    "remotes",
    multiple=True,
    metavar="REMOTE",
    help="DVC remote to publish to (repeatable; default: gitmodel.yaml pointers.remotes, "
    "else the default remote).",
)
@click.option("--no-fetch", is_flag=True, help="Publish the refs this clone has; do not ask origin.")
@json_option
def publish(
    name: str | None, env: str | None, remotes: tuple[str, ...], no_fetch: bool, as_json: bool
) -> None:
    """Publish the signed pointer documents of NAME (every model) in ENV (every environment).

    Each pushed move publishes its own when gitmodel.yaml says `pointers: {publish: true}`;
    this repairs a publish that failed, or seeds the documents for hosts that start
    polling them (`gitmodel agent --pointers`). Signed with your git signing key; only
    moves origin has are published, and a newer document in the store is left alone.
    """
    from gitmodel.pointers.publish import FAILED
    from gitmodel.pointers.publish import publish as do_publish

    done = do_publish(repo(), name, env, remotes=remotes or None, fetch=not no_fetch)
    if as_json:
        output.emit_json({"published": [p.to_json() for p in done]})
    elif not done:
        output.info("no environment points at anything yet: nothing to publish")
    else:
        rows = [[p.model, p.env, p.version or "-", p.tag, p.remote, p.outcome, p.detail] for p in done]
        output.echo_table(["MODEL", "ENV", "VERSION", "TAG", "REMOTE", "OUTCOME", "DETAIL"], rows)
    failed = [p for p in done if p.outcome == FAILED]
    for p in failed:
        output.error(f"{p.url}: {p.detail}")
    if failed:
        sys.exit(4)


COMMANDS = [publish]
