"""What an environment served, read from its assignment tags in `#N` order (never records).

Rollback targets, the gate's best-of baseline, the policy and the host's journal all
follow this one rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from gitmodel.refs import Version
from gitmodel.registry import ModelState

T = TypeVar("T")


def served_stack(state: ModelState, env: str) -> list[Version]:
    """What `env` served, from its assignment tags in `#N` order, as a stack.

    Moving to a version already on the stack is a return (a rollback): it pops back to
    it, so the versions it moved away from drop out until promoted again; moving to any
    other version pushes it. Records are never read: they are claims.
    """
    moves = (state.assignment_version(e) for e in state.stage_events(env))
    return stack_of(v for v in moves if v is not None)  # an unassignment changes nothing


def stack_of(moves: Iterable[T]) -> list[T]:
    """Served versions in order as a stack: a move to one on the stack pops back to it."""
    stack: list[T] = []
    for v in moves:
        if v in stack:
            del stack[stack.index(v) + 1 :]
        else:
            stack.append(v)
    return stack
