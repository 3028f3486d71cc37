"""The host's call into the policy: is the pointer it is asked to serve a legitimate move?

Kept apart from signature checks (a separate function beside it), so that a host can
require either or both.
"""

from __future__ import annotations

from pathlib import Path

from gitmodel.errors import PolicyError
from gitmodel.hooks.verdict import Violation
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


def accept(repo: Path, state: ModelState, stage: str) -> None:
    """Raise PointerRefused unless the newest assignment of `stage` passes the policy."""
    from gitmodel.policy.replay import check_pointer

    found = check_pointer(repo, state, stage)
    if found:
        raise PointerRefused(stage, found)
