"""served.py's rules as tables: rollback targets, and how GTO and DVC read the same tags.

Each history is written the way `gitmodel history` would show it, one move a word:
`1` assigns v1 to production, `-2` unassigns v2 (GTO's `support#production!#N`), `x2`
deprecates v2. The registry state is built in memory from those tags (pure; no git).
"""

from __future__ import annotations

import pytest

from gitmodel.environments import previous_good
from gitmodel.refs import Action, Ref, Version
from gitmodel.registry import Event, ModelState
from gitmodel.served import dvc_reading, gto_reading, served_stack, unassigned

ENV = "production"


def v(n: int) -> Version:
    return Version.parse(f"v1.{n}.0")


def state_of(moves: str) -> ModelState:
    state = ModelState("support")
    for n in range(1, 6):
        ref = Ref("support", Action.REGISTER, version=v(n))
        state.versions[v(n)] = Event(ref, ref.tag(), f"c{n}", "", n, "")
    counter = 0
    for word in moves.split():
        if word.startswith("x"):
            n = int(word[1:])
            ref = Ref("support", Action.DEREGISTER, version=v(n))
            state.deprecated_versions[v(n)] = Event(ref, ref.tag(), f"c{n}", "", 0, "")
            continue
        counter += 1
        action = Action.UNASSIGN if word.startswith("-") else Action.ASSIGN
        ref = Ref("support", action, stage=ENV, counter=counter)
        state.assignments.append(Event(ref, ref.tag(), f"c{abs(int(word))}", "", 100 + counter, ""))
    return state


def names(versions: list[Version]) -> list[int]:
    return [x.minor for x in versions]


@pytest.mark.parametrize(
    ("moves", "stack", "target"),
    [
        ("1 2 3", [1, 2, 3], 2),
        ("1 2 3 2", [1, 2], 1),  # back from 3: 3 is the subject of that rollback
        ("1 2 3 2 4", [1, 2, 4], 2),  # ... and stays off while that rollback stands
        ("1 2 1 2", [1, 2], 1),  # re-promoted after its rollback: eligible again
        ("1 2 1 2 3", [1, 2, 3], 2),  # a re-promoted version that served is a target again
        ("1 2 3 1", [1], None),  # a return two steps back pops both
        ("1 2 x1", [1, 2], None),  # deprecated: never a target
        ("1 2 3 x2", [1, 2, 3], 1),
        ("1 2 -2", [1], 1),  # GTO's unassignment takes v2 off the stack (rollback refuses first)
        ("1 2 -2 3", [1, 3], 1),  # ... so a later rollback never restores it
        ("1 2 -1", [2], 2),  # unassigning an older one takes it off (rollback refuses first)
        ("", [], None),
    ],
)
def test_served_stack_and_the_previous_good_version(moves: str, stack: list[int], target: int | None) -> None:
    state = state_of(moves)
    assert names(served_stack(state, ENV)) == stack
    found = previous_good(state, ENV)
    assert (found.minor if found else None) == target


@pytest.mark.parametrize(
    ("moves", "served", "target"),
    [
        # v3's deploy failed (hosts kept v2), then v4 was force-promoted: not back to v3.
        ("1 2 3 4", {1, 2, 4}, 2),
        ("1 2 3 4", {1, 2, 3, 4}, 3),
        ("1 2 3", {3}, None),  # nothing before v3 is known to have served
    ],
)
def test_evidence_of_what_served_skips_versions_whose_deploy_failed(
    moves: str, served: set[int], target: int | None
) -> None:
    found = previous_good(state_of(moves), ENV, lambda x: x.minor in served)
    assert (found.minor if found else None) == target


@pytest.mark.parametrize(
    ("moves", "gto", "dvc", "gap"),
    [
        ("1 2", 2, 2, False),
        ("1 2 1", 1, 1, False),
        ("1 2 -2", 1, 2, True),  # GTO: the one assigned before; DVC: the newest tag's commit
        ("1 2 -1", 2, 1, True),
        ("1 -1", None, 1, True),
        ("1 2 x2", 1, 2, False),  # GTO drops a deprecated version from every stage
        ("1 2 1 x1", 2, 1, False),  # ... and shows the one assigned before it, even one rolled back from
        ("", None, None, False),
    ],
)
def test_how_gto_and_dvc_read_a_stage(moves: str, gto: int | None, dvc: int | None, gap: bool) -> None:
    state = state_of(moves)
    g, d = gto_reading(state, ENV), dvc_reading(state, ENV)
    assert ((g.minor if g else None), (d.minor if d else None)) == (gto, dvc)
    found = unassigned(state, ENV)
    assert (found is not None) == gap
    if found is not None:
        assert (found.gto, found.dvc) == (g, d)
        assert state.stage_version(ENV) is None  # gitmodel names no version there


def test_a_deprecation_not_yet_read_counts_for_gto() -> None:
    state = state_of("1 2")
    assert gto_reading(state, ENV, {v(2)}) == v(1)
