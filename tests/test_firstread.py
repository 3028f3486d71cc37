"""`list` (and shell completion) from `show-ref -d` and the few tag objects that decide
a row (`listingread.listing_models`) answers as the full read of every tag does.

The shortcut's risk is a tag whose one-level target is not the commit show-ref peels it
to (a tag of a tag), in a place that decides a row: a stage's newest assignment, the
latest version, another version or move on the same commit. The histories below put
such tags everywhere, in real repositories, loose and packed; the oracle is
`build_models(git.read_tags(messages=False))`, what `list` read before. A hand-made
registry holds the other shapes (counter ties, unassignments, lightweight and foreign
tags, a tag of a version's tag) to `list`'s exact rows and completion's names.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from plugin.fsguard import Guard

from gitmodel import git, listingread, queries
from gitmodel.cli import completion
from gitmodel.errors import GitFailed
from gitmodel.lifecycle import status
from gitmodel.lifecycle.events import Lifecycle
from gitmodel.refs import parse_tag, parse_tags
from gitmodel.registry import ModelState, Registry, build_models

DAY = dt.date(2026, 11, 30)
ENVS = [[], ["production"], ["staging", "production"]]
STAGES = ["staging", "production", "production-canary"]
INNER = ["inner-0", "inner-1"]  # plain tags of commits 0 and 1, tagged again below


def git_(repo: Path, *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, input=stdin, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, (args, proc.stderr)
    return proc.stdout.strip()


def base(repo: Path) -> list[str]:
    """The repository's three commits (made on first use; write_tags drops the branch)."""
    kept = repo.parent / f"{repo.name}-commits"
    if not kept.exists():
        repo.mkdir()
        git_(repo, "init", "-q")
        for i in range(3):
            git_(repo, "commit", "-q", "--allow-empty", "-m", f"c{i}")
        kept.write_text(git_(repo, "rev-list", "--reverse", "HEAD"))
    return kept.read_text().split()


def write_tags(repo: Path, tags: list[tuple[str, str]], light: list[tuple[str, str]], packed: bool) -> None:
    """Replace every tag: `tags` are (name, target spec) in the order written, a spec being
    a commit id or `tag:NAME` (a tag of that tag object); `light` are lightweight ones."""
    shutil.rmtree(repo / ".git" / "refs" / "tags", ignore_errors=True)
    (repo / ".git" / "packed-refs").unlink(missing_ok=True)
    oids: dict[str, str] = {}
    bodies = repo.parent / f"{repo.name}-bodies"
    shutil.rmtree(bodies, ignore_errors=True)
    bodies.mkdir()
    paths = []
    for i, (name, spec) in enumerate(tags):
        kind, target = ("tag", oids[spec[4:]]) if spec.startswith("tag:") else ("commit", spec)
        body = f"object {target}\ntype {kind}\ntag {name}\ntagger T <t@x> 1700000000 +0000\n\n{name}\n"
        data = body.encode()
        oids[name] = hashlib.sha1(b"tag %d\0" % len(data) + data).hexdigest()  # git's own id
        (bodies / str(i)).write_bytes(data)
        paths.append(str(bodies / str(i)))
    if paths:
        written = git_(repo, "hash-object", "-w", "-t", "tag", "--stdin-paths", stdin="\n".join(paths) + "\n")
        assert written.split() == [oids[n] for n, _ in tags]
    updates = [f"create refs/tags/{n} {oids[n]}\n" for n, _ in tags] + [
        f"create refs/tags/{n} {c}\n" for n, c in light
    ]
    git_(repo, "update-ref", "--stdin", stdin="".join(updates))
    if packed:
        git_(repo, "pack-refs", "--all")


def answers(state: ModelState) -> dict[str, Any]:
    latest = state.latest()
    return {
        "latest": latest,
        "versions": sorted(state.versions),
        "deprecated": state.deprecated is not None,
        "stages": list(state.stages().items()),
        "status": [status.model_fields(state, envs, Lifecycle(), DAY)["status"] for envs in ENVS],
    }


def assert_as_full_read(repo: Path) -> None:
    truth = build_models(git.read_tags(repo, messages=False))
    fast = listingread.listing_models(repo)
    assert sorted(fast) == sorted(truth)
    for name in truth:
        assert answers(fast[name]) == answers(truth[name]), name


# A target: commit 0-2, one of the plain tags INNER, or another of the model's tags.
_target = st.one_of(st.integers(0, 2), st.sampled_from(INNER), st.sampled_from(["v0", "v1", "v2"]))
_versions = st.lists(
    st.tuples(st.integers(0, 3), _target, st.booleans()), max_size=5, unique_by=lambda t: t[0]
)
_moves = st.lists(st.tuples(st.sampled_from(STAGES), st.booleans(), _target, st.integers(1, 6)), max_size=10)

Target = int | str


def history(
    commits: list[str],
    versions: list[tuple[int, Target, bool]],
    moves: list[tuple[str, bool, Target, int]],
    deprecated: bool,
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    tags = [(name, commits[i]) for i, name in enumerate(INNER)]
    written = set(INNER)

    def spec(target: Target) -> str:
        if isinstance(target, int):
            return commits[target]
        name = f"m@v1.{target[1]}.0" if target.startswith("v") else target
        return f"tag:{name}" if name in written else commits[2]  # a version not (yet) written

    for minor, target, dereg in versions:
        name = f"m@v1.{minor}.0"
        tags.append((name, spec(target)))
        written.add(name)
        if dereg:
            tags.append((f"{name}!", spec(target)))
    names = {n for n, _ in tags}
    for stage, unassign, target, n in moves:
        name = f"m#{stage}{'!' if unassign else ''}#{n}"
        if name not in names:
            names.add(name)
            tags.append((name, spec(target)))
    if deprecated:
        tags.append(("m@deprecated", commits[0]))
    tags.append(("other@v1.0.0", commits[1]))  # a second model, with a move on the same commit
    tags.append(("other#production#1", commits[1]))
    light = [("m@v1.9.0", commits[0]), ("m#production#99", commits[1])]  # lightweight: no tags of ours
    return tags, light


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(_versions, _moves, st.booleans(), st.booleans())
# the latest version is tagged directly; an older one tags a tag of the same commit:
# only the latest is at that commit, and production serves it
@example([(0, "inner-0", False), (1, 0, False)], [("production", False, 0, 1)], False, False)
# production's newest move tags the latest version's tag: it serves nothing
@example(
    [(0, 0, False), (1, 1, False)], [("production", False, "v1", 2), ("staging", False, 1, 1)], False, True
)
# a version and a move tag the same inner tag: the move names it; the latest has "been" there
@example([(0, 0, False), (1, "inner-1", False)], [("staging", False, "inner-1", 1)], False, False)
def test_listing_answers_as_the_full_read(
    tmp_path: Path,
    versions: list[tuple[int, Target, bool]],
    moves: list[tuple[str, bool, Target, int]],
    deprecated: bool,
    packed: bool,
) -> None:
    repo = tmp_path / "repo"
    commits = base(repo)
    write_tags(repo, *history(commits, versions, moves, deprecated), packed=packed)
    assert_as_full_read(repo)


def test_list_reads_only_the_deciding_tag_objects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    c = base(repo)
    tags = [(f"m@v1.{i}.0", c[i]) for i in range(3)]
    tags += [("m#staging#1", c[0]), ("m#staging#2", c[1]), ("m#production#3", c[1])]
    tags += [("n@v1.0.0", c[2]), ("n#staging#1", c[2])]
    write_tags(repo, tags, [], packed=True)
    asked: list[str] = []
    real = git.read_blobs

    def read_blobs(repo: Path, specs: list[str]) -> list[bytes | None]:
        asked.extend(specs)
        return real(repo, specs)

    monkeypatch.setattr(git, "read_blobs", read_blobs)
    listed = queries.list_models(repo)
    oid = dict(line.split()[::-1] for line in git_(repo, "show-ref", "--tags").splitlines())
    # m: the newest staging and production moves (c1), the latest version (c2) and the
    # version at c1; not v1.0.0 and staging#1 (c0). n: both its tags.
    deciding = ["m@v1.1.0", "m@v1.2.0", "m#staging#2", "m#production#3", "n@v1.0.0", "n#staging#1"]
    assert sorted(asked) == sorted([*(oid[f"refs/tags/{n}"] for n in deciding), c[1], c[2]])
    assert [(m["name"], m["latest"], m["environments"], m["status"]) for m in listed["models"]] == [
        ("m", "v1.2.0", {"production": "v1.1.0", "staging": "v1.1.0"}, "development"),
        ("n", "v1.0.0", {"staging": "v1.0.0"}, "staging"),
    ]
    assert not (repo / ".git" / "gitmodel").exists()  # list writes nothing


def test_a_deciding_tag_whose_commit_is_missing_fails_as_the_full_read(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    c = base(repo)
    write_tags(repo, [("m@v1.0.0", c[0]), ("m@v1.1.0", "1" * 40)], [], packed=True)
    with pytest.raises(GitFailed):
        git.read_tags(repo, messages=False)
    with pytest.raises(GitFailed, match=r"missing object 1{40} for refs/tags/m@v1\.1\.0"):
        queries.list_models(repo)


def test_no_tags_and_lightweight_tags_only(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    c = base(repo)
    assert queries.list_models(repo)["models"] == []
    write_tags(repo, [], [("m@v1.0.0", c[0])], packed=False)
    assert queries.list_models(repo)["models"] == []


# --- a hand-made registry: list's exact rows, completion's names


@pytest.fixture
def tricky(tmp_path: Path) -> Path:
    repo = tmp_path / "tricky"
    repo.mkdir()
    git_(repo, "init", "-q")
    for i in (1, 2, 3):
        git_(repo, "commit", "-q", "--allow-empty", "-m", f"c{i}")
    c1, c2, c3 = git_(repo, "rev-list", "--reverse", "HEAD").split()

    def tag(name: str, target: str) -> str:
        git_(repo, "tag", "-a", name, target, "-m", f"gitmodel: {name}")
        return git_(repo, "rev-parse", f"refs/tags/{name}")

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
        tag(name, target)
    tag("d#staging#1", tag("d@v1.0.0", c1))  # a tag of the version's tag is not its commit
    inner = tag("inner", c3)
    tag("e@v1.0.0", inner)  # a version and a move that tag the same inner tag
    tag("e#staging#1", inner)
    git_(repo, "tag", "a#staging#9", c1)  # lightweight: no move
    git_(repo, "tag", "h@v1.0.0", c1)  # lightweight: no version
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


@pytest.mark.parametrize("packed", [False, True], ids=["loose refs", "packed refs"])
def test_list_and_completion_answer_as_the_full_read(
    tricky: Path, packed: bool, monkeypatch: pytest.MonkeyPatch, fs_guard: Callable[..., Guard]
) -> None:
    if packed:
        git_(tricky, "pack-refs", "--all")
    # A cache an older gitmodel kept: neither read, nor written, nor needed.
    old = tricky / ".git" / "gitmodel" / "tag-index"
    old.parent.mkdir()
    old.write_bytes(b"gitmodel tag-index 1 0000\nforged\n")
    guard = fs_guard(tricky)
    fast = queries.list_models(tricky)
    assert listed(tricky) == EXPECTED
    monkeypatch.chdir(tricky)
    assert sorted(completion._models()) == sorted(EXPECTED)
    assert completion.environments(None, None, "") == ["staging", "production", "production-canary", "prod"]  # type: ignore[arg-type]
    guard.assert_unchanged()
    with monkeypatch.context() as m:
        m.setattr(listingread, "listing_models", lambda repo: Registry.load(repo, messages=False).models)
        assert queries.list_models(tricky) == fast


def test_a_ref_to_a_missing_object_fails_as_the_full_read(tricky: Path) -> None:
    (tricky / ".git/refs/tags/b@v2.0.0").write_text("2" * 40 + "\n")  # git refuses to write it
    with pytest.raises(GitFailed):
        git.read_tags(tricky, messages=False)
    with pytest.raises(GitFailed, match=r"b@v2\.0\.0"):
        queries.list_models(tricky)


def test_outside_a_repository_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(GitFailed):
        git.show_tags(tmp_path)


NAME_PARTS = st.sampled_from(
    ["a", "b-2", "acme", "x", "-", "=", "@", "#", "!", "v1", ".", "0", "01", "deprecated"]
)


@given(st.lists(st.lists(NAME_PARTS, max_size=8).map("".join), max_size=30))
def test_parse_tags_is_parse_tag_of_each(names: list[str]) -> None:
    """show-ref's names are parsed in one batch; each as the one-name parser reads it."""
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
