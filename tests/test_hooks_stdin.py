"""Pure parts of the hooks: git's stdin lines, path rules, size settings (tables)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitmodel.errors import UsageError
from gitmodel.git import ZERO
from gitmodel.policy import settings
from gitmodel.policy.files import allowed_in_models, model_of
from gitmodel.policy.stdin import HookInputError, RefUpdate, parse_pre_push, parse_pre_receive

A = "a" * 40
B = "b" * 40
S256 = "c" * 64
Z256 = "0" * 64


@pytest.mark.parametrize(
    ("line", "ref", "old", "new", "kind"),
    [
        (f"refs/tags/x@v1.0.0 {A} refs/tags/x@v1.0.0 {ZERO}", "refs/tags/x@v1.0.0", ZERO, A, "create"),
        (f"(delete) {ZERO} refs/tags/x@v1.0.0 {A}", "refs/tags/x@v1.0.0", A, ZERO, "delete"),
        (f"refs/tags/x@v1.0.0 {B} refs/tags/x@v1.0.0 {A}", "refs/tags/x@v1.0.0", A, B, "move"),
        (f"HEAD {A} refs/heads/main {A}", "refs/heads/main", A, A, "none"),
        (f"refs/heads/dev {A} refs/heads/main {B}", "refs/heads/main", B, A, "move"),
        (f"refs/tags/m#prod#3 {S256} refs/tags/m#prod#3 {Z256}", "refs/tags/m#prod#3", Z256, S256, "create"),
    ],
)
def test_pre_push_lines(line: str, ref: str, old: str, new: str, kind: str) -> None:
    (update,) = parse_pre_push(line + "\n")
    assert (update.ref, update.old, update.new) == (ref, old, new)
    assert update.local_ref == line.split(" ")[0]
    assert (
        kind
        == {
            (True, False, False): "create",
            (False, True, False): "delete",
            (False, False, True): "move",
            (False, False, False): "none",
        }[(update.is_create, update.is_delete, update.is_move)]
    )


@pytest.mark.parametrize(
    ("line", "ref", "old", "new", "kind"),
    [
        (f"{ZERO} {A} refs/tags/x@v1.0.0", "refs/tags/x@v1.0.0", ZERO, A, "create"),
        (f"{A} {ZERO} refs/tags/x@v1.0.0", "refs/tags/x@v1.0.0", A, ZERO, "delete"),
        (f"{A} {B} refs/heads/main", "refs/heads/main", A, B, "move"),
        (f"{Z256} {S256} refs/tags/acme=s@v2.0.0", "refs/tags/acme=s@v2.0.0", Z256, S256, "create"),
    ],
)
def test_pre_receive_lines(line: str, ref: str, old: str, new: str, kind: str) -> None:
    (update,) = parse_pre_receive(line)
    assert (update.ref, update.old, update.new, update.local_ref) == (ref, old, new, None)
    assert getattr(update, f"is_{kind}")


@pytest.mark.parametrize(
    ("ref", "tag"),
    [
        ("refs/tags/x@v1.0.0", "x@v1.0.0"),
        ("refs/heads/main", None),
        ("refs/tagsx", None),
        ("refs/tags/acme=s#prod!#4", "acme=s#prod!#4"),
    ],
)
def test_tag_name(ref: str, tag: str | None) -> None:
    assert RefUpdate(ref, ZERO, A).tag == tag


def test_several_lines_and_blank_ones() -> None:
    text = f"{ZERO} {A} refs/tags/a@v1.0.0\n\n{A} {B} refs/heads/main\n"
    assert [u.ref for u in parse_pre_receive(text)] == ["refs/tags/a@v1.0.0", "refs/heads/main"]
    assert parse_pre_push("") == [] and parse_pre_receive("\n") == []


@pytest.mark.parametrize(
    ("parse", "line", "why"),
    [
        (parse_pre_receive, f"{ZERO} {A}", "expected 3 fields"),
        (parse_pre_receive, f"{ZERO} {A.upper()} refs/tags/x", "not an object id"),
        (parse_pre_receive, f"{ZERO} abc refs/tags/x", "not an object id"),
        (parse_pre_push, f"refs/tags/x {A} refs/tags/x", "expected 4 fields"),
        (parse_pre_push, f"refs/tags/x {A} refs/tags/x {A}0", "not an object id"),
    ],
)
def test_malformed_lines(parse: object, line: str, why: str) -> None:
    with pytest.raises(HookInputError, match=why):
        parse(line)  # type: ignore[operator]


oids = st.text("0123456789abcdef", min_size=40, max_size=40)
refnames = st.from_regex(r"refs/(tags|heads)/[a-z0-9=@#!.-]{1,30}", fullmatch=True)


@given(old=oids, new=oids, ref=refnames)
def test_pre_receive_round_trip(old: str, new: str, ref: str) -> None:
    assert parse_pre_receive(f"{old} {new} {ref}\n") == [RefUpdate(ref, old, new)]
    (push,) = parse_pre_push(f"refs/x {new} {ref} {old}\n")
    assert (push.ref, push.old, push.new) == (ref, old, new)


@pytest.mark.parametrize(
    ("path", "spaces", "model"),
    [
        ("models/support/model.yaml", set(), "support"),
        ("models/support/sub/x.bin", set(), "support"),
        ("acme/models/support/w.gguf.dvc", {"acme"}, "acme:support"),
        ("acme/models/support/w.gguf.dvc", set(), None),  # no acme/dvc.yaml: not a namespace
        ("models/Support/model.yaml", set(), None),
        ("models/model.yaml", set(), None),
        ("src/models.py", set(), None),
    ],
)
def test_model_of(path: str, spaces: set[str], model: str | None) -> None:
    assert model_of(path, spaces) == model


@pytest.mark.parametrize(
    ("path", "ok"),
    [
        ("models/s/model.yaml", True),
        ("models/s/w.gguf.dvc", True),
        ("models/s/.gitignore", True),
        ("models/s/CARD.md", True),
        ("models/s/w.gguf", False),
        ("models/x.bin", False),
        ("models/Big/w.bin", False),
        ("acme/models/s/w.bin", False),
        ("lib/models/s/w.bin", True),
        ("README.md", True),
        ("data/x.bin", True),
    ],
)
def test_allowed_in_models(path: str, ok: bool) -> None:
    assert allowed_in_models(path, {"acme"}) is ok


@pytest.mark.parametrize(
    ("value", "size"),
    [
        (1024, 1024),
        ("500", 500),
        ("500b", 500),
        ("1k", 1000),
        ("1kB", 1000),
        ("1KiB", 1024),
        ("5 MiB", 5 * 1024**2),
        ("5MB", 5 * 1000**2),
        ("1.5GiB", int(1.5 * 1024**3)),
    ],
)
def test_parse_size(value: object, size: int) -> None:
    assert settings.parse_size(value) == size


@pytest.mark.parametrize("value", ["", "huge", "-1", "0", True, "5 TB", "1.2.3k"])
def test_parse_size_refuses(value: object) -> None:
    with pytest.raises(UsageError, match="max_file_size"):
        settings.parse_size(value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, settings.HookSettings()),
        ("environments: [a]\n", settings.HookSettings()),
        ("# hooks: not a key\nenvironments: [a]\n", settings.HookSettings()),
        ("hooks:\n  max_file_size: 1KiB\n", settings.HookSettings(1024, True)),
        ("hooks:\n  dvc_remote_check: false\n", settings.HookSettings(dvc_remote_check=False)),
        ("hooks: {}\n", settings.HookSettings()),
    ],
)
def test_settings(text: str | None, expected: settings.HookSettings) -> None:
    assert settings.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("hooks: [a]\n", "must be a mapping"),
        ("hooks:\n  dvc_remote_check: maybe\n", "true or false"),
        ("hooks:\n  other: 1\n", "hooks.other is not a hooks setting"),
    ],
)
def test_settings_refuse(text: str, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        settings.parse(text)
