"""`gitmodel list` from the refs alone (gitmodel/listing.py) answers as the full read does.

The full read (Registry.load: every tag object through for-each-ref) is the reference:
each case below is a registry where a shortcut could go wrong — tags of tags, two
versions on one commit, unassignments and counter ties, lightweight and foreign tags —
compared with loose refs and again with packed ones (peeled ids then come from
packed-refs, not from the objects).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitmodel import git, listing, queries
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


def full_read(repo: Path) -> dict[str, Any]:
    """What list_models answered before listing.py: every model's state from every tag object."""
    envs: list[str] = []
    reg = Registry.load(repo, messages=False)
    rows = []
    for name in sorted(reg.models):
        m = reg.models[name]
        latest, stages = m.latest(), m.stages()
        rows.append(
            {
                "name": name,
                "latest": str(latest) if latest else None,
                "versions": len(m.versions),
                "deprecated": m.deprecated is not None,
                "environments": {e: str(v) if v else None for e, v in stages.items()},
            }
        )
    return {"environments": envs, "models": rows}


@pytest.fixture
def tricky(tmp_path: Path) -> Path:
    repo = tmp_path / "tricky"
    repo.mkdir()
    run(repo, "init", "-q")
    c1, c2, c3 = (commit(repo, f"c{i}") for i in (1, 2, 3))
    # a: staging moved on; production unassigned last; a canary stage outside any config
    tag(repo, "a@v1.0.0", c1)
    tag(repo, "a@v1.1.0", c2)
    tag(repo, "a#staging#1", c1)
    tag(repo, "a#staging#2", c2)
    tag(repo, "a#production#3", c1)
    tag(repo, "a#production!#4", c1)
    tag(repo, "a#production-canary#5", c2)
    run(repo, "tag", "a#staging#9", c1)  # lightweight: never an assignment
    # b: an assignment and an unassignment with one counter (the later name wins)
    tag(repo, "b@v1.0.0", c1)
    tag(repo, "b#prod#3", c1)
    tag(repo, "b#prod!#3", c1)
    # c: two versions on one commit name neither
    tag(repo, "c@v1.0.0", c1)
    tag(repo, "c@v2.0.0", c1)
    tag(repo, "c#staging#1", c1)
    # d: an assignment that tags the version's tag is not its commit
    d1 = tag(repo, "d@v1.0.0", c1)
    tag(repo, "d#staging#1", d1)
    tag(repo, "d#production#1", c1)
    # e: a version and an assignment that tag the same inner tag do match (one level down)
    inner = tag(repo, "inner", c3)
    tag(repo, "e@v1.0.0", inner)
    tag(repo, "e#staging#1", inner)
    # f: deprecated model, a deregistered latest version
    tag(repo, "f@v1.0.0", c1)
    tag(repo, "f@v1.1.0", c2)
    tag(repo, "f@v1.1.0!", c2)
    tag(repo, "f@deprecated", c2)
    # g: only a stray assignment; h: only a lightweight version (not a model)
    tag(repo, "g#staging#1", c1)
    run(repo, "tag", "h@v1.0.0", c1)
    # foreign names, and a namespaced model
    tag(repo, "release-1", c1)
    tag(repo, "x@y", c1)
    tag(repo, "Bad@v1.0.0", c1)
    tag(repo, "acme=support@v1.0.0", c3)
    tag(repo, "acme=support#production#1", c3)
    return repo


EXPECTED = {
    "a": ("v1.1.0", 2, False, {"staging": "v1.1.0", "production": None, "production-canary": "v1.1.0"}),
    "acme:support": ("v1.0.0", 1, False, {"production": "v1.0.0"}),
    "b": ("v1.0.0", 1, False, {"prod": "v1.0.0"}),
    "c": ("v2.0.0", 2, False, {"staging": None}),
    "d": ("v1.0.0", 1, False, {"staging": None, "production": "v1.0.0"}),
    "e": ("v1.0.0", 1, False, {"staging": "v1.0.0"}),
    "f": ("v1.0.0", 2, True, {}),
    "g": (None, 0, False, {"staging": None}),
}


@pytest.mark.parametrize("packed", [False, True], ids=["loose refs", "packed refs"])
def test_the_listing_is_the_full_reads_answer(tricky: Path, packed: bool) -> None:
    if packed:
        run(tricky, "pack-refs", "--all")
    fast = queries.list_models(tricky)
    assert fast == full_read(tricky)
    got = {
        m["name"]: (m["latest"], m["versions"], m["deprecated"], m["environments"]) for m in fast["models"]
    }
    assert got == EXPECTED


def test_only_the_deciding_tag_objects_are_read(tricky: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run(tricky, "pack-refs", "--all")
    asked: list[list[str]] = []
    real = git.tag_targets

    def spy(repo: Path, oids: list[str]) -> dict[str, str]:
        asked.append(list(oids))
        return real(repo, oids)

    monkeypatch.setattr(git, "tag_targets", spy)
    assert listing.summaries(tricky) is not None
    assert len(asked) == 1  # one cat-file for the whole listing
    names = {t.oid: t.name for t in git.peeled_tags(tricky)}
    read = {names[oid] for oid in asked[0]}
    assert "a#staging#1" not in read and "a@v1.0.0" not in read  # superseded, never read
    assert {"a#staging#2", "a@v1.1.0", "e#staging#1", "e@v1.0.0"} <= read


@pytest.mark.parametrize("packed", [False, True], ids=["loose refs", "packed refs"])
def test_a_tag_whose_commit_is_missing_is_listed_from_its_ref(tricky: Path, packed: bool) -> None:
    """The full read fails on it (for-each-ref reads the commit); the listing has the
    commit's id from the tag's header and needs no more."""
    body = (
        f"object {'1' * 40}\ntype commit\ntag a@v9.0.0\n"
        "tagger T <t@example.com> 1700000000 +0000\n\ngitmodel: a@v9.0.0\n"
    )
    broken = run(tricky, "hash-object", "-t", "tag", "-w", "--literally", "--stdin", stdin=body)
    run(tricky, "update-ref", "refs/tags/a@v9.0.0", broken)
    if packed:
        run(tricky, "pack-refs", "--all")
    with pytest.raises(GitFailed):
        full_read(tricky)
    listed = {m["name"]: m for m in queries.list_models(tricky)["models"]}
    assert listed["a"]["latest"] == "v9.0.0" and listed["a"]["versions"] == 3
    assert listed["a"]["environments"]["staging"] == "v1.1.0"


def test_a_ref_to_a_missing_object_fails_as_before(tricky: Path) -> None:
    (tricky / ".git/refs/tags/b@v2.0.0").write_text("2" * 40 + "\n")  # git refuses to write it
    with pytest.raises(GitFailed):
        full_read(tricky)
    with pytest.raises(GitFailed, match=r"b@v2\.0\.0"):
        queries.list_models(tricky)


def test_no_tags_at_all(tmp_path: Path) -> None:
    run(tmp_path, "init", "-q")
    assert git.peeled_tags(tmp_path) == []
    assert queries.list_models(tmp_path) == {"environments": [], "models": []}


def test_outside_a_repository_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(GitFailed):
        git.peeled_tags(tmp_path)


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
