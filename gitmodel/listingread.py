"""`list`'s read of the registry, without opening 100k tag objects.

A row needs tag names, and the commits of the few tags that decide it, which
`git show-ref -d --tags` nearly gives (packed-refs: names, tag ids and fully peeled ids,
no object opened); the tag objects of those few are read to get `read_tags`' one-level
target. At 105k tags that is ~0.9x one `for-each-ref`, first read or not, and nothing
is written (tests/test_firstread.py holds it to the full read). Shell completion reads
the same. Policy, hosts and moves read the tags themselves.

A `.git/gitmodel/tag-index` left by an older gitmodel (a cache of what tag objects say)
is no longer read or written; it can be deleted.
"""

from __future__ import annotations

import gc
from itertools import repeat
from operator import itemgetter
from pathlib import Path

from gitmodel import git
from gitmodel.errors import GitFailed
from gitmodel.refs import Action
from gitmodel.registry import Event, ModelState, build_models

_NAME_OID = itemgetter(0, 1)  # of a PeeledTag


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
    gc.disable()  # 100k small tuples and no cycles (see registry.build_models)
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
