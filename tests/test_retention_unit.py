"""The retention policy's pure parts: statuses from tags, gc's plan, the config section."""

from __future__ import annotations

import datetime as dt

import pytest

from gitmodel import config
from gitmodel.errors import GitModelError
from gitmodel.lifecycle.events import Lifecycle, LifeEvent
from gitmodel.lifecycle.retention import plan_model
from gitmodel.lifecycle.status import statuses
from gitmodel.records import format_message
from gitmodel.refs import Action, Ref, Version
from gitmodel.registry import Event, ModelState

DAY = 86400
NOW = 1_800_000_000
TODAY = dt.datetime.fromtimestamp(NOW, dt.UTC).date()


def model(
    ages: dict[str, float], moves: list[tuple[str, str]], deprecated: tuple[str, ...] = ()
) -> ModelState:
    """support with versions registered AGES days ago and MOVES (stage, version) in order."""
    state = ModelState("support")
    for text, age in ages.items():
        v = Version.parse(text)
        state.versions[v] = Event(
            Ref("support", Action.REGISTER, version=v), f"support@{v}", f"c-{v}", "", int(NOW - age * DAY), ""
        )
    for n, (stage, text) in enumerate(moves, start=1):
        ref = Ref("support", Action.ASSIGN, stage=stage, counter=n)
        state.assignments.append(Event(ref, ref.tag(), f"c-{text}", "", NOW, ""))
    for text in deprecated:
        v = Version.parse(text)
        state.deprecated_versions[v] = Event(
            Ref("support", Action.DEREGISTER, version=v), f"support@{v}!", f"c-{v}", "", NOW, ""
        )
    return state


def life(*records: dict[str, object]) -> Lifecycle:
    return Lifecycle(
        tuple(
            LifeEvent(
                "support", n, f"refs/gitmodel/lifecycle/support/{n}", "c", "", NOW, format_message("x", r)
            )
            for n, r in enumerate(records, start=1)
        )
    )


def cfg(retention: str = "") -> config.Config:
    return config.parse_text("environments: [staging, production]\n" + retention)


AGES = {f"v1.{i}.0": 400 - i for i in range(7)}  # v1.0.0 oldest ... v1.6.0 newest
MOVES = [
    ("staging", "v1.0.0"),
    ("production", "v1.0.0"),
    ("staging", "v1.1.0"),
    ("production", "v1.1.0"),
    ("staging", "v1.2.0"),
    ("production", "v1.2.0"),
    ("staging", "v1.4.0"),
    ("production-canary", "v1.3.0"),
]


@pytest.mark.parametrize(
    ("version", "expected", "records", "deprecated"),
    [
        ("v1.2.0", "production", (), ()),
        ("v1.4.0", "staging", (), ()),
        ("v1.3.0", "candidate", (), ()),  # a canary runs it
        ("v1.6.0", "development", (), ()),  # never promoted
        ("v1.1.0", "development", (), ()),  # replaced in production
        ("v1.5.0", "deprecated", (), ("v1.5.0",)),
        ("v1.5.0", "deprecated", ({"action": "deprecate-on", "version": "v1.5.0", "on": "2020-01-01"},), ()),
        ("v1.5.0", "development", ({"action": "deprecate-on", "version": "v1.5.0", "on": "2999-01-01"},), ()),
        ("v1.5.0", "archived", ({"action": "archive", "version": "v1.5.0"},), ()),
        (
            "v1.5.0",
            "development",
            ({"action": "archive", "version": "v1.5.0"}, {"action": "restore", "version": "v1.5.0"}),
            (),
        ),
    ],
)
def test_status_from_tags_and_records(
    version: str, expected: str, records: tuple[dict[str, object], ...], deprecated: tuple[str, ...]
) -> None:
    state = model(AGES, MOVES, deprecated)
    got = statuses(state, ("staging", "production"), life(*records), TODAY)
    assert got[Version.parse(version)] == expected


def test_a_version_that_passed_staging_and_waits_is_a_candidate() -> None:
    state = model(
        {"v1.0.0": 5, "v1.1.0": 1},
        [("staging", "v1.0.0"), ("production", "v1.0.0"), ("staging", "v1.1.0"), ("staging", "v1.0.0")],
    )
    assert statuses(state, ("staging", "production"), Lifecycle(), TODAY)[Version(1, 1, 0)] == "candidate"


EVERYTHING = """
retention:
  cold_remote: cold
  rollback_window: {w}
  min_retention_days: {m}
  statuses:
    development: {{max_versions: 0}}
    candidate: {{max_versions: 0}}
    deprecated: {{max_versions: 0}}
"""


@pytest.mark.parametrize(
    ("window", "min_days", "version", "why"),
    [
        (1, 0, "v1.2.0", "served by production"),  # also served by... production wins the message
        (1, 0, "v1.4.0", "served by staging"),
        (1, 0, "v1.3.0", "canary in production"),
        (2, 0, "v1.1.0", "rollback window of production (last 2)"),
        (3, 0, "v1.0.0", "rollback window of production (last 3)"),
        (1, 396, "v1.6.0", "minimum retention (396 days)"),
        (1, 396, "v1.5.0", "minimum retention (396 days)"),
    ],
)
def test_gc_never_archives_a_protected_version(window: int, min_days: float, version: str, why: str) -> None:
    state = model(AGES, MOVES)
    rows = plan_model(cfg(EVERYTHING.format(w=window, m=min_days)), state, Lifecycle(), NOW, TODAY)
    by_version = {r.version: r for r in rows}
    archived = {r.version for r in rows if r.action == "archive"}
    protected = {"v1.2.0", "v1.4.0", "v1.3.0"}  # pointers and the canary, whatever the policy
    assert not archived & protected
    if version in by_version:
        assert (by_version[version].action, by_version[version].reason) == ("keep", why)
    else:
        assert version in protected  # a served status no rule names: never even selected


def test_gc_selects_by_count_and_age_and_skips_archived_ones() -> None:
    state = model(AGES, MOVES)
    policy = (
        "retention: {cold_remote: c, min_retention_days: 0,\n"
        "  statuses: {development: {max_versions: 1, max_age_days: 396}}}\n"
    )
    rows = plan_model(cfg(policy), state, life({"action": "archive", "version": "v1.0.0"}), NOW, TODAY)
    got = {(r.version, r.action, r.reason) for r in rows}
    # development now: v1.1.0 (replaced; window 3 keeps it), v1.5.0, v1.6.0; v1.0.0 is archived
    assert got == {
        ("v1.5.0", "archive", "beyond the newest 1 development"),
        ("v1.1.0", "keep", "rollback window of staging (last 3)"),
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("retention: {statuses: {production: {max_versions: 1}}}", "retention.statuses.production is served"),
        ("retention: {statuses: {archived: {max_versions: 1}}}", "is not a status a rule may name"),
        ("retention: {statuses: {development: {}}}", "names no rule"),
        ("retention: {statuses: {development: {max_version: 1}}}", "did you mean max_versions?"),
        ("retention: {rollback_window: 0}", "retention.rollback_window must be a whole number of at least 1"),
        ("retention: {cold_remote: 's3://bucket/x'}", "must name a DVC remote of .dvc/config"),
        ("retention: {min_retention_days: -1}", "must not be negative"),
        ("retention: {cold_remote: a, hot_remote: a}", "retention.cold_remote names the hot remote"),
        ("drill: {limit_seconds: 0}", "drill.limit_seconds must be more than 0"),
        ("drill: {limit: 5}", "drill.limit is not a drill setting; use limit_seconds"),
    ],
)
def test_bad_policies_are_one_line(text: str, message: str) -> None:
    with pytest.raises(GitModelError) as caught:
        cfg(text + "\n")
    assert message in caught.value.message and "\n" not in caught.value.message


def test_defaults() -> None:
    c = cfg()
    assert (c.retention.rollback_window, c.retention.min_retention_days, c.drill.limit_seconds) == (3, 90, 60)
    assert c.retention.cold_remote is None and not c.retention.statuses


def test_a_version_dated_ahead_of_the_clock_is_0_days_old_and_no_minimum_keeps_it() -> None:
    """A burst of moves dates tags a few seconds ahead of the clock (a second after the
    model's newest); with `min_retention_days: 0` nothing may keep such a version."""
    state = model({"v1.0.0": -5 / DAY, "v1.1.0": -6 / DAY}, [])
    policy = (
        "retention: {cold_remote: c, min_retention_days: 0,\n  statuses: {development: {max_versions: 1}}}\n"
    )
    (row,) = plan_model(cfg(policy), state, Lifecycle(), NOW, TODAY)
    assert (row.version, row.action, row.reason, row.age_days) == (
        "v1.0.0",
        "archive",
        "beyond the newest 1 development",
        0.0,
    )
