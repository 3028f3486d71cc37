"""The host's call into the policy: is the pointer it is asked to serve a legitimate move?

Kept apart from signature checks (a separate function beside it), so that a host can
require either or both.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from gitmodel.errors import PolicyError
from gitmodel.policy.verdict import TARGET, Violation
from gitmodel.refs import Action, Version, parse_tag, to_tag
from gitmodel.registry import ModelState


class PointerRefused(PolicyError):
    """The pointer fails the policy: the host keeps serving what it has (exit 1)."""

    def __init__(self, stage: str, violations: list[Violation], fix: str | None = None) -> None:
        first = violations[0]
        more = (
            f" (and {len(violations) - 1} more; `gitmodel verify --all` lists them)" if violations[1:] else ""
        )
        keep = f"this host keeps serving what it has until {stage} points at a version the policy accepts"
        fix = fix or keep
        super().__init__(f"{first.line()}{more}; {fix}")
        self.violations = violations


def accept(repo: Path, state: ModelState, env: str) -> None:
    """Raise PointerRefused unless ENV's newest assignment, and its running canary's, pass."""
    from gitmodel.policy.assignments import CANARY_SUFFIX
    from gitmodel.policy.replay import check_pointer

    found = _ambiguous(state, env) or check_pointer(repo, state, env)
    canary = state.stage_events(env + CANARY_SUFFIX)
    if canary and canary[-1].ref.action is Action.ASSIGN:  # ending a canary needs no judging
        found += _ambiguous(state, env + CANARY_SUFFIX) or check_pointer(repo, state, env + CANARY_SUFFIX)
    if found:
        raise PointerRefused(env, found)


def _ambiguous(state: ModelState, stage: str) -> list[Violation]:
    """A stage tag on a commit two versions' tags mark names neither: refused, as GTO does.

    GTO will not read such a registry ("Multiple versions are not allowed on the same Git
    commit"); gitmodel registers one version per commit, so only a hand-made tag gets here.
    """
    events = state.stage_events(stage)
    if not events or events[-1].ref.action is not Action.ASSIGN:
        return []
    last = events[-1]
    at_commit = sorted(v for v, e in state.versions.items() if e.commit == last.commit)
    if len(at_commit) < 2:
        return []
    why = (
        f"its commit {last.commit[:10]} is marked by {' and '.join(str(v) for v in at_commit)}, so it names "
        "no single version (GTO refuses such a registry too); delete the extra version tag and assign one "
        "version with `gitmodel promote`"
    )
    return [Violation(last.tag, TARGET, why)]


def accept_move(repo: Path, state: ModelState, env: str, version: Version) -> None:
    """Raise PointerRefused unless moving ENV to VERSION now would pass the policy.

    For a host that serves a version its pointer does not name (`rollback --local --to`
    a version this host never served): judged as the next assignment tag on VERSION's
    commit would be, with no override (a local move has no record to declare one).
    """
    from gitmodel import config
    from gitmodel.policy.assignments import Judge, Pending

    tag = f"{to_tag(state.name)}#{env}#{state.next_counter()}"
    ref = parse_tag(tag)
    assert ref is not None  # the model's and the environment's names were checked on load
    pending = Pending(tag, ref, state.version_event(version).commit)
    before = replace(state, assignments=list(state.assignments))  # the judge appends to it
    found = Judge(repo, config.load(repo), allow_override=False).judge(before, pending)
    if found:
        fix = (
            f"this host never served {version}, so serving it is a promotion the policy refuses; "
            f"this host keeps serving what it has (`gitmodel promote {state.name} {version} {env}`)"
        )
        raise PointerRefused(env, found, fix)
