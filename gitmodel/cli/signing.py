"""Signing commands: approve (a second key's sign-off on a move)."""

from __future__ import annotations

from pathlib import Path

import click

from gitmodel.cli import output


@click.command()
@click.argument("name")
@click.argument("env")
@click.option("--push", is_flag=True, help="Send the approval to origin (refs/gitmodel/approvals/).")
def approve(name: str, env: str, push: bool) -> None:
    """Sign an approval of ENV's current move of NAME with your own key.

    Hosts whose trust file says `approvals: {ENV: 2}` serve a move only once a
    second trusted key, different from the one that signed the move, approved it.
    """
    from gitmodel import git
    from gitmodel.signing import approve as do_approve

    done = do_approve(git.toplevel(Path.cwd()), name, env, push=push)
    output.info(f"approved {done.tag} ({done.model} {done.version} in {done.env})")
    where = "pushed to origin" if done.pushed else "local; push with --push"
    output.info(f"  ref     {done.ref}  ({where})")


COMMANDS = [approve]
