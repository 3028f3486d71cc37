"""Environment branches and merged requests, judged where a push arrives (docs/hooks.md).

With `branches: {environments: true}` the refs under the prefix (refs/heads/env/ENV/NAME)
are pointers too, so they obey the tags: a push may move one only to the commit of its
environment's newest assignment tag, pushed with it or already there (`environment-branch`).
A branch that disagrees with that tag, or a deleted one, is refused: otherwise a tool
that follows the branch (Argo CD, Flux) would deploy what no tag records. A tag pushed
without its branch is accepted (a move made by `git push --tags` or by GTO): the branch
catches up with the next gitmodel move of the model, or alone (a promote of the version
its environment serves, or plain git), and `verify` says it lags (`judge_branches` below).

`branches.requests` lists environments that take a new version only through a merged
request (`merged-request`): a promotion into ENV (or ENV's canary) is accepted when the
judging commit (the default branch before the push) holds the request's
`.gitmodel/requests/ENV/NAME/vX.Y.Z/request.yaml` naming the tag's commit. Rollbacks
to a version ENV served before need none: a rollback is never held up by a review.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from gitmodel import git
from gitmodel.envbranches.requestfile import read_request
from gitmodel.envbranches.settings import HEADS, REQUEST_FILE, BranchSettings, request_dir
from gitmodel.policy import files
from gitmodel.policy.stdin import RefUpdate
from gitmodel.policy.verdict import ENV_BRANCH, REQUEST, Violation
from gitmodel.policy.versions import Created
from gitmodel.refs import Action, Version, to_tag
from gitmodel.registry import ModelState


def split(settings: BranchSettings, heads: list[RefUpdate]) -> tuple[list[RefUpdate], list[RefUpdate]]:
    """(environment branch updates, other branch updates); all are other when branches are off."""
    if not settings.environments:
        return [], heads
    mine = [u for u in heads if u.ref.startswith("refs/heads/" + settings.prefix)]
    return mine, [u for u in heads if u not in mine]


def check(
    settings: BranchSettings,
    environments: list[str],
    updates: list[RefUpdate],
    pushed: list[Created],
    states_for: Callable[[list[str]], dict[str, ModelState]],
) -> list[Violation]:
    """Each environment branch update must point where its environment's newest tag does
    (`states_for` gives the models' states without the pushed tags)."""
    found: list[Violation] = []
    fix = "environments move with `gitmodel promote`/`rollback --push`, which push the tag and the branch"
    wanted: list[tuple[RefUpdate, str, str]] = []
    for u in updates:
        try:
            parsed = settings.parse_branch(u.ref)
        except ValueError as exc:
            why = f"it is under {settings.prefix} but names no environment and model ({exc}); {fix}"
            found.append(Violation(u.ref, ENV_BRANCH, why))
            continue
        assert parsed is not None  # split() kept only refs under the prefix
        env, model = parsed
        if env not in environments:
            why = f"{env!r} is not an environment in gitmodel.yaml; {fix}"
            found.append(Violation(u.ref, ENV_BRANCH, why))
        elif u.is_delete:
            why = f"deleting it is refused: tools follow it to deploy {env}; {fix}"
            found.append(Violation(u.ref, ENV_BRANCH, why))
        else:
            wanted.append((u, env, model))
    states = states_for(sorted({m for _, _, m in wanted})) if wanted else {}
    for u, env, model in wanted:
        last = newest(states.get(model), pushed, model, env)
        if last is not None and last.action is Action.ASSIGN and last.commit == u.new:
            continue
        if last is not None and last.pushed:
            why = f"it would point at {u.new[:10]}, but {last.tag}, pushed with it, marks {last.commit[:10]}"
        elif last is None or last.action is not Action.ASSIGN:
            what = f"{last.tag} unassigns it" if last is not None else "it has none"
            why = (
                f"it may only move with an assignment tag of {env} ({to_tag(model)}#{env}#N) in the same "
                f"push, and this push has none ({what})"
            )
        else:
            why = (
                f"it may only move with an assignment tag of {env} ({to_tag(model)}#{env}#N) in the same "
                f"push, and this push has none; alone it may only catch up with {last.tag}, {env}'s newest "
                f"tag, which marks {last.commit[:10]}, not {u.new[:10]}"
            )
        found.append(Violation(u.ref, ENV_BRANCH, f"{why}; {fix}"))
    return found


@dataclass(frozen=True)
class Newest:
    tag: str
    action: Action  # ASSIGN, or UNASSIGN (then no branch may point anywhere new)
    commit: str
    pushed: bool  # in the push being judged (else: already in the repository)


def newest(state: ModelState | None, pushed: list[Created], model: str, env: str) -> Newest | None:
    """ENV's newest assignment or unassignment of MODEL by `#N`, the pushed tags included:
    the one its environment branch must follow."""
    found = [
        (e.ref.counter or 0, Newest(e.tag, e.ref.action, e.commit, False))
        for e in (state.stage_events(env) if state is not None else [])
    ]
    found += [
        (c.ref.counter or 0, Newest(c.tag, c.ref.action, c.commit, True))
        for c in pushed
        if c.ref.model == model and c.ref.stage == env and c.ref.action in (Action.ASSIGN, Action.UNASSIGN)
    ]
    return max(found, key=lambda pair: pair[0])[1] if found else None


def request_refusal(
    repo: Path, at: str, tag: str, model: str, env: str, version: Version, commit: str
) -> Violation | None:
    """None when the commit `at` holds a merged request for this promotion (see the docstring)."""
    folder = request_dir(env, model, version)
    (text,) = files.read_texts(repo, [f"{at}:{folder}/{REQUEST_FILE}"])
    request = read_request(text, f"{folder}/{REQUEST_FILE}") if text is not None else None
    if request is not None and (request.model, request.env, request.version, request.commit) == (
        model,
        env,
        version,
        commit,
    ):
        return None
    cli = model.replace(":", "/")
    said = "has no merged request for it" if request is None else "has a request naming another commit"
    why = (
        f"{env} takes new versions only through a merged request (gitmodel.yaml branches.requests) and "
        f"the default branch {said}; open one with `gitmodel request promote {cli} {version} {env}`, have "
        "it merged, and let CI write the move (`gitmodel verify --apply-requests`)"
    )
    return Violation(tag, REQUEST, why)


def judge_branches(
    repo: Path,
    settings: BranchSettings,
    environments: Sequence[str],
    models: dict[str, ModelState],
    *,
    at: Collection[str] | None = None,
    stages: Collection[tuple[str, str]] = (),
) -> tuple[list[Violation], list[Violation]]:
    """(violations, warnings) for the environment branches this clone holds: all of them
    (`verify --all`), or those a `verify TAG`/`OLD..NEW` touches: pointing at a commit of
    `at` (a range's or a ref's new side) or of a (env, model) of `stages` (its tags').

    Origin's as last fetched (refs/remotes/origin/PREFIX), else this repository's own
    (refs/heads/PREFIX: origin itself). A branch at an earlier assignment of its
    environment lags (a warning: a tag was pushed without it, which the policy accepts);
    a branch at a commit no assignment of its environment marks is a violation.
    """
    if not settings.environments or (at is not None and not at and not stages):
        return [], []
    violations: list[Violation] = []
    warnings: list[Violation] = []
    for ref, oid in _held(repo, settings).items():
        short = ref.removeprefix(HEADS)
        try:
            parsed = settings.parse_branch(ref)
        except ValueError as exc:
            if at is None or oid in at:
                violations.append(Violation(short, ENV_BRANCH, f"it names no environment and model ({exc})"))
            continue
        if parsed is None or parsed[0] not in environments:
            continue  # an environment gitmodel.yaml no longer lists: nothing follows it
        if at is not None and oid not in at and parsed not in stages:
            continue
        wrong, lagging = _judge(short, oid, *parsed, models.get(parsed[1]))
        violations += wrong
        warnings += lagging
    return violations, warnings


def _held(repo: Path, settings: BranchSettings) -> dict[str, str]:
    """Branch (refs/heads/PREFIX...) -> commit, as origin held them at the last fetch."""
    mirror = f"refs/remotes/origin/{settings.prefix}"
    listed = git.out(["for-each-ref", "--format=%(objectname) %(refname)", mirror], repo)
    if not listed:
        listed = git.out(["for-each-ref", "--format=%(objectname) %(refname)", HEADS + settings.prefix], repo)
    pairs = (line.split(" ", 1) for line in listed.splitlines() if " " in line)
    return {HEADS + name.removeprefix("refs/remotes/origin/").removeprefix(HEADS): oid for oid, name in pairs}


def _judge(
    short: str, oid: str, env: str, model: str, state: ModelState | None
) -> tuple[list[Violation], list[Violation]]:
    """(violations, warnings) for the branch `short` of (env, model) at `oid`."""
    ref = HEADS + short
    last = newest(state, [], model, env)
    if last is not None and last.action is Action.ASSIGN and last.commit == oid:
        return [], []
    earlier = [e.tag for e in (state.stage_events(env) if state else []) if e.commit == oid]
    at = f"{oid[:10]} ({earlier[-1]})" if earlier else oid[:10]
    if last is None or last.action is not Action.ASSIGN:
        said = f"{last.tag} unassigns it" if last else "it has no assignment tag"
        why = f"it points at {at}, but {env} serves no version of {model} ({said}); promote one"
        found = [Violation(short, ENV_BRANCH, why)]
        return ([], found) if earlier else (found, [])
    catch_up = f"`git push origin +{last.tag}^{{commit}}:{ref}`"
    if earlier:
        assert state is not None  # `earlier` holds its tags
        served = state.stage_version(env)
        why = (
            f"it lags: it points at {at}, but {env}'s newest tag {last.tag} marks {last.commit[:10]} "
            f"(a tag pushed without its branch); `gitmodel promote {model.replace(':', '/')} {served} "
            f"{env} --push` catches it up, as does the next move of {model} pushed by gitmodel, or "
            f"plain git: {catch_up}"
        )
        return [], [Violation(short, ENV_BRANCH, why)]
    why = (
        f"it points at {at}, which no assignment tag of {env} marks, while {env}'s newest tag "
        f"{last.tag} marks {last.commit[:10]}: tools following it deploy what no tag records; "
        f"put it back: {catch_up}"
    )
    return [Violation(short, ENV_BRANCH, why)], []
