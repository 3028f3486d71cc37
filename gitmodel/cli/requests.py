"""`gitmodel request promote`: a promotion reviewed and merged on the Git host (requests.py)."""

from __future__ import annotations

import click

from gitmodel.cli import completion as complete
from gitmodel.cli import output, render
from gitmodel.cli.options import json_option, repo


@click.group()
def request() -> None:
    """Ask for a move by pull request: reviewed and merged on the Git host, carried out by CI."""


@request.command("promote")
@click.argument("name", shell_complete=complete.models)
@click.argument("version", metavar="vX.Y.Z", shell_complete=complete.versions)
@click.argument("env", shell_complete=complete.environments)
@click.option("--force", is_flag=True, help="Open it although the gate refuses (needs --reason); it says so.")
@click.option("--reason", help="Why; recorded in request.yaml and, once carried out, in the move's tag.")
@json_option
def promote(name: str, version: str, env: str, force: bool, reason: str | None, as_json: bool) -> None:
    """Judge promoting VERSION to ENV, then push a request branch holding the verdict and changelog.

    Open a pull request from it into the default branch; once merged, CI's
    `gitmodel verify --apply-requests` writes and pushes the move. With --force a
    request the gate refuses is opened anyway, its files saying so with the numbers.
    """
    from gitmodel.gating import GateRefused
    from gitmodel.requests import open_promotion

    try:
        opened = open_promotion(repo(), name, version, env, force=force, reason=reason)
    except GateRefused as exc:
        render.verdict(exc.verdict)
        raise
    branch = opened.branch.removeprefix("refs/heads/")
    base = opened.base.removeprefix("refs/heads/")
    if as_json:
        output.emit_json(
            {
                "name": opened.request.model,
                "version": str(opened.request.version),
                "environment": opened.request.env,
                "from": str(opened.request.previous) if opened.request.previous else None,
                "forced": opened.request.forced,
                "reason": opened.request.reason,
                "branch": branch,
                "commit": opened.commit,
                "base": base,
                "files": opened.files,
                "gate": opened.verdict.to_json(),
            }
        )
        return
    if opened.verdict.checks:
        render.verdict(opened.verdict)
    req = opened.request
    was = f" (serves {req.previous} now)" if req.previous else ""
    output.info(f"requested: {req.model} {req.env} -> {req.version}{was}")
    if req.forced:
        output.info(f"  forced  the gate refused it; requested with --force: {req.reason} (its files say so)")
    output.info(f"  branch  {branch}  (pushed to origin, on {base})")
    for path in opened.files:
        output.info(f"  file    {path}")
    output.info(f"  next    open a pull request from {branch} into {base}; merging it lets CI write the move")


COMMANDS = [request]
