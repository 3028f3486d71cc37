"""`gitmodel verify`: the server hook's policy, for CI on hosted Git (docs/hooks.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    "write and push each move, and delete the request branches carried out or superseded.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def verify(
    refs: tuple[str, ...], everything: bool, no_overrides: bool, apply_requests: bool, as_json: bool
) -> None:
    """Judge the registry with the server hook's policy (exit 1 naming each rule broken).

    OLD..NEW judges a branch update; a tag (NAME#ENV#N, NAME@vX.Y.Z) is judged against
    the registry as it stood before it; --all replays every tag in `#N` order. Environment
    branches they touch (at NEW, of the tag's environment; all with --all) must follow
    their tags: a lagging one is a warning.
    """
    from gitmodel import git
    from gitmodel.errors import UsageError
    from gitmodel.policy import replay

    if (bool(refs) and everything) or not (refs or everything or apply_requests):
        raise UsageError("give a REF-RANGE (OLD..NEW), refs, or --all; see `gitmodel verify --help`")
    repo = git.toplevel(Path.cwd())
    allow = not no_overrides
    report = (
        replay.check_all(repo, allow_override=allow)
        if everything
        else replay.check_refs(repo, list(refs), allow_override=allow)
        if refs
        else replay.Report()
    )
    doc: dict[str, Any] = {
        "ok": report.ok,
        "models": report.models,
        "tags": report.tags,
        "violations": [
            {"subject": v.subject, "rule": v.rule, "message": v.message} for v in report.violations
        ],
        "warnings": [{"subject": w.subject, "rule": w.rule, "message": w.message} for w in report.warnings],
    }
    if not as_json:
        for v in report.violations:
            output.error(v.line())
        for w in report.warnings:
            output.warn(f"{w.subject} [{w.rule}]: {w.message}")
        if report.ok and (refs or everything):
            output.info(f"verified {report.tags} tags of {report.models} models: the policy holds")
    if report.ok and apply_requests:
        doc["requests"] = _apply(repo, allow, as_json)
    if as_json:
        output.emit_json(doc)
    if not report.ok:
        raise SystemExit(1)


def _apply(repo: Path, allow_override: bool, as_json: bool) -> list[dict[str, Any]]:
    """Carry out the merged requests (envbranches/apply.py); say what happened to each."""
    from gitmodel.envbranches.apply import APPLIED, DONE, apply_merged

    outcomes = apply_merged(repo, allow_override=allow_override)
    for o in [] if as_json else outcomes:
        req = o.request
        name = req.model.replace(":", "/")
        if o.status == APPLIED:
            was = f" (was {o.previous})" if o.previous else ""
            what = f"{req.model} {req.env} -> {req.version}{was}"
            if o.percent is not None:
                share = f"{o.percent:g}%"
                what = f"canary of {req.model} {req.version} in {req.env} at {share} (stable {o.previous})"
            forced = f", forced past the gate ({req.reason})" if req.forced else ""
            line = f"applied {o.path}: {what}{forced}, tag {o.tag} pushed"
        elif o.status == DONE:
            line = f"done {o.path}: carried out already ({o.tag})"
        else:
            line = (
                f"superseded {o.path}: {req.env} moved after the request ({o.tag}; it serves "
                f"{o.previous or 'nothing'} now), so nothing moved; to promote {req.version} now, request "
                f"again (`gitmodel request promote {name} {req.version} {req.env}`)"
            )
        if o.deleted:
            line += f"; request branch {o.branch} deleted on origin"
        output.info(line)
        if o.warning:
            output.warn(o.warning)
    if not outcomes and not as_json:
        output.info("no merged promotion request is waiting")
    return [
        {
            "path": o.path,
            "status": o.status,
            "name": o.request.model,
            "version": str(o.request.version),
            "environment": o.request.env,
            "forced": o.request.forced,
            "reason": o.request.reason,
            "action": o.action or None,
            "tag": o.tag,
            "from": str(o.previous) if o.previous else None,
            "percent": o.percent,
            "branch": o.branch,
            "branch_deleted": o.deleted,
            "warning": o.warning or None,
        }
        for o in outcomes
    ]


COMMANDS = [verify]
