"""The environment branches a move's push carries (moves.py adds them to its atomic push).

Each assignment of a listed environment moves that environment's branch to the
version's commit: a fast-forward for a promotion, a reset for a rollback. Both go
with a lease on the value origin has now, read in one ls-remote just before the push:
a branch someone moved meanwhile makes origin refuse the whole push (tags included),
exactly as the sequence ref's lease does for the tags.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gitmodel import git
from gitmodel.refs import Action, Ref


def refspecs_for(repo: Path, moves: Sequence[tuple[Ref, str]]) -> tuple[list[str], dict[str, str]]:
    """(refspecs, leases) moving the branches of `moves` ((parsed tag, commit), in #N order)."""
    from gitmodel import config

    settings = config.load(repo)
    if not settings.branches.environments:
        return [], {}
    wanted: dict[str, str] = {}
    for ref, commit in moves:
        if ref.action is Action.ASSIGN and ref.stage in settings.environments:
            wanted[settings.branches.branch(str(ref.stage), ref.model)] = commit  # the last one wins
    if not wanted:
        return [], {}
    theirs = git.remote_ref_values(repo, sorted(wanted))
    return [f"{commit}:{ref}" for ref, commit in wanted.items()], {r: theirs.get(r, "") for r in wanted}


def add_branches(
    repo: Path, moves: Sequence[tuple[Ref, str]], refspecs: list[str], leases: dict[str, str]
) -> None:
    """Extend a move's push (`refspecs`, `leases`) with its environment branches."""
    more, more_leases = refspecs_for(repo, moves)
    refspecs += more
    leases.update(more_leases)
