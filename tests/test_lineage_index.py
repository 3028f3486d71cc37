"""`lineage --data-hash/--base-model` through the lineage index answers what reading every
model.yaml answers.

The plain-form reader (gitmodel/lifecycle/plainform.py) is held to ruamel's answers on a
table of texts and on generated ones; the index (gitmodel/lineageindex.py) on a registry
of hand-made versions whose model.yaml is quoted, escaped, in flow style, spells the hash
only in a comment, holds values no index line should (NUL, newline, 600 characters, a
number), or cannot be read at all; then with the index cold, warm, damaged, stale and
unwritable.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plugin.fsguard import Guard

from gitmodel import git, lineageindex
from gitmodel.lifecycle import lineage, plainform, reads
from gitmodel.registry import build_models
from gitmodel.yamlio import dumps

HASH = "sha256:7b2e91ab"
LONG = "l" * 600


def run(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, (args, proc.stderr)
    return proc.stdout.strip()


def ruamel_says(text: str) -> tuple[object, str | None] | None:
    """What a full parse gives: (base_model, training.data_hash lowered), None if unreadable."""
    meta = reads.parse(text, "test")
    if meta is None:
        return None
    training = meta.get("training")
    value = training.get("data_hash") if isinstance(training, dict) else None
    return meta.get("base_model"), None if value is None else str(value).lower()


GITMODEL_WRITES = dumps(
    {
        "name": "support",
        "version": "v1.1.0",
        "parent_version": "v1.0.0",
        "created_at": "2026-11-21T14:30:00Z",
        "base_model": "llama-3-8b-instruct",
        "description": "Retrained, it's fine",
        "training": {"data_hash": "sha256:7B2E91AB", "lr": 2.0e-4, "epochs": 3},
        "metrics": {"accuracy": 0.942},
        "known_limitations": ["English only", "no refunds"],
        "artifact": {"files": {"m.gguf": "sha256:" + "ab" * 32}, "size": 2000},
    }
)


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        (GITMODEL_WRITES, ("llama-3-8b-instruct", "sha256:7b2e91ab")),
        ("base_model: m # the base\ntraining:\n  # data_hash: sha256:0\n  data_hash: 'x'\n", ("m", "x")),
        ("labels:\n- a\n- b\nbase_model: m\n", ("m", None)),
        ("training:\n  lr: 1\nbase_model:\n", (None, None)),
        ("training: sha256:7b2e91ab\n", (None, None)),  # not a mapping: no data hash
        ("base_model: 'it''s'\n", ("it's", None)),
        # Left to the parser: a number, a bool word, double quotes, flow, escapes, anchors...
        ("base_model: 3\n", None),
        ("base_model: yes\n", None),
        ('base_model: "llama\\u002d3"\n', None),
        ("training: {data_hash: sha256:7b2e91ab}\n", None),
        ("base_model: &b llama\nx: *b\n", None),
        ("base_model: llama\n  -3\n", None),  # a plain value continued on the next line
        ("base_model: a: b\n", None),
        ("base_model: a\nbase_model: b\n", None),  # a duplicate key: YAML refuses the text
        ("created_at: 2024-13-45\nbase_model: a\n", None),  # an impossible date: unreadable
        ("x: " + "1" * 5000 + "\nbase_model: a\n", None),  # past Python's int digit limit
        ("base_model: a\r\n", None),
        ("base_model: a\tb\n", None),
        ("- base_model: a\n", None),
        ("# only a comment\n", None),
        ("  base_model: a\n", None),
        ("training:\n    data_hash: a\n  lr: 1\n", None),  # an indent YAML refuses
    ],
)
def test_the_plain_form_reads_what_a_parse_reads(text: str, plain: tuple[object, str | None] | None) -> None:
    assert plainform.read(text) == plain
    if plain is not None:
        assert ruamel_says(text) == plain


PLAIN = "name: m\ncreated_at: '2026-01-01T00:00:00Z'\ncreated_by: A <a@b.c>\nbase_model: llama-3\n"


@pytest.mark.parametrize(
    "text",
    [
        PLAIN,
        PLAIN + "description: it's fine\n",
        PLAIN.replace("base_model: llama-3\n", "base_model: llama-3\n  continued\n"),
        "a: |\nbase_model: llama-3\n",
        'a: "x\nbase_model: llama-3\n"\n',
        "a: 'x\nbase_model: llama-3\n'\n",
        "a: [x,\nbase_model: llama-3]\n",
        "a: &x 1\nbase_model: llama-3\n",
        "---\nbase_model: llama-3\n",
        "a: b\\\nbase_model: llama-3\n",
        "training:\n  base_model: llama-3\n",
        "description: x\u2028base_model: llama-3\nbase_model: other\n",  # not a YAML line break
        "a: b\r\nbase_model: llama-3\r\n",
    ],
)
def test_a_line_that_only_looks_like_the_key_is_not_taken_for_it(text: str) -> None:
    plain = plainform.read(text)
    assert plain is None or plain == ruamel_says(text)


@pytest.mark.parametrize(
    ("query", "found", "match"),
    [
        ("sha256:7b2e91ab", "sha256:7b2e91ab", True),
        ("7B2E91AB", "sha256:7b2e91ab", True),
        ("sha256:7b2e91ab", "md5:7b2e91ab", False),
        ("7b2e91", "sha256:7b2e91ab", False),  # no prefix matching: a GDPR answer must be exact
    ],
)
def test_data_hash_matching(query: str, found: str, match: bool) -> None:
    assert lineage._Query(query, None).match(lineageindex.Facts(True, None, found)) is match


_KEYS = st.sampled_from(["base_model", "training", "data_hash", "training", "data_hash", "lr", "k"])
_WORDS = ["llama-3", "'llama 3'", HASH, "7B2E91AB", "0.5", "3", "x #c", "'it''s'", "a  b", "x'y", "x#y"]
_ODD = ["true", "null", "~", "2024-13-45", "-1", "- x", "[a]", "{a: 1}", "a: b", "'a", "|", "&a x", "*a"]
_ODDER = ['"x\\ny"', "%x", "x:", ":x", "...", "=", "<<", "Yes", "-.5", "é", "x\u2028y", "x\ty", "x\ry"]
_VALUES = st.sampled_from([*_WORDS, *_ODD, *_ODDER])
_TREE = st.recursive(
    st.one_of(_VALUES, st.none(), st.lists(_VALUES, min_size=1, max_size=3)),
    lambda kids: st.lists(st.tuples(_KEYS, kids), min_size=1, max_size=4),
    max_leaves=10,
)
_JUNK = st.sampled_from(["", "# data_hash: x", "---", "  x", " k: 1", "- a", "   - b", "base_model: d"])


def _render(entries: list[tuple[str, Any]], indent: int, compact: bool) -> list[str]:
    lines = []
    for key, value in entries:
        if isinstance(value, list) and value and isinstance(value[0], str):
            lines.append(f"{' ' * indent}{key}:")
            lines += [f"{' ' * (indent if compact else indent + 2)}- {v}" for v in value]
        elif isinstance(value, list):
            lines += [f"{' ' * indent}{key}:", *_render(value, indent + 2, compact)]
        else:
            lines.append(f"{' ' * indent}{key}:" + ("" if value is None else f" {value}"))
    return lines


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(st.tuples(_KEYS, _TREE), min_size=1, max_size=5),
    st.booleans(),
    st.lists(st.tuples(st.integers(0, 30), _JUNK), max_size=2),
)
def test_generated_texts_read_plainly_read_as_a_parse_does(
    entries: list[tuple[str, Any]], compact: bool, junk: list[tuple[int, str]]
) -> None:
    lines = _render(entries, 0, compact)
    for at, line in junk:
        lines.insert(at, line)
    text = "\n".join(lines) + "\n"
    plain = plainform.read(text)
    if plain is not None:
        assert ruamel_says(text) == plain


# --- the index on a real registry -------------------------------------------------------

VERSIONS: list[tuple[str, str | None]] = [
    ("support@v1.0.0", f"base_model: llama-3\ntraining:\n  data_hash: {HASH}\n"),
    ("support@v1.1.0", 'base_model: "llama-3"\ntraining: {data_hash: "SHA256:7B2E91AB", lr: 2.0e-4}\n'),
    ("support@v1.2.0", "base_model: llama-3\n# training: {data_hash: sha256:7b2e91ab}\n"),  # a comment
    ("support@v1.3.0", 'base_model: "llama\\u002d3"\ntraining:\n  data_hash: "sha256:7b2e\\x39\\x31ab"\n'),
    ("acme=bot@v1.0.0", f"base_model: mistral-7b\ntraining:\n  data_hash: {HASH}\n"),
    ("acme=bot@v1.1.0", f'base_model: "a\\0b\\nc"\ntraining:\n  data_hash: {HASH}\n'),  # NUL, newline
    ("acme=bot@v1.2.0", f"base_model: {LONG}\ntraining:\n  data_hash: {HASH}\n"),  # too long to keep
    ("other@v1.0.0", f"base_model: 3\ntraining:\n  data_hash: {HASH}\n"),  # not a string
    ("other@v1.1.0", "base_model: llama-3\ntraining:\n  data_hash: 12345678\n"),  # a number
    ("other@v1.2.0", f"base_model: llama-3\ncreated_at: 2024-13-45\ntraining:\n  data_hash: {HASH}\n"),
    ("other@v1.3.0", f"base_model: llama-3\ntraining: [data_hash: {HASH}\n"),  # broken YAML
    ("other@v1.4.0", f"- base_model: llama-3\n- data_hash: {HASH}\n"),  # not a mapping
    ("other@v1.5.0", None),  # no model.yaml at all
]
QUERIES = [
    {"data_hash": HASH},
    {"data_hash": "7B2E91AB"},
    {"data_hash": "12345678"},
    {"base_model": "llama-3"},
    {"base_model": "a\0b\nc"},
    {"base_model": LONG},
    {"base_model": "mistral-7b"},
]


def _path(tag: str) -> str:
    model = tag.partition("@")[0]
    ns, _, name = model.rpartition("=")
    return f"{ns}/models/{name}/model.yaml" if ns else f"models/{name}/model.yaml"


def fast_import(repo: Path, commits: list[dict[str, str] | None], tags: list[tuple[str, int]]) -> None:
    """Commits (each one's files, None: no file at all) and annotated tags on them (by
    index), in one `git fast-import`: a process per object would cost a second a test."""
    run(repo, "init", "-q")
    stream, who = [], "Ada <ada@example.com> 1700000000 +0000"

    def data(text: str) -> None:
        raw = text.encode()
        stream.append(b"data %d\n%s\n" % (len(raw), raw))

    for mark, files in enumerate(commits, start=1):
        stream.append(f"commit refs/heads/main\nmark :{mark}\ncommitter {who}\n".encode())
        data(f"c{mark}")
        stream.append(b"deleteall\n")
        for path, text in (files or {}).items():
            stream.append(f"M 100644 inline {path}\n".encode())
            data(text)
    for name, at in tags:
        stream.append(f"tag {name}\nfrom :{at + 1}\ntagger {who}\n".encode())
        data(name)
    proc = subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=b"".join(stream), check=False)
    assert proc.returncode == 0


@pytest.fixture
def hand_made(tmp_path: Path) -> Path:
    repo = tmp_path / "registry"
    repo.mkdir()
    commits = [None if text is None else {_path(name): text} for name, text in VERSIONS]
    tags = [(name, i) for i, (name, _) in enumerate(VERSIONS)]
    tags += [("support@v1.0.0!", 0), ("support#production#1", 1), ("acme=bot#staging#1", 4)]
    fast_import(repo, commits, tags)
    return repo


def answers(repo: Path, cached: bool = True) -> list[Any]:
    return [lineage.search(repo, **q, cached=cached) for q in QUERIES]


def rows(found: list[dict[str, Any]]) -> list[list[Any]]:
    return [r["versions"] for r in found]


def test_cold_warm_and_uncached_searches_answer_alike(
    hand_made: Path, fs_guard: Callable[..., Guard]
) -> None:
    guard = fs_guard(hand_made)
    truth = answers(hand_made, cached=False)
    guard.assert_unchanged()  # the uncached search writes nothing
    cold, warm = answers(hand_made), answers(hand_made)
    guard.assert_only(lineageindex.path_of(hand_made).parent)
    assert rows(cold) == rows(warm) == rows(truth)
    assert {r["unreadable"] for r in cold + warm + truth} == {4}
    assert [r["read"] for r in truth] == [13] * len(QUERIES)
    assert cold[0]["read"] == 13 and cold[0]["parsed"] == 8
    # Kept: everything but the two values an index line does not hold (600 chars, a number).
    assert {r["read"] for r in cold[1:] + warm} == {2}

    by_hash = {(v["name"], v["version"]): v for v in truth[0]["versions"]}
    assert sorted(by_hash) == [
        ("acme:bot", "v1.0.0"),
        ("acme:bot", "v1.1.0"),
        ("acme:bot", "v1.2.0"),
        ("other", "v1.0.0"),
        ("support", "v1.0.0"),
        ("support", "v1.1.0"),
        ("support", "v1.3.0"),  # escapes spell the same hash; v1.2.0 only says it in a comment
    ]
    assert by_hash[("support", "v1.0.0")]["deprecated"] is True
    assert by_hash[("support", "v1.1.0")]["serving"] == ["production"]
    assert by_hash[("acme:bot", "v1.0.0")]["serving"] == ["staging"]
    assert by_hash[("acme:bot", "v1.1.0")]["base_model"] == "a\0b\nc"
    assert by_hash[("acme:bot", "v1.2.0")]["base_model"] == LONG
    assert by_hash[("other", "v1.0.0")]["base_model"] == 3
    assert rows(truth)[1] == rows(truth)[0]  # a bare hex hash matches under its prefix
    assert [(v["name"], v["version"]) for v in truth[2]["versions"]] == [("other", "v1.1.0")]
    assert [(v["name"], v["version"]) for v in truth[3]["versions"]] == [
        ("other", "v1.1.0"),
        *(("support", f"v1.{k}.0") for k in range(4)),
    ]
    assert [(v["name"], v["version"]) for v in truth[4]["versions"]] == [("acme:bot", "v1.1.0")]
    assert [(v["name"], v["version"]) for v in truth[5]["versions"]] == [("acme:bot", "v1.2.0")]


def test_the_index_holds_no_raw_value(hand_made: Path) -> None:
    answers(hand_made)
    data = lineageindex.path_of(hand_made).read_bytes()
    body = data.partition(b"\n")[2]
    assert b"\n" not in body and b"\0" not in body and LONG.encode() not in body
    assert data.isascii() and b"a\\u0000b\\nc" in body  # escaped, as JSON writes it


def _flip(index: Path) -> None:
    data = bytearray(index.read_bytes())
    data[-5] ^= 1
    index.write_bytes(bytes(data))


def _truncate(index: Path) -> None:
    index.write_bytes(index.read_bytes()[:-100])


def _rewritten(index: Path, change: Callable[[list[Any]], None]) -> None:
    """The index's own columns, changed, under a correct sum: a file of the wrong shape."""
    columns = json.loads(index.read_bytes().partition(b"\n")[2])
    change(columns)
    body = json.dumps(columns).encode()
    index.write_bytes(lineageindex.HEADER + hashlib.sha256(body).hexdigest().encode() + b"\n" + body)


def _a_column_short(index: Path) -> None:
    _rewritten(index, lambda c: c[2].pop())


def _a_string_for_a_column(index: Path) -> None:
    _rewritten(index, lambda c: c.__setitem__(2, "x" * len(c[2])))


def _a_value_too_long(index: Path) -> None:
    _rewritten(index, lambda c: c[2].__setitem__(0, "l" * 600))


def _a_number_for_a_value(index: Path) -> None:
    _rewritten(index, lambda c: c[3].__setitem__(0, 3))


def _a_folder(index: Path) -> None:
    index.unlink()
    index.mkdir()


@pytest.mark.parametrize(
    "damage",
    [
        _flip,
        _truncate,
        _a_column_short,
        _a_string_for_a_column,
        _a_value_too_long,
        _a_number_for_a_value,
        _a_folder,
    ],
)
def test_a_damaged_index_is_rebuilt(
    hand_made: Path, damage: Callable[[Path], None], fs_guard: Callable[..., Guard]
) -> None:
    truth = rows(answers(hand_made, cached=False))
    index = lineageindex.path_of(hand_made)
    lineage.search(hand_made, data_hash=HASH)
    damage(index)
    guard = fs_guard(hand_made)
    again = lineage.search(hand_made, data_hash=HASH)
    assert again["versions"] == truth[0] and again["read"] == 13
    guard.assert_only(index.parent)
    if index.is_file():
        assert lineage.search(hand_made, data_hash=HASH)["read"] == 2


def test_where_no_index_can_be_written_the_search_goes_without(
    hand_made: Path, fs_guard: Callable[..., Guard]
) -> None:
    (hand_made / ".git" / "gitmodel").write_text("a file where the index's folder would be\n")
    guard = fs_guard(hand_made)
    for _ in range(2):
        assert lineage.search(hand_made, data_hash=HASH)["read"] == 13
    assert rows(answers(hand_made)) == rows(answers(hand_made, cached=False))
    guard.assert_unchanged()


def test_only_new_versions_are_read_and_gone_ones_are_dropped(hand_made: Path) -> None:
    lineage.search(hand_made, data_hash=HASH)
    path = hand_made / "models/support/model.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(f"base_model: llama-3\ntraining:\n  data_hash: {HASH}\n# v2\n")
    run(hand_made, "add", "models")
    run(hand_made, "commit", "-q", "-m", "v2")
    run(hand_made, "tag", "-a", "-m", "v2", "support@v2.0.0")
    found = lineage.search(hand_made, data_hash=HASH)
    assert found["read"] == 3  # the new version, and the two values the index does not keep
    assert ("support", "v2.0.0") in {(v["name"], v["version"]) for v in found["versions"]}
    run(hand_made, "tag", "-d", "support@v2.0.0", "other@v1.0.0")
    before = len(lineageindex.load(lineageindex.path_of(hand_made)))
    found = lineage.search(hand_made, data_hash=HASH)
    assert found["read"] == 1 and found["scanned"] == 12  # only the long value, read again
    assert len(lineageindex.load(lineageindex.path_of(hand_made))) == before - 1
    assert rows([found]) == rows([lineage.search(hand_made, data_hash=HASH, cached=False)])


def test_no_tags_at_all(tmp_path: Path) -> None:
    run(tmp_path, "init", "-q")
    found = lineage.search(tmp_path, base_model="llama-3")
    assert (found["versions"], found["scanned"], found["read"]) == ([], 0, 0)


def test_where_versions_serve_is_what_the_registry_says(tmp_path: Path) -> None:
    # Ties on a counter, an unassignment last, two versions on one commit, an assignment
    # to a commit with no version: each stage's answer is ModelState.stages()'s own.
    fast_import(
        tmp_path,
        [{}, {}, {}, {}],
        [
            ("a@v1.0.0", 0),
            ("a@v1.1.0", 1),
            ("a#staging#1", 0),
            ("a#staging#2", 1),
            ("a#production#3", 0),
            ("a#production!#4", 0),
            ("a#canary#5", 1),
            ("b@v1.0.0", 0),
            ("b@v1.1.0", 1),
            ("b#prod!#3", 0),
            ("b#prod#3", 1),  # the same counter: the last by name wins
            ("b#dev#1", 1),
            ("b#dev!#1", 1),
            ("c@v1.0.0", 2),
            ("c@v1.1.0", 2),  # two versions on one commit: the pointer names neither
            ("c#prod#1", 2),
            ("d@v1.0.0", 0),
            ("d#prod#1", 3),  # a commit with no version
        ],
    )
    tags = [t for t in git.peeled_tags(git.show_tags(tmp_path)) if t.peeled is not None]
    full = build_models([git.TagRecord(t.name, str(t.peeled), "", "", 0, "") for t in tags])
    want: dict[tuple[str, Any], list[str]] = {}
    for name, state in full.items():
        for env, version in sorted(state.stages().items()):
            if version is not None:
                want.setdefault((name, version), []).append(env)
    assert lineage._serving(tags, {"a", "b", "c", "d"}) == want
    assert lineage._serving(tags, {"b"}) == {k: v for k, v in want.items() if k[0] == "b"}
    assert sorted((n, str(v), e) for (n, v), e in want.items()) == [
        ("a", "v1.1.0", ["canary", "staging"]),
        ("b", "v1.1.0", ["dev", "prod"]),  # "b#dev!#1" sorts before "b#dev#1"
    ]
