"""The environment branches a move's push carries (moves.py adds them to its atomic push).

Each assignment of a listed environment moves that environment's branch to the
version's commit: a fast-forward for a promotion, a reset for a rollback. A branch of
the same model left behind by a tag pushed without it (`git push --tags`, GTO) catches
up in the same push, or alone (`catch_up`: a promote of the version an environment
already serves). All go with a lease on the value origin has now, read in one
ls-remote just before the push: a branch someone moved meanwhile makes origin refuse
the whole push (tags included), exactly as the sequence ref's lease does for the tags.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gitmodel import git
from gitmodel.refs import Action, Ref, to_tag


@dataclass(frozen=True)
class Behind:
    """An environment branch origin holds elsewhere than its environment's newest assignment."""

    ref: str  # refs/heads/PREFIX/ENV/NAME
    tag: str  # the newest assignment tag of ENV, which it follows
    commit: str  # that tag's commit: where the push puts the branch
    theirs: str  # origin's value now, the lease ("": origin has no such branch)

    @property
    def name(self) -> str:
        return self.ref.removeprefix("refs/heads/")


def behind(repo: Path, models: Iterable[str], made: Sequence[Ref] = ()) -> list[Behind]:
    """The branches of `models` to move: each listed environment's, to the commit of its newest
    assignment tag, where origin's branch is elsewhere. A tag leads a branch only when origin
    has it or it is one of `made` (the tags of the push being prepared): a branch origin would
    otherwise be asked to point where no tag it holds marks, and would refuse."""
    from gitmodel import config
    from gitmodel.registry import Registry

    settings = config.load(repo)
    names = sorted(set(models))
    if not settings.branches.environments or not names:
        return []
    branch = {(env, m): settings.branches.branch(env, m) for m in names for env in settings.environments}
    # One round trip: the branches, and the models' tags origin has.
    theirs = git.remote_ref_values(repo, [*branch.values(), *(f"refs/tags/{to_tag(m)}#*" for m in names)])
    known = {n.removeprefix("refs/tags/") for n in theirs} | {ref.tag() for ref in made}
    found: list[Behind] = []
    for m in names:
        state = Registry.load_model(repo, m)  # a move's tags are already made here
        for env in settings.environments:
            events = state.stage_events(env)
            last = events[-1] if events else None
            if last is None or last.ref.action is not Action.ASSIGN or last.tag not in known:
                continue  # nothing to follow, or led by a move of this clone origin lacks
            ref = branch[(env, m)]
            if theirs.get(ref) != last.commit:
                found.append(Behind(ref, last.tag, last.commit, theirs.get(ref, "")))
    return found


def add_branches(
    repo: Path, moves: Sequence[tuple[Ref, str]], refspecs: list[str], leases: dict[str, str]
) -> None:
    """Extend a move's push (`refspecs`, `leases`; `moves`: (parsed tag, commit)) with the
    environment branches of its models."""
    for b in behind(repo, [ref.model for ref, _ in moves], [ref for ref, _ in moves]):
        refspecs.append(f"{b.commit}:{b.ref}")
        leases[b.ref] = b.theirs


def catch_up(repo: Path, model: str, *, push: bool) -> list[Behind]:
    """`model`'s branches behind their tags on origin; with `push`, moved there in one atomic
    push (through origin's hook, which takes a branch catching up alone with its
    environment's newest tag). No tag is written."""
    found = behind(repo, [model])
    if push and found:
        git.push(repo, [f"{b.commit}:{b.ref}" for b in found], leases={b.ref: b.theirs for b in found})
    return found


def catch_up_said(repo: Path, model: str, *, push: bool) -> str:
    """`promote` of the version an environment serves already: catch `model`'s lagging
    branches up (with `push`) or say what `--push` would do, in a clause of one line."""
    from gitmodel.errors import RemoteUnreachable

    if not git.has_remote(repo):
        return "nothing to do"
    try:
        found = catch_up(repo, model, push=push)
    except RemoteUnreachable as exc:
        if push:
            raise
        return f"nothing to do here (origin's environment branches not checked: {exc.message})"
    if not found:
        return "nothing to do"
    what = "branch" if len(found) == 1 else "branches"
    if push:
        moved = ", ".join(f"{b.name}{'' if b.theirs else ' (new)'} to {b.tag}" for b in found)
        return f"caught up origin's lagging environment {what}: {moved}"
    lagging = ", ".join(f"{b.name}{'' if b.theirs else ' (none yet)'} behind {b.tag}" for b in found)
    lag, them = ("lags", "it") if len(found) == 1 else ("lag", "them")
    return f"nothing to promote, but origin's environment {what} {lag}: {lagging}; `--push` moves {them}"
