"""Environment branches and merged requests, judged where a push arrives (docs/hooks.md).

With `branches: {environments: true}` the refs under the prefix (refs/heads/env/ENV/NAME)
are pointers too, so they obey the tags: a push may move one only together with an
assignment tag of that environment and model, and only to the commit that tag marks
(`environment-branch`). A branch pushed alone, or one that disagrees with its tag, or
a deleted one, is refused: otherwise a tool that follows the branch (Argo CD, Flux)
would deploy what no tag records. A tag pushed without its branch is accepted (a
move made by `git push --tags` or by GTO): the branch follows with the next move.

`branches.requests` lists environments that take a new version only through a merged
request (`merged-request`): a promotion into ENV (or ENV's canary) is accepted when the
judging commit (the default branch before the push) holds the request's
`.gitmodel/requests/ENV/NAME/vX.Y.Z/request.yaml` naming the tag's commit. Rollbacks
to a version ENV served before need none: a rollback is never held up by a review.
"""

from __future__ import annotations

from pathlib import Path

from gitmodel.envbranches.requestfile import read_request
from gitmodel.envbranches.settings import REQUEST_FILE, BranchSettings, request_dir
from gitmodel.policy import files
from gitmodel.policy.stdin import RefUpdate
from gitmodel.policy.verdict import ENV_BRANCH, REQUEST, Violation
from gitmodel.policy.versions import Created
from gitmodel.refs import Action, Version, to_tag


def split(settings: BranchSettings, heads: list[RefUpdate]) -> tuple[list[RefUpdate], list[RefUpdate]]:
    """(environment branch updates, other branch updates); all are other when branches are off."""
    if not settings.environments:
        return [], heads
    mine = [u for u in heads if u.ref.startswith("refs/heads/" + settings.prefix)]
    return mine, [u for u in heads if u not in mine]


def check(
    settings: BranchSettings, environments: list[str], updates: list[RefUpdate], pushed: list[Created]
) -> list[Violation]:
    """Each environment branch update must follow an assignment tag in the same push."""
    found: list[Violation] = []
    fix = "environments move with `gitmodel promote`/`rollback --push`, which push the tag and the branch"
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
            continue
        if u.is_delete:
            why = f"deleting it is refused: tools follow it to deploy {env}; {fix}"
            found.append(Violation(u.ref, ENV_BRANCH, why))
            continue
        tags = sorted(
            (
                c
                for c in pushed
                if c.ref.model == model and c.ref.stage == env and c.ref.action is Action.ASSIGN
            ),
            key=lambda c: c.ref.counter or 0,
        )
        if not tags:
            why = (
                f"it may only move with an assignment tag of {env} ({to_tag(model)}#{env}#N) in the "
                f"same push, and this push has none; {fix}"
            )
            found.append(Violation(u.ref, ENV_BRANCH, why))
        elif tags[-1].commit != u.new:
            why = (
                f"it would point at {u.new[:10]}, but {tags[-1].tag}, pushed with it, marks "
                f"{tags[-1].commit[:10]}; {fix}"
            )
            found.append(Violation(u.ref, ENV_BRANCH, why))
    return found


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
