"""The environment branches a move's push carries (moves.py adds them to its atomic push).

Each assignment of a listed environment moves that environment's branch to the
version's commit: a fast-forward for a promotion, a reset for a rollback. A branch of
the same model left behind by a tag pushed without it (`git push --tags`, GTO) catches
up in the same push. All go with a lease on the value origin has now, read in one
ls-remote just before the push: a branch someone moved meanwhile makes origin refuse
the whole push (tags included), exactly as the sequence ref's lease does for the tags.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gitmodel import git
from gitmodel.refs import Action, Ref, to_tag


def refspecs_for(repo: Path, moves: Sequence[tuple[Ref, str]]) -> tuple[list[str], dict[str, str]]:
    """(refspecs, leases) moving the branches of the models of `moves` ((parsed tag, commit)):
    each listed environment's branch to the commit of its newest assignment tag, where origin's
    branch is elsewhere (a move of this push, or a tag pushed earlier without its branch)."""
    from gitmodel import config
    from gitmodel.registry import Registry

    settings = config.load(repo)
    if not settings.branches.environments or not moves:
        return [], {}
    models = sorted({ref.model for ref, _ in moves})
    branch = {(env, m): settings.branches.branch(env, m) for m in models for env in settings.environments}
    # One round trip: the branches, and the model's tags origin has (a tag made here and
    # never pushed must not lead a branch origin would then refuse).
    theirs = git.remote_ref_values(repo, [*branch.values(), *(f"refs/tags/{to_tag(m)}#*" for m in models)])
    known = {n.removeprefix("refs/tags/") for n in theirs} | {ref.tag() for ref, _ in moves}
    wanted: dict[str, str] = {}
    for m in models:
        state = Registry.load_model(repo, m)  # the move's tags are already made here
        for env in settings.environments:
            events = state.stage_events(env)
            last = events[-1] if events else None
            if last is None or last.ref.action is not Action.ASSIGN or last.tag not in known:
                continue  # nothing to follow, or led by a move of this clone origin lacks
            if theirs.get(branch[(env, m)]) != last.commit:
                wanted[branch[(env, m)]] = last.commit
    return [f"{commit}:{ref}" for ref, commit in wanted.items()], {r: theirs.get(r, "") for r in wanted}


def add_branches(
    repo: Path, moves: Sequence[tuple[Ref, str]], refspecs: list[str], leases: dict[str, str]
) -> None:
    """Extend a move's push (`refspecs`, `leases`) with its environment branches."""
    more, more_leases = refspecs_for(repo, moves)
    refspecs += more
    leases.update(more_leases)
