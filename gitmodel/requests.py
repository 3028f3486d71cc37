"""Promotion by pull request: `gitmodel request promote` and the CI step that carries it out.

    request promote NAME vX ENV   judge the move as `promote` would (order, evidence,
                                  gate), then push `gitmodel/request/ENV/NAME/vX`: one
                                  commit on origin's default branch adding
                                  .gitmodel/requests/ENV/NAME/vX/{request.yaml,CHANGELOG.md}
    (the team reviews and merges it under their host's branch protection)
    verify --apply-requests       in CI on the merged default branch: every merged request
                                  not yet carried out becomes the move itself, written
                                  (signed when a key is configured) and pushed by `promote`

A request is carried out once its environment has been assigned its version after the
counter the request recorded, so re-running CI never moves anything twice. A request
whose environment moved meanwhile (it served another version than the request says)
is refused: the reviewers judged a different change. Environments listed in
`branches.requests` take new versions only this way (gitmodel/policy/envbranches.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from gitmodel import config, git
from gitmodel.envbranches.requestfile import Request, format_request, read_request
from gitmodel.envbranches.settings import REQUEST_FILE, REQUESTS_DIR, request_branch, request_dir
from gitmodel.environments import check_order, lifecycle_refuse
from gitmodel.errors import ConflictError, PolicyError, UsageError
from gitmodel.gate import Verdict
from gitmodel.gating import GateRefused, check_evidence, judge, read_meta
from gitmodel.lock import locked
from gitmodel.moves import load
from gitmodel.refs import Version, parse_model, version_tag
from gitmodel.registry import ModelState, Registry


@dataclass(frozen=True)
class Opened:
    request: Request
    branch: str  # full ref on origin
    commit: str
    base: str  # the default branch it was made on (full ref), where it is to be merged
    verdict: Verdict
    files: list[str]


def open_promotion(repo: Path, name: str, version: str, env: str) -> Opened:
    """Judge promoting NAME VERSION to ENV now, and push the request branch for review."""
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
            raise GateRefused(model, target, env, verdict)
        counter = state.next_counter() - 1
        request = Request(model, target, env, event.commit, current, counter)
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
            f"{folder}/CHANGELOG.md": _changelog(repo, state, env, current, target),
        }
        was = f" (serves {current} now)" if current else ""
        message = (
            f"gitmodel: request promote {model.replace(':', '/')} {target} to {env}{was}\n\n"
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


# --- CI: carrying out merged requests ------------------------------------------------


@dataclass(frozen=True)
class Merged:
    path: str  # the request.yaml, repo-relative
    request: Request


def merged(repo: Path, at: str = "HEAD") -> list[Merged]:
    """The requests on commit `at`, each checked to sit in the folder its content names."""
    from gitmodel.policy.files import read_texts

    listing = git.run(["ls-tree", "-r", "-z", "--name-only", at, "--", REQUESTS_DIR + "/"], repo, check=False)
    paths = sorted(p for p in listing.stdout.split("\0") if p.endswith("/" + REQUEST_FILE))
    found = []
    for path, text in zip(paths, read_texts(repo, [f"{at}:{p}" for p in paths]), strict=True):
        request = read_request(text or "", path)
        if (
            request is None
            or f"{request_dir(request.env, request.model, request.version)}/{REQUEST_FILE}" != path
        ):
            raise PolicyError(
                f"{path} is not a request gitmodel wrote for its folder; remove it from the default "
                "branch and request again with `gitmodel request promote`"
            )
        found.append(Merged(path, request))
    return found


def carried_out(state: ModelState, request: Request) -> bool:
    """Whether the environment (or its canary) was assigned the version after the request."""
    from gitmodel.rollout.canary_state import canary_stage

    stages = (request.env, canary_stage(request.env))
    return any(
        e.ref.stage in stages
        and (e.ref.counter or 0) > request.counter
        and state.assignment_version(e) == request.version
        for e in state.assignments
    )


@dataclass(frozen=True)
class Applied:
    path: str
    action: str  # promote, or canary-start where gitmodel.yaml requires a canary before ENV
    model: str
    env: str
    version: Version
    previous: Version | None
    tag: str
    percent: float | None = None  # a canary's first share


def apply_merged(repo: Path) -> list[Applied]:
    """Carry out every request merged into HEAD and not yet carried out: `promote --push`
    each, or `canary start --push` where gitmodel.yaml requires a canary before ENV."""
    from gitmodel.environments import promote

    cfg = config.load(repo)
    pending = merged(repo)
    if not pending:
        return []
    if git.has_remote(repo):
        git.fetch_tags(repo)
    done: list[Applied] = []
    for item in pending:
        req = item.request
        cfg.check_env(req.env)
        state = Registry.load_model(repo, req.model)
        if carried_out(state, req):
            continue
        current = state.stage_version(req.env)
        if current != req.previous:
            raise ConflictError(
                f"{item.path}: {req.env} served {req.previous or 'nothing'} when the request was made and "
                f"serves {current or 'nothing'} now, so the reviewed change is not this one; request again "
                f"(`gitmodel request promote {req.model.replace(':', '/')} {req.version} {req.env}`)"
            )
        canary = cfg.canary.get(req.env) if current is not None else None
        if canary is not None:
            # ENV takes it through its canary: start one; `canary promote` (or monitor's
            # ramp) finishes it with no second request, since the canary was judged here.
            from gitmodel.rollout.canary_moves import start

            first = canary.ramp[0].percent if canary.ramp else 10.0
            step = start(repo, req.model, str(req.version), req.env, first, push=True)
            applied = Applied(
                item.path, step.action, req.model, req.env, req.version, current, step.tags[0], first
            )
        else:
            move = promote(repo, req.model, str(req.version), req.env, push=True)
            applied = Applied(item.path, move.action, req.model, req.env, req.version, current, str(move.tag))
        done.append(applied)
    return done


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
