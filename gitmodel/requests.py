"""Promotion by pull request: `gitmodel request promote` and the CI step that carries it out.

    request promote NAME vX ENV   judge the move as `promote` would (order, evidence,
                                  gate), then push `gitmodel/request/ENV/NAME/vX`: one
                                  commit on origin's default branch adding
                                  .gitmodel/requests/ENV/NAME/vX/{request.yaml,CHANGELOG.md}
    (the team reviews and merges it under their host's branch protection)
    request promote ... --force --reason TEXT
                                  the same where the gate refuses: request.yaml and
                                  CHANGELOG.md say plainly that it refused, with its
                                  numbers and the reason, for the reviewers
    verify --apply-requests       in CI on the merged default branch: every merged request
                                  not yet carried out becomes the move itself, written
                                  (signed when a key is configured) and pushed by `promote`
                                  (gitmodel/envbranches/apply.py)

Environments listed in `branches.requests` take new versions only this way
(gitmodel/policy/envbranches.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from gitmodel import config, git
from gitmodel.envbranches.requestfile import Request, format_request, good_reason
from gitmodel.envbranches.settings import REQUEST_FILE, request_branch, request_dir
from gitmodel.environments import check_order, lifecycle_refuse
from gitmodel.errors import ConflictError, PolicyError, UsageError
from gitmodel.gate import Verdict
from gitmodel.gating import GateRefused, check_evidence, judge, read_meta
from gitmodel.lock import locked
from gitmodel.moves import load
from gitmodel.refs import Version, parse_model, version_tag
from gitmodel.registry import ModelState


@dataclass(frozen=True)
class Opened:
    request: Request
    branch: str  # full ref on origin
    commit: str
    base: str  # the default branch it was made on (full ref), where it is to be merged
    verdict: Verdict
    files: list[str]


def open_promotion(
    repo: Path, name: str, version: str, env: str, *, force: bool = False, reason: str | None = None
) -> Opened:
    """Judge promoting NAME VERSION to ENV now, and push the request branch for review.

    `force` (with a `reason`) opens it where the gate refuses, saying so in its files."""
    if reason is not None and not good_reason(reason):
        raise UsageError("--reason must be one line of text (it goes into request.yaml and the move's tag)")
    if force and reason is None:
        raise UsageError("--force needs --reason TEXT saying why the gate is overridden")
    cfg = config.load(repo)
    cfg.check_env(env)
    model, target = parse_model(name), Version.parse(version)
    if not git.has_remote(repo):
        raise UsageError(
            "a request is reviewed on origin, and this clone has none: add it with `git remote add`"
        )
    with locked(git.git_dir(repo)):
        reg = load(repo, True, model)
        state = reg.model(model)
        event = state.version_event(target)
        if target in state.deprecated_versions:
            raise PolicyError(
                f"{model} {target} is deprecated and cannot be promoted; request another version"
            )
        lifecycle_refuse(repo, state, target, "promoted")
        current = state.stage_version(env)
        if current == target:
            raise PolicyError(f"{env} already serves {model} {target}; nothing to request")
        check_order(cfg, state, target, env)
        check_evidence(cfg, env, model, str(target), read_meta(repo, state, target))
        tag = version_tag(model, target)
        if not git.remote_refs(repo, [f"refs/tags/{tag}"]):
            raise PolicyError(f"origin does not have {tag}: push the version first (register it with --push)")
        verdict, figures = judge(repo, model, str(target), env, reg)
        if not verdict.passed:
            if not force:
                raise GateRefused(model, target, env, verdict)
            verdict = verdict.override(reason or "")
        counter = state.next_counter() - 1
        request = Request(model, target, env, event.commit, current, counter, verdict.forced, reason)
        base_ref, base = git.fetch_default_branch(repo)
        folder = request_dir(env, model, target)
        extra = {
            "requested_by": git.identity(repo),
            "requested_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "gate": verdict.to_record(),
            **({"smoke": figures} if figures else {}),
        }
        files = {
            f"{folder}/{REQUEST_FILE}": format_request(request, extra),
            f"{folder}/CHANGELOG.md": refused_note(request, verdict)
            + _changelog(repo, state, env, current, target),
        }
        was = f" (serves {current} now)" if current else ""
        forced = f"\n\nThe gate REFUSED it; requested with --force: {reason}" if request.forced else ""
        message = (
            f"gitmodel: request promote {model.replace(':', '/')} {target} to {env}{was}{forced}\n\n"
            f"Merging this moves {env} to {model} {target}: CI runs `gitmodel verify --apply-requests`.\n"
        )
        commit = git.commit_files(repo, base, files, message)
        branch = request_branch(env, model, target)
        short = branch.removeprefix("refs/heads/")
        open_already = ConflictError(
            f"origin already has {short}: a request for this move is open; merge or close it "
            f"(`git push origin --delete {short}`) and retry"
        )
        # Asked first: the same request made again within one second is the same commit, and
        # pushing a commit origin already has is "up to date" with no lease checked at all.
        if git.remote_refs(repo, [branch]):
            raise open_already
        try:
            git.push(repo, [f"{commit}:{branch}"], leases={branch: ""})
        except ConflictError:
            raise open_already from None
        return Opened(request, branch, commit, base_ref, verdict, sorted(files))


def refused_note(request: Request, verdict: Verdict) -> str:
    """What a forced request's CHANGELOG.md opens with: the refusal, its numbers, the reason."""
    if not request.forced:
        return ""
    from gitmodel.lifecycle.markdown import table, text

    def num(x: float | None) -> str:
        return "-" if x is None else f"{x:.6g}"

    rows = [
        [
            text(c.metric),
            num(c.current),
            num(c.candidate),
            "-" if c.change is None else f"{c.change * 100:+.1f}%",
            text(c.rule or "-"),
            c.verdict.upper() if not c.passed else c.verdict,
        ]
        for c in verdict.checks
    ]
    apart = f" (not comparable: {text(verdict.not_comparable)})" if verdict.not_comparable else ""
    name = text(request.model.replace(":", "/"))
    lines = [
        "## The gate REFUSED this promotion: requested with --force",
        "",
        f"The gate refused {name} {request.version} for {text(request.env)} against "
        f"{text(verdict.baseline or 'nothing')}{apart}. It was requested anyway, with `--force`, because: "
        f"{text(request.reason)}",
        "",
        table(["Metric", "Baseline", "Candidate", "Change", "Rule", "Verdict"], rows) if rows else "",
        "",
        "Merging it approves the override: CI writes a forced move (`force-promote`, recorded with "
        "this reason), unless it refuses overrides (`gitmodel verify --no-overrides`).",
        "",
        "",
    ]
    return "\n".join(lines)


def _changelog(repo: Path, state: ModelState, env: str, current: Version | None, target: Version) -> str:
    """The changelog the reviewers read (gitmodel/lifecycle/changelog.py), from what ENV serves."""
    from gitmodel.lifecycle import changelog

    if current is None:
        name = state.name.replace(":", "/")
        meta = read_meta(repo, state, target)
        what = meta.get("description") or "no description"
        first = f"{env} serves nothing of {name} yet: this is its first version there."
        return f"# {name} {target}\n\n{first}\n\n- {target}: {what}\n"
    text, source = changelog.read_template(repo, None)
    data = changelog.build(repo, state.name, f"{current}..{target}", env)
    return changelog.markdown(data, text, source)


def require_merged(
    repo: Path, cfg: config.Config, state: ModelState, env: str, version: Version
) -> str | None:
    """For an environment in `branches.requests`: the merged request's path on HEAD for this
    promotion, or a refusal naming `gitmodel request promote`; None for other environments
    and for a return to a version the environment served before (a rollback)."""
    if env not in cfg.branches.requests:
        return None
    if version in {state.assignment_version(e) for e in state.stage_events(env)}:
        return None
    from gitmodel.policy.envbranches import request_refusal

    head = git.head(repo)
    commit = state.version_event(version).commit
    refusal = request_refusal(repo, head, "", state.name, env, version, commit) if head else None
    if head is None or refusal is not None:
        cli = state.name.replace(":", "/")
        raise PolicyError(
            f"{env} takes new versions only through a merged request (gitmodel.yaml branches.requests): "
            f"open one with `gitmodel request promote {cli} {version} {env}`; once it is merged, CI "
            "writes the move (`gitmodel verify --apply-requests`)"
        )
    return f"{request_dir(env, state.name, version)}/{REQUEST_FILE}"
