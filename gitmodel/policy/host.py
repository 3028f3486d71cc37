"""The host's call into the policy: is the pointer it is asked to serve a legitimate move?

Kept apart from signature checks (a separate function beside it), so that a host can
require either or both.
"""

from __future__ import annotations

from pathlib import Path

from gitmodel.errors import PolicyError
from gitmodel.policy.verdict import Violation
from gitmodel.registry import ModelState


class PointerRefused(PolicyError):
    """The pointer fails the policy: the host keeps serving what it has (exit 1)."""

    def __init__(self, stage: str, violations: list[Violation]) -> None:
        first = violations[0]
        more = (
            f" (and {len(violations) - 1} more; `gitmodel verify --all` lists them)" if violations[1:] else ""
        )
        super().__init__(
            f"{first.line()}{more}; this host keeps serving what it has until {stage} points at a "
            "version the policy accepts"
        )
        self.violations = violations


def accept(repo: Path, state: ModelState, env: str) -> None:
    """Raise PointerRefused unless ENV's newest assignment, and its running canary's, pass."""
    from gitmodel.policy.assignments import CANARY_SUFFIX
    from gitmodel.policy.replay import check_pointer
    from gitmodel.refs import Action

    found = check_pointer(repo, state, env)
    canary = state.stage_events(env + CANARY_SUFFIX)
    if canary and canary[-1].ref.action is Action.ASSIGN:  # ending a canary needs no judging
        found += check_pointer(repo, state, env + CANARY_SUFFIX)
    if found:
        raise PointerRefused(env, found)
