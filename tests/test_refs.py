from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitmodel.errors import InvalidName, InvalidVersion
from gitmodel.refs import Action, Ref, Version, model_dir, parse_model, parse_tag

segment = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
models = st.one_of(segment, st.builds(lambda a, b: f"{a}:{b}", segment, segment))
versions = st.builds(Version, st.integers(0, 999), st.integers(0, 999), st.integers(0, 999))


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("support", "support"),
        ("acme/support", "acme:support"),
        ("acme:support", "acme:support"),
        ("a", "a"),
        ("llama-3-8b", "llama-3-8b"),
        ("x" * 100, "x" * 100),
    ],
)
def test_valid_names(text: str, canonical: str) -> None:
    assert parse_model(text) == canonical


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("..", "'.'"),
        ("a/../b", "'.'"),
        ("my model", "space"),
        ("a@b", "'@'"),
        ("a#b", "'#'"),
        ("Support", "'S'"),
        ("-lead", "start and end"),
        ("trail-", "start and end"),
        ("x" * 101, "longer than 100"),
        ("a/b/c", "one namespace"),
        ("a:b:c", "one namespace"),
        ("/x", "start and end"),
        ("a_b", "'_'"),
    ],
)
def test_invalid_names_say_why(text: str, why: str) -> None:
    with pytest.raises(InvalidName) as exc:
        parse_model(text)
    assert why in str(exc.value)


@pytest.mark.parametrize("text", ["1.0.0", "v1.0", "v01.0.0", "v1.0.0-rc1", "v1.0.0 ", "V1.0.0", ""])
def test_invalid_versions(text: str) -> None:
    with pytest.raises(InvalidVersion):
        Version.parse(text)


def test_version_order_and_bumps() -> None:
    v = Version.parse("v1.9.3")
    assert Version.parse("v1.10.0") > v > Version.parse("v1.9.2")
    assert str(v.bump("major")) == "v2.0.0"
    assert str(v.bump("minor")) == "v1.10.0"
    assert str(v.bump("patch")) == "v1.9.4"
    assert Version.parse("v2.0.0").level_from(v) == "major"
    assert Version.parse("v1.9.3").level_from(v) is None


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("support@v1.2.3", Ref("support", Action.REGISTER, version=Version(1, 2, 3))),
        ("support@v1.2.3!", Ref("support", Action.DEREGISTER, version=Version(1, 2, 3))),
        ("support@deprecated", Ref("support", Action.DEPRECATE)),
        ("support#production#7", Ref("support", Action.ASSIGN, stage="production", counter=7)),
        ("support#production!#8", Ref("support", Action.UNASSIGN, stage="production", counter=8)),
        ("acme=support@v1.0.0", Ref("acme:support", Action.REGISTER, version=Version(1, 0, 0))),
        ("acme=support#staging#1", Ref("acme:support", Action.ASSIGN, stage="staging", counter=1)),
    ],
)
def test_parse_tag(tag: str, expected: Ref) -> None:
    assert parse_tag(tag) == expected
    assert expected.tag() == tag


@pytest.mark.parametrize(
    "tag",
    [
        "v1.0.0",
        "release-2024",
        "support@1.0.0",
        "support#prod",
        "support#prod#0",
        "Support@v1.0.0",
        "support@v1.0",
        "a=b=c@v1.0.0",
        "support@latest",
        "support#prod#01",
        "",
        "x" * 300,
    ],
)
def test_foreign_tags_are_ignored(tag: str) -> None:
    assert parse_tag(tag) is None


@given(models, versions)
def test_version_tag_round_trip(model: str, version: Version) -> None:
    ref = Ref(model, Action.REGISTER, version=version)
    assert parse_tag(ref.tag()) == ref
    assert parse_model(model) == model


@given(models, segment, st.integers(1, 10**6), st.booleans())
def test_assignment_tag_round_trip(model: str, stage: str, counter: int, unassign: bool) -> None:
    ref = Ref(model, Action.UNASSIGN if unassign else Action.ASSIGN, stage=stage, counter=counter)
    assert parse_tag(ref.tag()) == ref


def test_model_dir_layout() -> None:
    assert model_dir("support") == "models/support"
    assert model_dir("acme:support") == "acme/models/support"
