"""Moves made on this clone that origin lacks, and finishing them.

A move made here that origin lacks is one of two kinds.  A `--push` cut short after the
local tag (killed, or timed out) is noted, and finished by the next command on this clone
that pushes the same model (`finish_unpushed`, called from moves.load): pushed with the
same lease, or refused with the command that clears it when origin has moved past it.  A
move made without `--push` is kept local on purpose and never pushed behind the user's
back (docs/host.md); `unpushed` lists both, and a promote of what it already serves names
the `git push` that sends it.  That command then stops
(MovesFinished, exit 0): rerunning a killed `rollback --push` must not roll back a second
time.  `unpushed` lists them for `gitmodel status`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gitmodel import git
from gitmodel.envbranches.push import add_branches
from gitmodel.errors import EXIT_OK, ConflictError, GitModelError, PolicyError
from gitmodel.moves import drop_torn, interrupted_pushes, pushing_groups, unmark_pushing
from gitmodel.refs import SEQ_PREFIX, Action, Version, model_dir, parse_tag, to_tag, version_tag
from gitmodel.registry import Event, ModelState, Registry

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
    if not pushing_groups(repo) or not git.has_remote(repo):
        return [], []
    drop_torn(repo, model)
    mine = {n for n in interrupted_pushes(repo) if (r := parse_tag(n)) is None or model in (None, r.model)}
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
    interrupted = interrupted_pushes(repo)
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
