"""Writing registry tags: created locally, then pushed to origin as one atomic unit.

`#N` is one counter per model shared by all environments, so two clones can pick the
same `N` for different tag names (`support#staging#3`, `support#production#3`) and a
plain remote would accept both.  Every push that carries a counter tag therefore also
moves `refs/gitmodel/seq/MODEL` with `--force-with-lease` expecting the value fetched
before the counter was chosen: if anyone moved the model in between, origin refuses
the whole push.  GTO ignores refs outside refs/tags.

A move made here that origin lacks (a `--push` killed after the local tag, or a move
made without `--push`) is finished by the next command on this clone that pushes the
same model (`finish_unpushed`): pushed with the same lease, or refused with the command
that clears it when origin has moved past it.  That command then stops (MovesFinished,
exit 0): rerunning a killed `rollback --push` must not roll back a second time.
`unpushed` lists them for `gitmodel status`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitmodel import git
from gitmodel.envbranches.push import add_branches
from gitmodel.errors import EXIT_OK, ConflictError, GitModelError, PolicyError
from gitmodel.git.remote import PushUncertain
from gitmodel.records import format_message
from gitmodel.refs import Action, Ref, Version, model_dir, parse_tag, to_tag, version_tag
from gitmodel.registry import Event, ModelState, Registry

SEQ_PREFIX = "refs/gitmodel/seq/"


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
    if push:  # the move has landed; publishing its pointer document never fails it
        from gitmodel.pointers.publish import after_move

        after_move(repo, names)
    from gitmodel.lifecycle import notify  # nor does telling the `notify:` targets of it

    notify.after_move(repo, [(n, t.record) for n, t in zip(names, tags, strict=True)], push)
    return names


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
    _write_marker(repo, [*_groups(repo), tuple(names)])


def unmark_pushing(repo: Path, names: Sequence[str]) -> None:
    gone = set(names)
    _write_marker(repo, [g for g in _groups(repo) if not gone & set(g)])


def _write_marker(repo: Path, groups: list[tuple[str, ...]]) -> None:
    marker = _marker(repo)
    if not groups:
        marker.unlink(missing_ok=True)
        return
    tmp = marker.with_name(marker.name + ".tmp")
    tmp.write_text("".join(" ".join(g) + "\n" for g in groups), encoding="utf-8")
    os.replace(tmp, marker)


def _groups(repo: Path) -> list[tuple[str, ...]]:
    """The noted moves, each the tuple of its tags (a line; older notes: one tag a line)."""
    try:
        text = _marker(repo).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [tuple(line.split()) for line in text.splitlines() if line.split()]


def _interrupted(repo: Path) -> set[str]:
    return {name for group in _groups(repo) for name in group}


def _drop_torn(repo: Path, model: str | None) -> None:
    """A noted move whose tags were not all created (killed between a canary promote's
    two `git tag`s) never reached origin, since its push comes after the last tag: delete
    the part that exists and forget it, so that it is pushed whole or not at all (the
    command then makes the move afresh)."""
    have = set(git.tag_names(repo))
    for group in _groups(repo):
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


# --- Moves this clone made that origin lacks ------------------------------------------


class MovesFinished(GitModelError):
    """Not a failure: the command pushed moves an earlier run left on this clone, and
    stopped there, because it cannot tell a rerun from a request for a further move."""

    exit_code = EXIT_OK

    def __init__(self, moves: list[Unpushed], landed: Sequence[Unpushed] = ()) -> None:
        def names(found: Sequence[Unpushed]) -> str:
            return ", ".join(f"{m.tag} ({m.action} {m.version or ''})".replace(" )", ")") for m in found)

        said = []
        if moves:
            said.append(
                f"pushed {names(moves)} to origin: made on this clone by an earlier run that never pushed it"
            )
        if landed:
            said.append(
                f"{names(landed)} reached origin in an earlier run that was cut short before it could say so"
            )
        super().__init__(
            "; ".join(said) + "; nothing else was done: run the command again if you meant a further move"
        )
        self.moves = moves
        self.landed = list(landed)


@dataclass(frozen=True)
class Unpushed:
    tag: str
    model: str
    action: str  # the record's action (register, promote, rollback, canary-start, ...)
    version: str | None
    interrupted: bool  # its --push was cut short (else: made without --push, kept local)
    blocked: str = ""  # why it can no longer be pushed, with the command that clears it


def unpushed(repo: Path, model: str | None = None) -> list[Unpushed]:
    """Every move (of `model`, or of all models) this clone has and origin lacks."""
    return _scan(repo, model)[0]


def finish_unpushed(repo: Path, model: str | None = None) -> None:
    """Push this clone's moves of `model` (all when None) that origin lacks, then stop
    the calling command with MovesFinished; nothing to push: return."""
    pushed, landed = resume(repo, model)
    if pushed or landed:
        raise MovesFinished(pushed, landed)


def resume(repo: Path, model: str | None = None) -> tuple[list[Unpushed], list[Unpushed]]:
    """Finish the pushes of `model`'s moves (all models when None) that were cut short
    on this clone: one atomic push per model with the sequence lease.  (The moves pushed
    now, the noted moves origin already had: killed after the push, or a push that timed
    out after origin took it.)

    Origin having moved past one of them (its `#N` taken, a higher version registered)
    is a conflict naming the tag to drop: pushing it would reorder history.
    """
    if not _groups(repo) or not git.has_remote(repo):
        return [], []
    _drop_torn(repo, model)
    mine = {n for n in _interrupted(repo) if (r := parse_tag(n)) is None or model in (None, r.model)}
    if not mine:
        return [], []
    found, remote = _scan(repo, model)
    local = set(git.tag_names(repo))
    landed = _describe(repo, sorted(n for n in mine if n in local and f"refs/tags/{n}" in remote))
    pending = [p for p in found if p.interrupted]
    blocked = [p for p in pending if p.blocked]
    if blocked:
        raise ConflictError(blocked[0].blocked)
    for name in sorted({p.model for p in pending}):
        _push_pending(repo, name, [p.tag for p in pending if p.model == name], remote)
    # Done with this model's: pushed now, already on origin, or dropped by the user.
    unmark_pushing(repo, sorted(mine))
    return pending, landed


def _describe(repo: Path, tags: Sequence[str]) -> list[Unpushed]:
    """The registry's events named `tags`, as Unpushed rows (interrupted, not blocked)."""
    found: list[Unpushed] = []
    for name in sorted({r.model for t in tags if (r := parse_tag(t))}):
        for event in sorted(_events(Registry.load_model(repo, name)), key=_order):
            if event.tag in tags:
                version = event.record.get("version") or (
                    str(event.ref.version) if event.ref.version else None
                )
                action = str(event.record.get("action") or event.ref.action.value)
                found.append(Unpushed(event.tag, name, action, str(version) if version else None, True))
    return found


def _events(state: ModelState) -> list[Event]:
    deprecated = [state.deprecated] if state.deprecated else []
    return [*state.versions.values(), *state.assignments, *state.deprecated_versions.values(), *deprecated]


def _scan(repo: Path, model: str | None) -> tuple[list[Unpushed], dict[str, str]]:
    """(this clone's moves that origin lacks, origin's tags and sequence refs)."""
    local = {t: r for t in git.tag_names(repo) if (r := parse_tag(t)) and (model is None or r.model == model)}
    if not local:
        return [], {}
    remote = git.remote_ref_values(repo, ["refs/tags/*", SEQ_PREFIX + "*"])
    theirs = [r for n in remote if (r := parse_tag(n.removeprefix("refs/tags/")))]
    missing = {t: r for t, r in local.items() if f"refs/tags/{t}" not in remote}
    interrupted = _interrupted(repo)
    found: list[Unpushed] = []
    for name in sorted({r.model for r in missing.values()}):
        top = max((r.counter or 0 for r in theirs if r.model == name), default=0)
        registered = [r.version for r in theirs if r.model == name and r.action is Action.REGISTER]
        newest = max((v for v in registered if v is not None), default=None)
        # Lightweight tags are not moves: only the registry's (annotated) events count.
        for event in sorted(_events(Registry.load_model(repo, name)), key=_order):
            if event.tag not in missing:
                continue
            record = event.record
            version = record.get("version") or (str(event.ref.version) if event.ref.version else None)
            action = str(record.get("action") or event.ref.action.value)
            why = _blocked(event, top, newest)
            shown = str(version) if version else None
            found.append(Unpushed(event.tag, name, action, shown, event.tag in interrupted, why))
    return found, remote


def _order(event: Event) -> tuple[int, int, str]:
    return (0 if event.ref.action is Action.REGISTER else 1, event.ref.counter or 0, event.tag)


def _blocked(event: Event, top: int, newest: Version | None) -> str:
    ref, tag = event.ref, event.tag
    drop = f"drop it with `git tag -d {tag}`"
    if ref.counter is not None and ref.counter <= top:
        return (
            f"{tag} never reached origin, and origin has moved {ref.model} past #{ref.counter} since: "
            f"{drop} and redo the move"
        )
    if (
        ref.action is Action.REGISTER
        and newest is not None
        and ref.version is not None
        and ref.version < newest
    ):
        return (
            f"{tag} never reached origin, and origin has {ref.model} {newest} registered since: "
            f"{drop}, `git pull`, and register again"
        )
    return ""


def _push_pending(repo: Path, model: str, tags: list[str], remote: dict[str, str]) -> None:
    state = Registry.load_model(repo, model)
    events = [e for e in _events(state) if e.tag in tags]
    on_origin = {n.removeprefix("refs/tags/") for n in remote} | set(tags)
    for event in events:
        version = state.assignment_version(event) if event.ref.action is Action.ASSIGN else None
        if version is not None and version_tag(model, version) not in on_origin:
            raise PolicyError(
                f"{event.tag} points at {model} {version}, which origin does not have: push the version "
                f"first (`git push origin {version_tag(model, version)}` after `dvc push`)"
            )
        if event.ref.action is Action.REGISTER and event.ref.version is not None:
            _push_bytes(repo, state, event.ref.version, event.tag)
    refspecs = [f"refs/tags/{t}" for t in tags]
    branch = git.branch(repo)
    registered = [e.commit for e in events if e.ref.action is Action.REGISTER]
    if branch and registered and git.is_ancestor(repo, registered[-1], "HEAD"):
        # Its commit goes to the branch as `register --push` would have sent it.
        refspecs.insert(0, f"{registered[-1]}:refs/heads/{branch}")
    leases: dict[str, str] = {}
    counted = sorted((e for e in events if e.ref.counter is not None), key=_order)
    seq = SEQ_PREFIX + to_tag(model)
    last = git.ref_value(repo, f"refs/tags/{counted[-1].tag}") if counted else None
    if last:
        leases[seq] = remote.get(seq, "")
        refspecs.append(f"{last}:{seq}")
    add_branches(repo, [(e.ref, e.commit) for e in sorted(events, key=_order)], refspecs, leases)
    git.push(repo, refspecs, leases=leases)
    if last:
        git.run(["update-ref", seq, last], repo, check=False)


def _push_bytes(repo: Path, state: ModelState, version: Version, tag: str) -> None:
    """A registration's bytes go to the DVC remote before its tag goes to origin."""
    from gitmodel import dvc, metadata

    if dvc.default_remote(repo) is None:
        return
    meta = metadata.at_version(repo, state, version) or {}
    pointer = metadata.pointer_at(repo, state, version, meta)
    if pointer is None or not dvc.missing_on_remote(repo, [pointer]):
        return
    path = repo / model_dir(state.name) / f"{(meta.get('artifact') or {}).get('path')}.dvc"
    if path.is_file() and path.read_text(encoding="utf-8") == pointer:
        dvc.push(repo, [path])
        return
    raise PolicyError(
        f"the bytes of {tag} are not on the DVC remote and this work tree holds another version: "
        "push them with `dvc push --all-tags`, then retry"
    )
