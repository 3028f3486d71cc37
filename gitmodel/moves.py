"""Writing registry tags: created locally, then pushed to origin as one atomic unit.

`#N` is one counter per model shared by all environments, so two clones can pick the
same `N` for different tag names (`support#staging#3`, `support#production#3`) and a
plain remote would accept both.  Every push that carries a counter tag therefore also
moves `refs/gitmodel/seq/MODEL` with `--force-with-lease` expecting the value fetched
before the counter was chosen: if anyone moved the model in between, origin refuses
the whole push.  GTO ignores refs outside refs/tags.

A move made here that origin lacks is finished by the next push of the model
(gitmodel/unpushed.py); `mark_pushing` below notes a push in flight for it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitmodel import config, git
from gitmodel.envbranches.push import add_branches
from gitmodel.errors import ConflictError, GitModelError, PolicyError
from gitmodel.git.remote import PushUncertain
from gitmodel.records import format_message
from gitmodel.refs import SEQ_PREFIX, Action, Ref, Version, parse_tag, to_tag, version_tag
from gitmodel.registry import Registry


@dataclass(frozen=True)
class NewTag:
    ref: Ref
    commit: str
    summary: str
    record: dict[str, Any] = field(default_factory=dict)
    body: str = ""


def load(repo: Path, push: bool, model: str | None = None) -> Registry:
    """Registry state (only `model`'s when given); with push, refreshed from origin first
    so counters are current."""
    if push:
        git.fetch_tags(repo)
        from gitmodel.unpushed import finish_unpushed  # it pushes through this module

        finish_unpushed(repo, model)
    if model is None:
        return Registry.load(repo)
    return Registry(repo, {model: Registry.load_model(repo, model)})


def write_tags(repo: Path, tags: Sequence[NewTag], push: bool, after: int | None = None) -> list[str]:
    """Create `tags` (all or none) and, with `push`, land them on origin atomically.

    Each is dated at least a second after `after` (the model's newest tag date, from the
    state the caller judged; read here when not given) and after the one before it.
    """
    names: list[str] = []
    sign = git.signing_configured(repo)  # moves are signed whenever the user has a key
    uncertain = False
    if push:
        mark_pushing(repo, [new.ref.tag() for new in tags])
        crash_test_pause("move-marked")
    try:
        if after is None:
            after = newest_date(repo, tags[0].ref.model) if tags else 0
        for new in tags:
            name = new.ref.tag()
            message = format_message(new.summary, new.record, new.body)
            after = git.create_tag(repo, name, new.commit, message, sign=sign, after=after) or after
            names.append(name)
            if push and len(names) < len(tags):
                crash_test_pause("move-tagged-part")  # a canary promote between its two tags
        if push:
            crash_test_pause("move-tagged")
            _push(repo, tags, names)
            crash_test_pause("move-pushed")
    except PushUncertain as exc:
        # Origin may hold them: keep the tags and the note; the next push of the model
        # asks origin and pushes them or finds them there (resume).
        uncertain = True
        raise PushUncertain(f"{exc}; {', '.join(names)} kept on this clone: {_NEXT}") from None
    except ConflictError:
        _delete(repo, names)
        if not push or not names:
            raise
        # Only now, with our local tags gone, does a fetch show what origin has.
        raise ConflictError(_what_changed(repo, tags[0].ref.model, names[-1])) from None
    except BaseException:
        _delete(repo, names)
        raise
    finally:
        if push and not uncertain:
            unmark_pushing(repo, [new.ref.tag() for new in tags])
    if push and _publishes(repo):  # the move has landed; publishing its pointer document never fails it
        from gitmodel.pointers.publish import after_move

        after_move(repo, names)
    from gitmodel.lifecycle import notify  # nor does telling the `notify:` targets of it

    notify.after_move(repo, [(n, t.record) for n, t in zip(names, tags, strict=True)], push)
    return names


def _publishes(repo: Path) -> bool:
    """gitmodel.yaml's `pointers.publish`, asked before importing the publisher (~8 ms that
    most registries, which never publish, would pay on every move); after_move asks again."""
    try:
        return config.load(repo).pointers.publish
    except GitModelError:
        return False  # the move's own command read it; after_move would publish nothing either


def newest_date(repo: Path, model: str) -> int:
    """The latest tagger date among `model`'s tags: every new tag is dated after it.

    GTO orders a stage's tags by this one-second date and `dvc artifacts get --stage`
    takes the last of them, so a move made in the same second as the previous one
    would read as older there; gitmodel itself orders by `#N`.
    """
    base = to_tag(model)
    found = git.read_tags(repo, f"refs/tags/{base}@*", f"refs/tags/{base}#*", messages=False)
    return max((t.time for t in found), default=0)


_NEXT = "the next --push of this model checks origin and finishes the move (nothing is repeated)"


def _marker(repo: Path) -> Path:
    return git.git_dir(repo) / "gitmodel-pushing"


def mark_pushing(repo: Path, names: Sequence[str]) -> None:
    """Note that `names` (one move: all its tags, one line) are about to be tagged and
    pushed: if we are killed before the push ends, the next push of the model finishes
    it (resume).  Moves made without --push are never noted, so they stay local until
    the user pushes them."""
    _write_marker(repo, [*pushing_groups(repo), tuple(names)])


def unmark_pushing(repo: Path, names: Sequence[str]) -> None:
    gone = set(names)
    _write_marker(repo, [g for g in pushing_groups(repo) if not gone & set(g)])


def _write_marker(repo: Path, groups: list[tuple[str, ...]]) -> None:
    marker = _marker(repo)
    if not groups:
        marker.unlink(missing_ok=True)
        return
    tmp = marker.with_name(marker.name + ".tmp")
    tmp.write_text("".join(" ".join(g) + "\n" for g in groups), encoding="utf-8")
    os.replace(tmp, marker)


def pushing_groups(repo: Path) -> list[tuple[str, ...]]:
    """The noted moves, each the tuple of its tags (a line; older notes: one tag a line)."""
    try:
        text = _marker(repo).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [tuple(line.split()) for line in text.splitlines() if line.split()]


def interrupted_pushes(repo: Path) -> set[str]:
    return {name for group in pushing_groups(repo) for name in group}


def drop_torn(repo: Path, model: str | None) -> None:
    """A noted move whose tags were not all created (killed between a canary promote's
    two `git tag`s) never reached origin, since its push comes after the last tag: delete
    the part that exists and forget it, so that it is pushed whole or not at all (the
    command then makes the move afresh)."""
    have = set(git.tag_names(repo))
    for group in pushing_groups(repo):
        if model is not None and not any((r := parse_tag(n)) and r.model == model for n in group):
            continue
        present = [n for n in group if n in have]
        if present and len(present) == len(group):
            continue
        _delete(repo, present)
        unmark_pushing(repo, group)


def crash_test_pause(step: str) -> None:
    """GITMODEL_TEST_PAUSE_AT=STEP stops here so a test can kill -9 us (testhook.py)."""
    if os.environ.get("GITMODEL_TEST_PAUSE_AT") == step:
        from gitmodel import testhook  # only in crash tests

        testhook.pause(step)


def _delete(repo: Path, names: list[str]) -> None:
    for name in names:
        git.delete_tag(repo, name)


def _push(repo: Path, tags: Sequence[NewTag], names: list[str]) -> None:
    _require_versions_on_origin(repo, tags)
    refspecs = [f"refs/tags/{n}" for n in names]
    leases: dict[str, str] = {}
    model = tags[0].ref.model
    seq = SEQ_PREFIX + to_tag(model)
    counted = [n for n, t in zip(names, tags, strict=True) if t.ref.counter is not None]
    last_object = git.ref_value(repo, f"refs/tags/{counted[-1]}") if counted else None
    if last_object:
        leases[seq] = git.ref_value(repo, seq) or ""
        refspecs.append(f"{last_object}:{seq}")
    add_branches(repo, [(t.ref, t.commit) for t in tags], refspecs, leases)
    git.push(repo, refspecs, leases=leases)
    if last_object:
        git.run(["update-ref", seq, last_object], repo, check=False)  # mirror; next fetch fixes it


def _require_versions_on_origin(repo: Path, tags: Sequence[NewTag]) -> None:
    """An environment on origin must never point at a version origin does not have."""
    wanted = {
        f"refs/tags/{version_tag(t.ref.model, Version.parse(str(t.record['version'])))}"
        for t in tags
        if t.ref.action is Action.ASSIGN and isinstance(t.record.get("version"), str)
    }
    if not wanted:
        return
    missing = sorted(wanted - git.remote_refs(repo, sorted(wanted)))
    if missing:
        names = ", ".join(m.removeprefix("refs/tags/") for m in missing)
        raise PolicyError(
            f"origin does not have {names}: push the version first "
            f"(`git push origin HEAD {names}` after `dvc push`, or register it with --push)"
        )


def _what_changed(repo: Path, model: str, tag: str) -> str:
    try:
        git.fetch_tags(repo)
        state = Registry.load_model(repo, model)
    except Exception:  # the conflict is the message; details are a bonus
        return f"origin refused {tag}: someone else moved {model} first; retry"
    if not state.assignments:
        return f"origin refused {tag}: someone else changed {model} first; retry"
    latest = state.assignments[-1]
    env = latest.ref.stage or ""
    return (
        f"origin refused {tag}: {model} was moved meanwhile ({latest.tag} by {latest.actor}); "
        f"{env} now serves {state.stage_version(env)}; "
        f"check `gitmodel history {model}` and retry"
    )
