"""`gitmodel gc` and `gitmodel restore`: archive versions' bytes by the retention policy.

gc reads the whole registry in one ref pass (plus the lifecycle records), gives every
version its status (status.py) and applies `retention:` from gitmodel.yaml: a rule of a
status selects versions (beyond its newest `max_versions`, or older than
`max_age_days`), and a version is archived only when nothing protects it:

    served by ENV            an environment pointer names it
    canary in ENV            a canary runs it
    rollback window of ENV   one of the last N versions ENV served (served.py's stack)
    minimum retention        registered fewer than `min_retention_days` ago

Archiving copies the bytes to the cold DVC remote, verifies them there, files an
`archive` record (pushed to origin when there is one), and only then removes them from
the hot remote; objects another live version of the model shares stay. A crash leaves
the bytes on at least one remote and, whenever they are missing from the hot one, the
record saying where they are. Scheduled deprecations that are due become GTO
deregistrations (`NAME@vX.Y.Z!`), so the policy enforces them everywhere.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gitmodel import config, git, metadata
from gitmodel.errors import PolicyError, UsageError
from gitmodel.lifecycle import events, status
from gitmodel.lifecycle.events import Lifecycle
from gitmodel.records import Act
from gitmodel.refs import Version, parse_model
from gitmodel.registry import ModelState, Registry
from gitmodel.served import stack_of

DAY = 86400.0


@dataclass(frozen=True)
class Row:
    model: str
    version: str
    status: str
    action: str  # archive, keep, deprecate
    reason: str
    age_days: float
    done: bool = False
    detail: str = ""


@dataclass
class GcResult:
    dry_run: bool
    cold_remote: str | None
    hot_remote: str | None
    scanned: int
    rows: list[Row] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "cold_remote": self.cold_remote,
            "hot_remote": self.hot_remote,
            "scanned": self.scanned,
            "rows": [asdict(r) for r in self.rows],
        }


def gc(
    repo: Path, *, dry_run: bool = False, namespace: str | None = None, now: float | None = None
) -> GcResult:
    cfg = config.load(repo)
    if not dry_run and cfg.retention.statuses:  # refused before anything is fetched or moved
        _usable_remotes(repo, cfg)
    push = git.has_remote(repo)
    if push and not dry_run:  # judge by origin's pointers, not this clone's last fetch
        git.fetch_tags(repo)
    moment = dt.datetime.now(dt.UTC).timestamp() if now is None else now
    day = status.today() if now is None else dt.datetime.fromtimestamp(now, dt.UTC).date()
    reg = Registry.load(repo, messages=False)
    lives = events.read(repo)
    result = GcResult(dry_run, cfg.retention.cold_remote, cfg.retention.hot_remote, 0)
    for name in sorted(reg.models):
        if status.in_namespace(name, namespace):
            state = reg.models[name]
            result.scanned += len(state.versions)
            result.rows.extend(plan_model(cfg, state, lives.get(name, Lifecycle()), moment, day))
    if dry_run or not result.rows:
        return result
    hot = _Hot.read(repo, reg, lives) if any(r.action == "archive" for r in result.rows) else None
    result.rows = [_apply(repo, cfg, reg.models[r.model], r, push, hot) for r in result.rows]
    return result


def _usable_remotes(repo: Path, cfg: config.Config) -> None:
    """A cold remote is named, and it is not the hot one (archiving into the remote it
    removes from would delete the only copy)."""
    from gitmodel import dvc

    if cfg.retention.cold_remote is None:
        raise UsageError(
            "gitmodel.yaml sets no retention.cold_remote; name the DVC remote to archive to "
            "(`dvc remote add cold URL`, then `retention: {cold_remote: cold}`); nothing was changed"
        )

    hot = cfg.retention.hot_remote or dvc.default_remote(repo)
    if hot is not None and hot == cfg.retention.cold_remote:
        raise UsageError(
            f"retention.cold_remote names {hot}, the remote gc removes archived bytes from; name "
            "another DVC remote (`dvc remote add cold URL`); nothing was changed"
        )


def plan_model(cfg: config.Config, state: ModelState, life: Lifecycle, now: float, day: dt.date) -> list[Row]:
    """What gc would do to one model's versions, and why (pure: no I/O); `day` decides
    which scheduled deprecations are due, `now` the versions' ages."""
    stat = status.statuses(state, cfg.environments, life, day)
    guard = protections(cfg, state)
    rows: list[Row] = []
    for st, rule in cfg.retention.statuses.items():
        members = sorted((v for v, s in stat.items() if s == st), reverse=True)
        for rank, v in enumerate(members):
            # Tags are dated a second after the model's newest (GTO orders by date), so a
            # burst of moves dates some ahead of the clock: such a version is 0 days old.
            age = max(0.0, (now - state.versions[v].time) / DAY)
            why = []
            if rule.max_versions is not None and rank >= rule.max_versions:
                why.append(f"beyond the newest {rule.max_versions} {st}")
            if rule.max_age_days is not None and age > rule.max_age_days:
                why.append(f"older than {rule.max_age_days:g} days")
            if not why:
                continue
            keep = guard.get(v)
            least = cfg.retention.min_days(st)
            if keep is None and least > 0 and age < least:
                keep = f"minimum retention ({least:g} days)"
            action = "keep" if keep else "archive"
            rows.append(Row(state.name, str(v), st, action, keep or "; ".join(why), round(age, 1)))
    for v, on in sorted(life.deprecations.items()):
        if life.due(v, day) and v in state.versions and v not in state.deprecated_versions:
            served = [s for s, x in state.stages().items() if x == v]
            keep = (
                f"deprecation due {on}, but {', '.join(served)} serves it: roll back first" if served else ""
            )
            action = "keep" if keep else "deprecate"
            age = (now - state.versions[v].time) / DAY
            rows.append(
                Row(state.name, str(v), "deprecated", action, keep or f"scheduled for {on}", round(age, 1))
            )
    return rows


def protections(cfg: config.Config, state: ModelState) -> dict[Version, str]:
    """Versions gc must not touch, each with the first reason that protects it."""
    out: dict[Version, str] = {}
    done = status.moves(state)
    for stage, v in dict(done).items():  # what each stage serves now: its last move
        if v is not None:
            base = stage.removesuffix(status.CANARY_SUFFIX)
            out.setdefault(v, f"canary in {base}" if base != stage else f"served by {stage}")
    window = cfg.retention.rollback_window
    for env in cfg.environments:
        # served.py's rule (a return pops back to the version), on the moves resolved above
        for v in stack_of(v for s, v in done if s == env and v is not None)[-window:]:
            out.setdefault(v, f"rollback window of {env} (last {window})")
    return out


def _apply(repo: Path, cfg: config.Config, state: ModelState, row: Row, push: bool, live: _Hot | None) -> Row:
    from dataclasses import replace

    version = Version.parse(row.version)
    if row.action == "deprecate":
        from gitmodel.environments import deprecate

        done = deprecate(
            repo, state.name, row.version, reason=f"scheduled deprecation ({row.reason})", push=push
        )
        return replace(row, done=True, detail=done.tag)
    if row.action != "archive":
        return row
    from gitmodel.dvc.archive import transfer

    pointer = _pointer(repo, state, version)
    cold, hot = cfg.retention.cold_remote or "", cfg.retention.hot_remote
    copied = transfer(repo, [pointer], hot, cold, remove=False)
    # The record lands before any byte leaves the hot remote: missing bytes always have one.
    record = {
        "action": Act.ARCHIVE,
        "version": row.version,
        "cold_remote": cold,
        "hot_remote": hot,
        "objects": copied.objects,
        "reason": row.reason,
    }
    summary = f"gitmodel: archive {state.name} {version} to {cold}"
    events.write(repo, state.name, state.versions[version].commit, summary, record, push=push)
    # The write fetched first: a move made meanwhile (a promote, a rollback) may protect it now.
    guard = protections(cfg, Registry.load_model(repo, state.name)).get(version)
    if guard is not None:
        undo = {"action": Act.RESTORE, "version": row.version, "cold_remote": cold, "hot_remote": hot}
        summary = f"gitmodel: restore {state.name} {version} (protected meanwhile)"
        events.write(repo, state.name, state.versions[version].commit, summary, undo, push=push)
        return replace(row, action="keep", reason=f"{guard}, since this gc began; nothing removed")
    assert live is not None
    live.gone.add((state.name, version))
    moved = transfer(repo, [pointer], hot, cold, remove=True, keep=live.keep(state.name))
    detail = f"{moved.objects} object(s) to {cold}, {moved.removed} removed from hot"
    if moved.kept:
        detail += f", {moved.kept} kept (shared with a live version)"
    return replace(row, done=True, detail=detail)


def _pointer(repo: Path, state: ModelState, version: Version) -> str:
    meta = metadata.at_version(repo, state, version) or {}
    pointer = metadata.pointer_at(repo, state, version, meta)
    if pointer is None:
        raise PolicyError(
            f"{state.name} {version} names no DVC pointer in its model.yaml; it has no bytes to move"
        )
    return pointer


@dataclass
class _Hot:
    """Every version's artifact md5 (one batch read), and which ones have left the hot
    remote: archived before, or by this run so far (a record written for each)."""

    md5s: dict[tuple[str, Version], str]
    gone: set[tuple[str, Version]]

    @classmethod
    def read(cls, repo: Path, reg: Registry, lives: dict[str, Lifecycle]) -> _Hot:
        from gitmodel.lifecycle.reads import metadata as batch

        wanted = [(state, v) for state in reg.models.values() for v in state.versions]
        md5s = {}
        for key, meta in batch(repo, wanted).items():
            md5 = ((meta or {}).get("artifact") or {}).get("dvc_md5")
            if isinstance(md5, str):
                md5s[key] = md5
        gone = {(m, v) for m, life in lives.items() for v in life.archived}
        return cls(md5s, gone)

    def keep(self, model: str) -> list[str]:
        """What must stay hot: the artifacts of every version still there. A folder of the
        same model is looked into (its files may be shared); another model's folder is not
        (reading every manifest of the registry would cost a remote read each)."""
        return [
            md5
            for (m, v), md5 in self.md5s.items()
            if (m, v) not in self.gone and (m == model or not md5.endswith(".dir"))
        ]


@dataclass(frozen=True)
class Restored:
    model: str
    version: str
    source: str
    dest: str | None
    copied: int
    objects: int
    ref: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def restore(repo: Path, spec: str) -> Restored:
    """Copy an archived version's bytes back to the hot remote and record it."""
    from gitmodel.dvc.archive import transfer

    name, sep, text = spec.partition("@")
    if not sep:
        raise UsageError(f"restore takes NAME@vX.Y.Z, not {spec!r}")
    model, version = parse_model(name), Version.parse(text)
    state = Registry.load_model(repo, model)
    state.version_event(version)
    push = git.has_remote(repo)
    if push:
        git.fetch_tags(repo)
    archived = events.of(repo, model).archived.get(version)
    if archived is None:
        raise UsageError(f"{model} {version} is not archived; its bytes are on the hot remote already")
    cfg = config.load(repo)
    cold = archived.record.get("cold_remote") or cfg.retention.cold_remote
    hot = archived.record.get("hot_remote") or cfg.retention.hot_remote
    if not isinstance(cold, str) or not cold:
        raise UsageError(
            f"the archive record of {model} {version} names no cold remote; set retention.cold_remote"
        )
    moved = transfer(
        repo, [_pointer(repo, state, version)], cold, hot if isinstance(hot, str) else None, remove=False
    )
    record = {"action": Act.RESTORE, "version": str(version), "cold_remote": cold, "hot_remote": hot}
    ref = events.write(
        repo,
        model,
        state.versions[version].commit,
        f"gitmodel: restore {model} {version} from {cold}",
        record,
        push=push,
    )
    return Restored(
        model, str(version), cold, hot if isinstance(hot, str) else None, moved.copied, moved.objects, ref
    )
