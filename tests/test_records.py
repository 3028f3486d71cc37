"""The tag-annotation record: its exact bytes (on disk in every registry) and its round trip."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from gitmodel import records
from gitmodel.records import Act


def test_the_format_is_byte_for_byte_what_registries_hold() -> None:
    record = {"version": "v1.0.0", "action": Act.ROLLBACK, "from": "v1.1.0", "reason": None}
    text = records.format_message("gitmodel: rollback support v1.0.0 to production ", record, " why\n")
    assert text == (
        "gitmodel: rollback support v1.0.0 to production\n\nwhy\n\n"
        'gitmodel-record: {"action":"rollback","from":"v1.1.0","reason":null,"version":"v1.0.0"}\n'
    )
    assert records.format_message("s", {}) == "s\n\ngitmodel-record: {}\n"


def test_every_action_is_its_own_string() -> None:
    assert [str(a) for a in Act] == [
        "register",
        "deprecate",
        "promote",
        "force-promote",
        "rollback",
        "force-rollback",
        "canary-start",
        "canary-set",
        "canary-promote",
        "canary-end",
        "canary-abort",
        "approve",
        "archive",
        "restore",
        "deprecate-on",
        "drill",
    ]
    assert json.dumps({"action": Act.CANARY_SET}) == '{"action": "canary-set"}'
    assert f"{Act.FORCE_PROMOTE}" == "force-promote" and Act("rollback") is Act.ROLLBACK


def test_parse_takes_the_last_record_line_and_forgives_broken_ones() -> None:
    assert records.parse('x\n\ngitmodel-record: {"a":1}\ngitmodel-record: {"a":2}\n') == {"a": 2}
    assert records.parse("x\n\ngitmodel-record: {not json\n") == {}
    assert records.parse("x\n\ngitmodel-record: [1]\n") == {}
    assert records.parse("a hand-written tag\n") == {}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(
    summary=st.text().filter(lambda s: s.strip() and "\n" not in s),
    body=st.text(),
    record=st.dictionaries(st.text(), json_values, max_size=5),
)
def test_round_trip(summary: str, body: str, record: dict[str, object]) -> None:
    text = records.format_message(summary, record, body)
    assert records.parse(text) == record
    assert text.split("\n")[0] == summary.strip()
