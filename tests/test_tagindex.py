"""The tag index (gitmodel/tagindex.py) answers what `git.read_tags(messages=False)` does.

Each case is a registry where a shortcut could go wrong (tags of tags, two versions on
one commit, unassignments and counter ties, lightweight and foreign tags), read with
loose refs and with packed ones, with no index, a current one, a stale one, and one that
is damaged or forged.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from plugin.fsguard import Guard

from gitmodel import git, queries, tagindex
from gitmodel.errors import GitFailed
from gitmodel.refs import parse_tag, parse_tags
from gitmodel.registry import Registry


def run(repo: Path, *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, input=stdin, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, (args, proc.stderr)
    return proc.stdout.strip()


def commit(repo: Path, message: str) -> str:
    run(repo, "commit", "-q", "--allow-empty", "-m", message)
    return run(repo, "rev-parse", "HEAD")


def tag(repo: Path, name: str, target: str) -> str:
    run(repo, "tag", "-a", name, target, "-m", f"gitmodel: {name}")
    return run(repo, "rev-parse", f"refs/tags/{name}")


@pytest.fixture
def tricky(tmp_path: Path) -> Path:
    repo = tmp_path / "tricky"
    repo.mkdir()
    run(repo, "init", "-q")
    c1, c2, c3 = (commit(repo, f"c{i}") for i in (1, 2, 3))
    for name, target in [
        ("a@v1.0.0", c1),
        ("a@v1.1.0", c2),
        ("a#staging#1", c1),
        ("a#staging#2", c2),
        ("a#production#3", c1),
        ("a#production!#4", c1),  # production unassigned last
        ("a#production-canary#5", c2),
        ("b@v1.0.0", c1),
        ("b#prod#3", c1),
        ("b#prod!#3", c1),  # one counter twice: the later name wins
        ("c@v1.0.0", c1),
        ("c@v2.0.0", c1),  # two versions on one commit name neither
        ("c#staging#1", c1),
        ("f@v1.0.0", c1),
        ("f@v1.1.0", c2),
        ("f@v1.1.0!", c2),
        ("f@deprecated", c2),
        ("g#staging#1", c1),  # a model known only from a stray assignment
        ("release-1", c1),
        ("Bad@v1.0.0", c1),
        ("acme=support@v1.0.0", c3),
        ("acme=support#production#1", c3),
    ]:
        tag(repo, name, target)
    d1 = tag(repo, "d@v1.0.0", c1)
    tag(repo, "d#staging#1", d1)  # a tag of the version's tag is not its commit
    inner = tag(repo, "inner", c3)
    tag(repo, "e@v1.0.0", inner)  # a version and a move that tag the same inner tag
    tag(repo, "e#staging#1", inner)
    run(repo, "tag", "a#staging#9", c1)  # lightweight: no move
    run(repo, "tag", "h@v1.0.0", c1)  # lightweight: no version
    return repo


def listed(repo: Path) -> dict[str, Any]:
    return {
        m["name"]: (m["latest"], m["versions"], m["environments"])
        for m in queries.list_models(repo)["models"]
    }


EXPECTED = {
    "a": ("v1.1.0", 2, {"staging": "v1.1.0", "production": None, "production-canary": "v1.1.0"}),
    "acme:support": ("v1.0.0", 1, {"production": "v1.0.0"}),
    "b": ("v1.0.0", 1, {"prod": "v1.0.0"}),
    "c": ("v2.0.0", 2, {"staging": None}),
    "d": ("v1.0.0", 1, {"staging": None}),
    "e": ("v1.0.0", 1, {"staging": "v1.0.0"}),
    "f": ("v1.0.0", 2, {}),
    "g": (None, 0, {"staging": None}),
}


def spy(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The names each read of tag objects asked for ([] = every tag)."""
    asked: list[list[str]] = []
    real = git.tag_facts

    def facts(repo: Path, names: Any = ()) -> dict[str, git.TagFacts]:
        asked.append(list(names))
        return real(repo, names)

    monkeypatch.setattr(git, "tag_facts", facts)
    return asked


@pytest.mark.parametrize("packed", [False, True], ids=["loose refs", "packed refs"])
def test_cold_and_warm_reads_are_read_tags(
    tricky: Path, packed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if packed:
        run(tricky, "pack-refs", "--all")
    truth = git.read_tags(tricky, messages=False)
    asked = spy(monkeypatch)
    assert tagindex.read_tags(tricky) == truth  # no index yet: every tag read from git
    assert tagindex.path_of(tricky).stat().st_mode & 0o777 == 0o644  # readable by the clone's other users
    assert tagindex.read_tags(tricky) == truth
    assert tagindex.read_tags(tricky) == truth
    # The tags of tags (d#staging#1, e@v1.0.0, e#staging#1) are read each time; nothing else is.
    assert [sorted(a) for a in asked[1:]] == [["d#staging#1", "e#staging#1", "e@v1.0.0"]] * 2
    assert listed(tricky) == EXPECTED


@pytest.mark.parametrize("packed", [False, True], ids=["loose refs", "packed refs"])
def test_list_answers_as_the_full_read(tricky: Path, packed: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """`list` reads no index (tests/test_firstread.py); completion's registry is the index's."""
    if packed:
        run(tricky, "pack-refs", "--all")
    fast = queries.list_models(tricky)
    assert not tagindex.path_of(tricky).exists()
    with monkeypatch.context() as m:
        m.setattr(tagindex, "listing_models", lambda repo: Registry.load(repo, messages=False).models)
        assert queries.list_models(tricky) == fast
    full = Registry.load(tricky, messages=False).models
    assert Registry.for_listing(tricky).models.keys() == full.keys()


def test_a_change_reads_only_the_new_tags(tricky: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run(tricky, "tag", "-d", "d#staging#1", "e@v1.0.0", "e#staging#1")  # no tag of a tag left
    tagindex.read_tags(tricky)
    asked = spy(monkeypatch)
    assert tagindex.read_tags(tricky) == git.read_tags(tricky, messages=False)
    assert asked == []  # a warm read opens no tag object
    tag(tricky, "a@v1.2.0", run(tricky, "rev-parse", "HEAD"))
    run(tricky, "tag", "-d", "b#prod!#3")
    assert tagindex.read_tags(tricky) == git.read_tags(tricky, messages=False)
    assert asked == [["a@v1.2.0"]]
    assert listed(tricky)["b"][2] == {"prod": "v1.0.0"}
    monkeypatch.setattr(tagindex, "MAX_MISSES", 1)
    tag(tricky, "x@v1.0.0", run(tricky, "rev-parse", "HEAD"))
    tag(tricky, "y@v1.0.0", run(tricky, "rev-parse", "HEAD"))
    assert tagindex.read_tags(tricky) == git.read_tags(tricky, messages=False)
    assert asked[-1] == []  # many new tags: one read of them all


def test_a_retagged_name_is_read_again(tricky: Path) -> None:
    """Same name, same commit, a new tag object (`git tag -f`): the key sees the new id."""
    tagindex.read_tags(tricky)
    c1 = run(tricky, "rev-list", "--max-parents=0", "HEAD")
    run(tricky, "tag", "-f", "-a", "a@v1.0.0", c1, "-m", "again")
    env = {"GIT_COMMITTER_NAME": "Other", "GIT_COMMITTER_EMAIL": "other@example.com"}
    subprocess.run(
        ["git", "tag", "-f", "-a", "b@v1.0.0", c1, "-m", "again"],
        cwd=tricky,
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    records = {r.name: r for r in tagindex.read_tags(tricky)}
    assert records["b@v1.0.0"].tagger == "Other"
    assert tagindex.read_tags(tricky) == git.read_tags(tricky, messages=False)


def damage_truncate(index: Path) -> None:
    index.write_bytes(index.read_bytes()[:-100])


def damage_flip(index: Path) -> None:
    data = bytearray(index.read_bytes())
    data[len(data) // 2] ^= 0x01
    index.write_bytes(bytes(data))


def damage_garbage(index: Path) -> None:
    index.write_bytes(b"\x00\xff garbage \n" * 50)


def damage_other_format(index: Path) -> None:
    index.write_bytes(index.read_bytes().replace(b"tag-index 1 ", b"tag-index 9 ", 1))


def _resum(index: Path, body: bytes) -> None:
    index.write_bytes(tagindex.HEADER + hashlib.sha256(body).hexdigest().encode() + b"\n" + body)


def forge_target(index: Path) -> None:
    """A well-summed index, key current, that says a@v1.1.0 tags c@v1.0.0's commit."""
    key, held = tagindex.load(index)
    assert key is not None
    commits = {r.name: r.commit for _, r in held}
    forged = [(oid, r._replace(commit=commits["c@v1.0.0"]) if r.name == "a@v1.1.0" else r) for oid, r in held]
    tagindex.save(index, key, forged)


def forge_name(index: Path) -> None:
    key, held = tagindex.load(index)
    assert key is not None
    tagindex.save(
        index, key, [(oid, r._replace(name="z@v9.0.0") if r.name == "b@v1.0.0" else r) for oid, r in held]
    )


def forge_shape(index: Path) -> None:
    _resum(index, b"key\n2\nonly one column\n")


def unreadable(index: Path) -> None:
    index.unlink()
    index.mkdir()  # a directory where the file should be: neither read nor written


DAMAGE: dict[str, Callable[[Path], None]] = {
    "truncated": damage_truncate,
    "a flipped bit": damage_flip,
    "garbage": damage_garbage,
    "another format": damage_other_format,
    "forged commit": forge_target,
    "forged name": forge_name,
    "well-summed, wrong shape": forge_shape,
    "not a file": unreadable,
}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_a_damaged_or_forged_index_is_never_believed(
    tricky: Path, damage: Callable[[Path], None], fs_guard: Callable[..., Guard]
) -> None:
    run(tricky, "tag", "-d", "d#staging#1", "e@v1.0.0", "e#staging#1")  # the fast path, when it holds
    truth = git.read_tags(tricky, messages=False)
    tagindex.read_tags(tricky)
    index = tagindex.path_of(tricky)
    damage(index)
    guard = fs_guard(tricky)
    assert tagindex.read_tags(tricky) == truth
    assert listed(tricky)["a"][2]["staging"] == "v1.1.0"
    guard.assert_only(index.parent)  # only the index is rewritten
    if index.is_file():
        assert tagindex.load(index)[0] is not None and tagindex.read_tags(tricky) == truth


def test_where_no_index_can_be_written_the_read_goes_without(
    tricky: Path, fs_guard: Callable[..., Guard]
) -> None:
    (tricky / ".git" / "gitmodel").write_text("a file where the index's folder would be\n")
    guard = fs_guard(tricky)
    assert tagindex.read_tags(tricky) == git.read_tags(tricky, messages=False)
    assert listed(tricky) == EXPECTED
    guard.assert_unchanged()


def test_a_tag_whose_commit_is_missing_fails_as_before(tricky: Path) -> None:
    body = (
        f"object {'1' * 40}\ntype commit\ntag a@v9.0.0\n"
        "tagger T <t@example.com> 1700000000 +0000\n\ngitmodel: a@v9.0.0\n"
    )
    broken = run(tricky, "hash-object", "-t", "tag", "-w", "--literally", "--stdin", stdin=body)
    run(tricky, "update-ref", "refs/tags/a@v9.0.0", broken)
    with pytest.raises(GitFailed):
        git.read_tags(tricky, messages=False)
    with pytest.raises(GitFailed):
        tagindex.read_tags(tricky)


def test_a_ref_to_a_missing_object_fails_as_before(tricky: Path) -> None:
    (tricky / ".git/refs/tags/b@v2.0.0").write_text("2" * 40 + "\n")  # git refuses to write it
    with pytest.raises(GitFailed):
        git.read_tags(tricky, messages=False)
    with pytest.raises(GitFailed, match=r"b@v2\.0\.0"):
        tagindex.read_tags(tricky)


def test_no_tags_at_all(tmp_path: Path) -> None:
    run(tmp_path, "init", "-q")
    assert git.show_tags(tmp_path) == ""
    assert tagindex.read_tags(tmp_path) == [] == git.read_tags(tmp_path, messages=False)
    assert queries.list_models(tmp_path)["models"] == []


def test_outside_a_repository_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(GitFailed):
        git.show_tags(tmp_path)


NAME_PARTS = st.sampled_from(
    ["a", "b-2", "acme", "x", "-", "=", "@", "#", "!", "v1", ".", "0", "01", "deprecated"]
)


@given(st.lists(st.lists(NAME_PARTS, max_size=8).map("".join), max_size=30))
def test_parse_tags_is_parse_tag_of_each(names: list[str]) -> None:
    names += [
        "a@v1.0.0",
        "acme=a#prod#2",
        "a#prod!#1",
        "a@v1.0.0!",
        "a@deprecated",
        "=a@v1.0.0",
        "a" * 101 + "@v1.0.0",
    ]
    assert parse_tags(names) == [parse_tag(n) for n in names]
