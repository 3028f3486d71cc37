"""CI carrying out merged promotion requests: `gitmodel verify --apply-requests`.

Every request.yaml on HEAD is, against the registry now:

    done        its environment (or ENV's canary) was assigned its version after the
                counter the request recorded: carried out already, never twice
    superseded  its environment moved to something else after the request was made: the
                reviewed change is gone, and moving now would undo what came after
    waiting     nothing moved since: carried out now, by `promote --push` (or `canary
                start --push` where gitmodel.yaml requires a canary before ENV); a request
                made with --force past a refusing gate becomes a forced move, recorded as
                `promote --force --reason` records it, unless this run refuses overrides

A request branch on origin whose request.yaml is the one HEAD holds (it was merged, by
whatever merge button) is deleted once its request is applied, done or superseded, with
a lease on the commit read: a branch that moved since is kept. A failed delete is a
warning, never a failed apply; a request whose branch is gone already is not reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gitmodel import config, git
from gitmodel.envbranches.requestfile import Request, read_request
from gitmodel.envbranches.settings import (
    REQUEST_FILE,
    REQUEST_PREFIX,
    REQUESTS_DIR,
    request_branch,
    request_dir,
)
from gitmodel.errors import ConflictError, GitModelError, PolicyError
from gitmodel.refs import Version
from gitmodel.registry import Event, ModelState, Registry

APPLIED, DONE, SUPERSEDED = "applied", "done", "superseded"


@dataclass(frozen=True)
class Merged:
    path: str  # the request.yaml, repo-relative
    request: Request


@dataclass(frozen=True)
class Outcome:
    path: str
    request: Request
    status: str  # applied, done, superseded
    tag: str  # the move written (applied), or the assignment that did it (done) or came after (superseded)
    previous: Version | None  # what ENV served before the move (applied), or serves now
    action: str = ""  # applied: promote, force-promote, or canary-start
    percent: float | None = None  # a canary's first share
    branch: str | None = None  # the request's branch on origin (short name), when it still held it
    deleted: bool = False
    warning: str = ""


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


def status(state: ModelState, request: Request) -> tuple[str, Event | None]:
    """(done | superseded | waiting, the assignment that decided it) from the tags alone."""
    from gitmodel.rollout.canary_state import canary_stage

    stages = (request.env, canary_stage(request.env))
    later = [e for e in state.assignments if e.ref.stage in stages and (e.ref.counter or 0) > request.counter]
    done = next((e for e in later if state.assignment_version(e) == request.version), None)
    if done is not None:
        return DONE, done
    return (SUPERSEDED, later[-1]) if later else ("waiting", None)


def carried_out(state: ModelState, request: Request) -> bool:
    """Whether the environment (or its canary) was assigned the version after the request."""
    return status(state, request)[0] == DONE


def apply_merged(repo: Path, *, allow_override: bool = True) -> list[Outcome]:
    """Carry out every request merged into HEAD that is waiting; report (and delete the
    branch of) each that is done or superseded. `allow_override=False` (verify
    --no-overrides) refuses a forced request before anything is written."""
    cfg = config.load(repo)
    pending = merged(repo)
    if not pending:
        return []
    remote = git.has_remote(repo)
    if remote:
        git.fetch_tags(repo)
    tips = git.fetch_branches(repo, REQUEST_PREFIX) if remote else {}
    states: dict[str, ModelState] = {}

    def state_of(model: str) -> ModelState:
        if model not in states:
            states[model] = Registry.load_model(repo, model)
        return states[model]

    for item in pending:  # refusals first: a run that refuses one request moves nothing
        cfg.check_env(item.request.env)
        if status(state_of(item.request.model), item.request)[0] == "waiting":
            _refuse_stale(item, state_of(item.request.model))
            if item.request.forced and not allow_override:
                raise PolicyError(_no_overrides(item))
    outcomes: list[Outcome] = []
    for item in pending:
        req = item.request
        state = state_of(req.model)
        found, by = status(state, req)
        ref = request_branch(req.env, req.model, req.version)
        tip = tips.get(ref)
        holds = tip is not None and _same_request(repo, tip, item.path)
        if found == "waiting":
            _refuse_stale(item, state)  # an earlier request of this run may have moved ENV
            outcome = _carry_out(repo, cfg, item, state)
            states.pop(req.model, None)  # its tags changed
        elif holds and by is not None:
            outcome = Outcome(item.path, req, found, by.tag, state.stage_version(req.env))
        else:
            continue  # reported when its branch was deleted; nothing to say again
        if holds and tip is not None:
            outcome = _delete(repo, outcome, ref, tip)
        outcomes.append(outcome)
    return outcomes


def _refuse_stale(item: Merged, state: ModelState) -> None:
    """A waiting request whose `from` is not what ENV serves was not made by gitmodel from these tags."""
    req = item.request
    current = state.stage_version(req.env)
    if current != req.previous:
        raise ConflictError(
            f"{item.path}: {req.env} served {req.previous or 'nothing'} when the request was made and "
            f"serves {current or 'nothing'} now, so the reviewed change is not this one; request again "
            f"(`gitmodel request promote {req.model.replace(':', '/')} {req.version} {req.env}`)"
        )


def _no_overrides(item: Merged) -> str:
    req = item.request
    return (
        f"{item.path}: the gate refused {req.model.replace(':', '/')} {req.version} for {req.env} and it "
        f"was requested with --force ({req.reason}); this run refuses overrides (--no-overrides), so "
        "nothing moved: carry it out where overrides are accepted, or request a version the gate passes"
    )


def _carry_out(repo: Path, cfg: config.Config, item: Merged, state: ModelState) -> Outcome:
    from gitmodel.environments import promote

    req = item.request
    current = state.stage_version(req.env)
    canary = cfg.canary.get(req.env) if current is not None else None
    if canary is not None:
        # ENV takes it through its canary: start one; `canary promote` (or monitor's
        # ramp) finishes it with no second request, since the canary was judged here.
        from gitmodel.rollout.canary_moves import start

        first = canary.ramp[0].percent if canary.ramp else 10.0
        step = start(
            repo, req.model, str(req.version), req.env, first, push=True, force=req.forced, reason=req.reason
        )
        return Outcome(item.path, req, APPLIED, step.tags[0], current, step.action, first)
    move = promote(repo, req.model, str(req.version), req.env, push=True, force=req.forced, reason=req.reason)
    return Outcome(item.path, req, APPLIED, str(move.tag), current, move.action)


def _same_request(repo: Path, tip: str, path: str) -> bool:
    """Whether the branch's commit `tip` holds the request.yaml HEAD holds (merged, squashed or not)."""
    theirs, ours = git.object_info(repo, [f"{tip}:{path}", f"HEAD:{path}"])
    return theirs is not None and ours is not None and theirs.oid == ours.oid


def _delete(repo: Path, outcome: Outcome, ref: str, tip: str) -> Outcome:
    from dataclasses import replace

    short = ref.removeprefix("refs/heads/")
    try:
        why = git.delete_remote_branch(repo, ref, tip)
    except GitModelError as exc:
        why = str(exc)
    if why is None:
        return replace(outcome, branch=short, deleted=True)
    warning = (
        f"could not delete the request branch {short} on origin ({why}); the request is {outcome.status}, "
        f"so delete it by hand: `git push origin --delete {short}`"
    )
    return replace(outcome, branch=short, warning=warning)
