"""`gitmodel verify`: the server hook's policy, for CI on hosted Git (docs/hooks.md)."""

from __future__ import annotations

from pathlib import Path

import click

from gitmodel.cli import output


@click.command()
@click.argument("refs", nargs=-1, metavar="[REF-RANGE | REF]...")
@click.option("--all", "everything", is_flag=True, help="Every gitmodel tag, the seq refs and HEAD's models.")
@click.option(
    "--no-overrides",
    is_flag=True,
    help="Refuse gate overrides too (a forced promotion's record is otherwise accepted).",
)
@click.option(
    "--apply-requests",
    is_flag=True,
    help="Then carry out the promotion requests merged into HEAD (`gitmodel request promote`): "
    "write and push each move.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def verify(
    refs: tuple[str, ...], everything: bool, no_overrides: bool, apply_requests: bool, as_json: bool
) -> None:
    """Judge the registry with the server hook's policy (exit 1 naming each rule broken).

    OLD..NEW judges a branch update; a tag (NAME#ENV#N, NAME@vX.Y.Z) is judged against
    the registry as it stood before it; --all replays every tag in `#N` order.
    """
    from gitmodel import git
    from gitmodel.errors import UsageError
    from gitmodel.policy import replay

    if (bool(refs) and everything) or not (refs or everything or apply_requests):
        raise UsageError("give a REF-RANGE (OLD..NEW), refs, or --all; see `gitmodel verify --help`")
    if apply_requests and as_json:
        raise UsageError("--apply-requests prints what it moved; drop --json")
    repo = git.toplevel(Path.cwd())
    allow = not no_overrides
    report = (
        replay.check_all(repo, allow_override=allow)
        if everything
        else replay.check_refs(repo, list(refs), allow_override=allow)
        if refs
        else replay.Report()
    )
    if as_json:
        output.emit_json(
            {
                "ok": report.ok,
                "models": report.models,
                "tags": report.tags,
                "violations": [
                    {"subject": v.subject, "rule": v.rule, "message": v.message} for v in report.violations
                ],
            }
        )
    else:
        for v in report.violations:
            output.error(v.line())
        if report.ok and (refs or everything):
            output.info(f"verified {report.tags} tags of {report.models} models: the policy holds")
    if not report.ok:
        raise SystemExit(1)
    if apply_requests:
        _apply(repo)


def _apply(repo: Path) -> None:
    from gitmodel.requests import apply_merged

    applied = apply_merged(repo)
    for done in applied:
        was = f" (was {done.previous})" if done.previous else ""
        what = f"{done.model} {done.env} -> {done.version}{was}"
        if done.percent is not None:
            share = f"{done.percent:g}%"
            what = f"canary of {done.model} {done.version} in {done.env} at {share} (stable {done.previous})"
        output.info(f"applied {done.path}: {what}, tag {done.tag} pushed")
    if not applied:
        output.info("no merged promotion request is waiting")


COMMANDS = [verify]
