"""What an environment served, read from its assignment tags in `#N` order (never records).

Rollback targets, the gate's best-of baseline, the policy and the host's journal all
follow this one rule.  It also says how the two other clients of the tag format read
a stage (`gto_reading`, `dvc_reading`), so that gitmodel can refuse, or warn, where
they would disagree with it (docs/usage.md, "GTO and DVC").
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import TypeVar

from gitmodel.refs import Action, Version
from gitmodel.registry import Event, ModelState

T = TypeVar("T")


def served_stack(state: ModelState, env: str) -> list[Version]:
    """What `env` served, from its assignment tags in `#N` order, as a stack.

    Moving to a version already on the stack is a return (a rollback): it pops back to
    it, so the versions it moved away from drop out until promoted again; moving to any
    other version pushes it.  An unassignment (GTO's `NAME#ENV!#N`, which gitmodel never
    writes for an environment) takes its version off the stack: whoever wrote it said
    that version should not serve there.  Records are never read: they are claims.
    """
    stack: list[Version] = []
    for e in state.stage_events(env):
        if e.ref.action is Action.UNASSIGN:
            gone = state.version_at(e.commit)
            stack = [v for v in stack if v != gone]
            continue
        v = state.assignment_version(e)
        if v in stack:
            del stack[stack.index(v) + 1 :]
        elif v is not None:
            stack.append(v)
    return stack


def stack_of(moves: Iterable[T]) -> list[T]:
    """Served versions in order as a stack: a move to one on the stack pops back to it."""
    stack: list[T] = []
    for v in moves:
        if v in stack:
            del stack[stack.index(v) + 1 :]
        else:
            stack.append(v)
    return stack


def gto_reading(state: ModelState, stage: str, deprecated: Collection[Version] = ()) -> Version | None:
    """What `gto show NAME#STAGE` reports (GTO 1.10), following its rule in `#N` order.

    GTO keeps one state per version and stage: a version is in the stage while its
    newest event there is an assignment, and the stage shows the one assigned most
    recently; deregistered (deprecated) versions drop out of every stage.  So after an
    unassignment GTO shows the version assigned before, and after deprecating what a
    stage serves it shows the previous live one.  (GTO orders by tagger date; gitmodel
    dates every tag of a model strictly later than the last, so the orders agree.)
    `deprecated` adds versions deprecated by a tag not read yet.
    """
    active: dict[Version, None] = {}
    for e in state.stage_events(stage):
        v = state.version_at(e.commit)
        if v is None:
            continue
        active.pop(v, None)
        if e.ref.action is Action.ASSIGN:
            active[v] = None
    live = [v for v in active if v not in state.deprecated_versions and v not in deprecated]
    return live[-1] if live else None


def dvc_reading(state: ModelState, stage: str) -> Version | None:
    """What `dvc artifacts get --stage STAGE` fetches (DVC 3.67): the commit of the stage's
    newest tag, whether it assigns or unassigns, deprecated or not."""
    events = state.stage_events(stage)
    return state.version_at(events[-1].commit) if events else None


@dataclass(frozen=True)
class Unassigned:
    """An environment whose newest tag is an unassignment: the clients read it three ways."""

    event: Event
    gto: Version | None  # the version assigned before (GTO's rule)
    dvc: Version | None  # the unassigned version itself (DVC fetches the newest tag's commit)

    def describe(self, model: str, env: str) -> str:
        gone = self.dvc or "a commit holding no single version"
        return (
            f"{env}'s newest tag {self.event.tag} unassigns {model} {gone}: `gto show` reads {env} as "
            f"{self.gto or 'nothing'}, `dvc artifacts get --stage` as {self.dvc or 'nothing'}, and "
            "gitmodel does not guess"
        )


def unassigned(state: ModelState, env: str) -> Unassigned | None:
    """The unassignment that leaves `env` without a version gitmodel will name, if any.

    gitmodel writes unassignments only for canary stages (where one ends the canary);
    one on an environment was written by GTO (`gto unassign`) or by hand.
    """
    events = state.stage_events(env)
    if not events or events[-1].ref.action is not Action.UNASSIGN:
        return None
    return Unassigned(events[-1], gto_reading(state, env), dvc_reading(state, env))
