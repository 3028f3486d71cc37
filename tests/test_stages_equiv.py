"""`ModelState.stages()` and lifecycle status resolve only each stage's newest assignment
(and, for "has been in an earlier environment", compare commits), yet answer exactly as
resolving every assignment in `#N` order did. The reference below is that older reading,
kept here as the oracle; the histories are generated with the cases that broke such
shortcuts before: unassignments, counter ties, rollbacks, deregistrations, a deprecated
model, two versions on one commit, assignments of a commit holding no version, canaries.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gitmodel import git
from gitmodel.lifecycle import status
from gitmodel.lifecycle.events import Lifecycle
from gitmodel.refs import Version
from gitmodel.registry import ModelState, build_models

DAY = dt.date(2026, 11, 30)
COMMITS = [f"{i:040x}" for i in range(1, 7)]  # few: versions and moves share them
STAGES = ["dev", "staging", "production", "production-canary", "qa-canary"]
ENVS = [[], ["production"], ["staging", "production"], ["dev", "staging", "production"]]


# --- the oracle: every assignment resolved, in `#N` order (the reading before this change)


def every_move(state: ModelState) -> list[tuple[str, Version | None]]:
    return [(str(e.ref.stage), state.assignment_version(e)) for e in state.assignments]


def oracle_stages(state: ModelState) -> dict[str, Version | None]:
    return dict(every_move(state))


def oracle_statuses(state: ModelState, envs: list[str], only: list[Version] | None) -> dict[Version, str]:
    final = envs[-1] if envs else "production"
    done = every_move(state)
    now = dict(done)
    top = now.get(final)
    out = {}
    for v in state.versions if only is None else only:
        serving = {s for s, x in now.items() if x == v}
        been = {s for s, x in done if x == v}
        if v in state.deprecated_versions:
            out[v] = "deprecated"
        elif final in serving:
            out[v] = "production"
        elif any(s.endswith("-canary") for s in serving):
            out[v] = "candidate"
        elif serving:
            out[v] = "staging"
        elif been and final not in been and (top is None or v > top):
            out[v] = "candidate"
        else:
            out[v] = "development"
    return out


# --- generated histories, read as `git.read_tags` gives them (refname order)

_versions = st.lists(
    st.tuples(st.integers(0, 5), st.sampled_from(COMMITS), st.booleans()),  # (minor, commit, deregistered)
    max_size=6,
    unique_by=lambda t: t[0],
)
_moves = st.lists(
    st.tuples(
        st.sampled_from(STAGES),
        st.booleans(),  # an unassignment
        st.sampled_from([*COMMITS, "f" * 40]),  # the last holds no version
        st.integers(1, 8),  # small counters: ties and gaps
    ),
    max_size=14,
)


def history(
    versions: list[tuple[int, str, bool]], moves: list[tuple[str, bool, str, int]], deprecated: bool
) -> ModelState:
    tags: dict[str, str] = {}
    for minor, commit, dereg in versions:
        tags[f"m@v1.{minor}.0"] = commit
        if dereg:
            tags[f"m@v1.{minor}.0!"] = commit
    for stage, unassign, commit, n in moves:
        tags.setdefault(f"m#{stage}{'!' if unassign else ''}#{n}", commit)  # one tag per name
    if deprecated:
        tags["m@deprecated"] = COMMITS[0]
    records = [git.TagRecord(name, tags[name], "t", "<t@x>", 1, "") for name in sorted(tags)]
    return build_models(records).get("m") or ModelState("m")


def assert_same(state: ModelState) -> None:
    assert list(state.stages().items()) == list(oracle_stages(state).items())  # order too
    for stage, v in oracle_stages(state).items():
        assert state.stage_version(stage) == v
    life = Lifecycle()
    for envs in ENVS:
        assert status.statuses(state, envs, life, DAY) == oracle_statuses(state, envs, None)
        for v in state.versions:
            assert status.statuses(state, envs, life, DAY, [v]) == oracle_statuses(state, envs, [v])
        latest = state.latest()
        want = oracle_statuses(state, envs, [latest])[latest] if latest else None
        assert status.model_fields(state, envs, life, DAY)["status"] == want


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_versions, _moves, st.booleans())
# v1.1.0 staged, promoted, rolled back to v1.0.0, then production unassigned at a tied #4
@example(
    [(0, COMMITS[0], False), (1, COMMITS[1], False)],
    [
        ("staging", False, COMMITS[1], 1),
        ("production", False, COMMITS[1], 2),
        ("production", False, COMMITS[0], 3),
        ("production", True, COMMITS[0], 4),
        ("production", False, COMMITS[1], 4),
    ],
    False,
)
# two versions on one commit: neither is named, and a canary of it serves nothing
@example(
    [(0, COMMITS[0], False), (1, COMMITS[2], False), (2, COMMITS[2], True)],
    [("production-canary", False, COMMITS[2], 1), ("staging", False, COMMITS[0], 2)],
    True,
)
def test_newest_assignments_answer_as_every_assignment_does(
    versions: list[tuple[int, str, bool]], moves: list[tuple[str, bool, str, int]], deprecated: bool
) -> None:
    assert_same(history(versions, moves, deprecated))


def test_a_state_given_its_moves_out_of_counter_order_reads_them_in_list_order() -> None:
    # policy/replay.py builds states from a filtered list: the list's order is the history.
    state = history([(0, COMMITS[0], False), (1, COMMITS[1], False)], [], False)
    built = history(
        [(0, COMMITS[0], False), (1, COMMITS[1], False)],
        [("production", False, COMMITS[1], 2), ("production", False, COMMITS[0], 1)],
        False,
    )
    state.assignments = list(reversed(built.assignments))  # #2 then #1: #1 is the newest
    assert state.stages() == {"production": Version(1, 0, 0)}
    assert_same(state)
