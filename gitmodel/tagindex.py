"""`git.read_tags(repo, messages=False)` without reading 100k tag objects each time.

A listing needs every tag's name, the object it points at one level down, its tagger and
date. Reading them means opening every tag object (`for-each-ref`: ~1.5 s at 100k tags).
The refs themselves are cheap: `git show-ref -d` lists names, object ids and peeled ids
from packed-refs without opening an object. So the answer is kept in an index,
<git common dir>/gitmodel/tag-index, keyed on the ref state it answers:

- the key is the sha256 of `show-ref -d`'s output, read from git on every call: when it
  matches, and every tag's name and commit in the index are git's, the index is the
  answer (the same names name the same objects, and what an object says never
  changes; the tagger and date it holds no listing shows);
- when it does not match, only the tags whose object the index does not hold are read
  from git (every tag at once when more than MAX_MISSES are new: a fresh clone, a big
  fetch), and an entry is reused only where git agrees with it: its target must be the
  commit git peels the tag to (a tag of a tag is always read again);
- the sha256 of the file's body detects a truncated or damaged file, not a forger: the
  index is as trusted as the refs and hooks beside it in .git, and a forged name or
  commit still fails the comparison with git's;
- a file that is truncated, altered or of another format is rebuilt; it is written
  whole (temp file, then rename), and a repository that cannot be written is read
  without it.

The answer is always `read_tags`' own (tests/test_tagindex.py). Only shell completion
uses it; policy, hosts and moves read the tags themselves.

`list` needs no index (`listing_models`): a row needs tag names, and the commits of the
few tags that decide it, which `show-ref -d` nearly gives (its ids are fully peeled; the
tag objects of those few are read to get `read_tags`' one-level target). At 105k tags
that is cheaper than the index even when it is current, and a first read in a fresh
clone costs no more than any other (tests/test_firstread.py holds it to the full read).
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import tempfile
from itertools import repeat
from operator import itemgetter
from pathlib import Path

from gitmodel import git
from gitmodel.errors import GitFailed
from gitmodel.refs import Action
from gitmodel.registry import Event, ModelState, build_models

HEADER = b"gitmodel tag-index 1 "
MAX_MISSES = 200  # above this, one for-each-ref of every tag beats name patterns
_SEP = "\0"  # no field holds it: git refuses NUL in names and identities
_NAME_COMMIT = itemgetter(0, 1)  # of a TagRecord
_NAME_PEELED = itemgetter(0, 2)  # of a PeeledTag
_NAME_OID = itemgetter(0, 1)  # of a PeeledTag


def path_of(repo: Path) -> Path:
    return git.git_dir(repo) / "gitmodel" / "tag-index"


def read_tags(repo: Path) -> list[git.TagRecord]:
    """Exactly `git.read_tags(repo, messages=False)`: annotated tags, in refname order."""
    was_enabled = gc.isenabled()
    gc.disable()  # 100k small tuples and no cycles (see registry.build_models)
    try:
        return _read_tags(repo)
    finally:
        if was_enabled:
            gc.enable()


def _read_tags(repo: Path) -> list[git.TagRecord]:
    shown = git.show_tags(repo)
    key = hashlib.sha256(shown.encode()).hexdigest()
    index = path_of(repo)
    held_key, held = load(index)
    tags = [t for t in git.peeled_tags(shown) if t.peeled is not None]
    records = [record for _, record in held]
    if held_key == key and list(map(_NAME_COMMIT, records)) == list(map(_NAME_PEELED, tags)):
        return records  # what git says, name for name and commit for commit
    known = {oid: record for oid, record in held}
    missing = [t for t in tags if (r := known.get(t.oid)) is None or r.commit != t.peeled]
    fresh: dict[str, git.TagFacts] = {}
    if missing:
        fresh = git.tag_facts(repo, [] if len(missing) > MAX_MISSES else [t.name for t in missing])
    answer: list[tuple[str, git.TagRecord]] = []
    for tag in tags:
        facts = fresh.get(tag.oid)
        if facts is not None:
            answer.append((tag.oid, git.TagRecord(tag.name, *facts, "")))
        elif (had := known.get(tag.oid)) is not None and had.commit == tag.peeled:
            answer.append((tag.oid, had if had.name == tag.name else had._replace(name=tag.name)))
        # else: gone between the two reads, or a tag git cannot read (read_tags fails on it)
    save(index, key, answer)
    return [record for _, record in answer]


def listing_models(repo: Path) -> dict[str, ModelState]:
    """Every model as `list` shows it: names, versions, what each stage serves and the
    latest version's status are `Registry.load(messages=False)`'s own. Not a registry to
    act on: only the tags that decide those answers carry their commit (the others carry
    the commit they finally peel to), and none carries its tagger or date.

    A row is decided by each stage's newest assignment, the latest version, and every
    version or assignment of the model that tags the same commit as one of them
    (`ModelState.version_at`, lifecycle/status.py's "has been in an environment"). Two
    tags can share a one-level target only if they peel to the same commit, so those are
    found from show-ref's ids, and only their tag objects are read (a tag of a tag peels
    further than `read_tags` looks). The others keep a fully peeled id, which no deciding
    target can equal: that is a commit they do not share, or a tag object.
    """
    was_enabled = gc.isenabled()
    gc.disable()  # as in read_tags
    try:
        tags = [t for t in git.peeled_tags(git.show_tags(repo)) if t.peeled is not None]
        fields = zip(map(itemgetter(0), tags), map(itemgetter(2), tags), *_NO_FACTS, strict=False)
        models = build_models(list(map(tuple.__new__, repeat(git.TagRecord), fields)))
        deciding = [e for state in models.values() for e in _deciding(state)]
        _read_targets(repo, deciding, dict(map(_NAME_OID, tags)))
        return models
    finally:
        if was_enabled:
            gc.enable()


_NO_FACTS = (repeat(""), repeat(""), repeat(0), repeat(""))  # tagger, email, time, message


def _deciding(state: ModelState) -> list[Event]:
    heads = [e for e in state.newest_assignments().values() if e.ref.action is not Action.UNASSIGN]
    latest = state.latest()
    if latest is not None:
        heads.append(state.versions[latest])
    peeled = {e.commit for e in heads}
    if not peeled:
        return []
    return [e for e in (*state.versions.values(), *state.assignments) if e.commit in peeled]


def _read_targets(repo: Path, events: list[Event], oids: dict[str, str]) -> None:
    """Set each event's commit to what its tag object names (`%(*objectname)`), in one
    `cat-file --batch`. The commits they peel to are read too: `for-each-ref` fails on a
    tag whose commit is missing, and so does a row that such a tag decides."""
    peeled = sorted({e.commit for e in events})
    blobs = git.read_blobs(repo, [*(oids[e.tag] for e in events), *peeled])
    for commit, blob in zip(peeled, blobs[len(events) :], strict=True):
        if blob is None:
            tag = next(e.tag for e in events if e.commit == commit)
            raise GitFailed(["cat-file", "--batch"], f"fatal: missing object {commit} for refs/tags/{tag}")
    for event, blob in zip(events, blobs, strict=False):
        head = (blob or b"").partition(b"\n")[0]
        if not head.startswith(b"object "):  # gone since show-ref, or not a tag object
            raise GitFailed(["cat-file", "--batch"], f"fatal: cannot read the tag object of {event.tag}")
        event.commit = head[7:].decode("ascii")


def load(index: Path) -> tuple[str | None, list[tuple[str, git.TagRecord]]]:
    """(the ref state it answers, its tags by object id); (None, []) when it is missing,
    corrupt or of another format."""
    try:
        data = index.read_bytes()
    except OSError:
        return None, []
    head, _, body = data.partition(b"\n")
    if head != HEADER + hashlib.sha256(body).hexdigest().encode():
        return None, []
    # One line per field, the tags' values NUL-separated: C-speed splits, no per-tag parsing.
    try:
        key, count, *columns = body.decode("utf-8").split("\n")[:-1]
        n = int(count)
        names, oids, commits, taggers, emails, times = (c.split(_SEP) if n else [] for c in columns)
        if not all(len(c) == n for c in (names, oids, commits, taggers, emails, times)):
            return None, []
        # tuple.__new__ straight from C: the NamedTuple's own __new__ is a Python call per tag.
        fields = zip(names, commits, taggers, emails, map(int, times), repeat("", n), strict=True)
        records = map(tuple.__new__, repeat(git.TagRecord), fields)
        return key, list(zip(oids, records, strict=True))
    except ValueError:  # a well-summed file of the wrong shape: written by hand
        return None, []


def save(index: Path, key: str, held: list[tuple[str, git.TagRecord]]) -> None:
    records = [r for _, r in held]
    columns = [
        [r.name for r in records],
        [oid for oid, _ in held],
        [r.commit for r in records],
        [r.tagger for r in records],
        [r.email for r in records],
        [str(r.time) for r in records],
    ]
    lines = [key, str(len(held)), *(_SEP.join(c) for c in columns)]
    body = ("\n".join(lines) + "\n").encode("utf-8")
    write_whole(index, HEADER + hashlib.sha256(body).hexdigest().encode() + b"\n" + body)


def write_whole(index: Path, data: bytes) -> None:
    """Replace `index` with `data` in one rename (readers see the old file or the new one);
    a repository that cannot be written is left as it is."""
    with contextlib.suppress(OSError):  # a read-only clone: listings work, only slower
        index.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{index.name}-", dir=index.parent)
        try:
            os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide it from the clone's other users
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, index)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
