"""The audit trail, exported: every registration, move and lifecycle record: who, when, why, signed.

One row per gitmodel tag and per lifecycle record (archive, restore, scheduled
deprecation, drill: refs/gitmodel/lifecycle/, events.py), oldest first, with stable
columns (COLUMNS; docs/lifecycle.md): new columns are only ever appended. What a tag *is*
(model, version by its commit, environment, time, tagger) comes from the tag itself;
`action`, `from`, `reason`, `gate` and `detail` are what its record claims; only
`signature` (git's verdict on the tag object's signature, against the reading trust
file or git's allowed signers) vouches for who made the move. CSV cells are made safe
for spreadsheets: a cell that would start a formula gets a leading apostrophe.

With roots (`--root`), every line of the host journals under them (journals.py) is a
row too, `source` host, merged into the same time order and filtered alike.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gitmodel import git
from gitmodel.errors import UsageError
from gitmodel.lifecycle import events, journals
from gitmodel.lifecycle.markdown import plain
from gitmodel.queries import iso, parse_time
from gitmodel.records import Act
from gitmodel.refs import Action, parse_stage
from gitmodel.registry import Event, ModelState, Registry

COLUMNS = (
    "time",
    "model",
    "action",
    "version",
    "environment",
    "from",
    "actor",
    "reason",
    "gate",
    "signature",
    "signer",
    "key",
    "tag",  # a lifecycle record's ref: refs/gitmodel/lifecycle/MODEL/N
    "detail",  # what a lifecycle record adds: the date, the remotes, the drill's times
    "source",  # registry (a tag or lifecycle record) or host (a journal line)
    "root",  # a host row's root directory
    "step",  # a host row's journal step, as written
    "outcome",  # ok, failed, too-slow: how a host run (or a drill) ended
    "duration",  # seconds a host run (or a drill's slowest leg) took
)
_REGISTRY = {"source": "registry", "root": None, "step": None, "outcome": None, "duration": None}


def rows(
    repo: Path,
    since: str | None = None,
    env: str | None = None,
    namespace: str | None = None,
    roots: Sequence[Path] = (),
) -> dict[str, Any]:
    start = _start(since) if since is not None else None
    if env is not None:
        parse_stage(env)

    def wanted(model: str, time: float, stage: str | None) -> bool:
        if namespace is not None and not model.startswith(namespace + ":"):
            return False
        return (start is None or time >= start) and (env is None or stage == env)

    hosts = _read_roots(roots, wanted)  # a root that is not one is refused before the registry is read
    reg = Registry.load(repo)
    picked: list[tuple[ModelState, Event]] = []
    for name in sorted(reg.models):
        state = reg.models[name]
        picked += [(state, e) for e in state.timeline() if wanted(name, e.time, e.ref.stage)]
    records = [
        r for life in events.read(repo).values() for r in life.events if wanted(r.model, r.time, _env(r))
    ]
    signed = _signatures(repo, picked, records)
    found: list[tuple[float, dict[str, Any]]]
    found = [(e.time, _row(state, e, signed.get(e.tag))) for state, e in picked]
    found += [(r.time, _record_row(r, signed.get(events.object_name(r.model, r.seq)))) for r in records]
    for host in hosts:
        found += [(t, {c: row[c] for c in COLUMNS}) for t, row in host.rows]  # keys in column order
    # Stable: each model's (and each journal's) own order is kept within a second; a tag's
    # whole-second time sorts before the host lines of that second that followed it.
    found.sort(key=lambda p: p[0])
    return {
        "since": iso(start) if start is not None else None,
        "environment": env,
        "namespace": namespace,
        "columns": list(COLUMNS),
        "moves": [row for _, row in found],
        "roots": [host.summary() for host in hosts],
        "skipped": sum(host.skipped for host in hosts),
    }


def _read_roots(roots: Sequence[Path], wanted: journals.Wanted) -> list[journals.RootRead]:
    seen: dict[Path, Path] = {}
    for root in roots:
        seen.setdefault(root.resolve(), root.absolute())  # the same root given twice: once
    return [journals.read_root(root, wanted) for root in seen.values()]


def _signatures(
    repo: Path, picked: list[tuple[ModelState, Event]], records: list[events.LifeEvent]
) -> dict[str, dict[str, Any]]:
    tags = [(e.tag, f"refs/tags/{e.tag}") for _, e in picked if git.has_signature(e.message)]
    objects = [(events.object_name(r.model, r.seq), r.ref) for r in records if git.has_signature(r.message)]
    if not tags and not objects:
        return {}
    from gitmodel.signing import verify_objects

    return verify_objects(repo, tags + objects)


def _env(record: events.LifeEvent) -> str | None:
    env = record.record.get("env")
    return env if isinstance(env, str) else None


def _start(since: str) -> int:
    moment = parse_time(since)
    return moment - 86399 if len(since) == 10 else moment  # a bare date: from its start


def _row(state: ModelState, e: Event, sig: dict[str, Any] | None) -> dict[str, Any]:
    action = e.ref.action
    version = e.version or state.assignment_version(e)
    if version is None and action is Action.UNASSIGN:
        version = e.record.get("version")  # type: ignore[assignment]
    gate = e.record.get("gate")
    return {
        "time": iso(e.time),
        "model": state.name,
        "action": str(e.record.get("action") or action.value),
        "version": str(version) if version else None,
        "environment": e.ref.stage,
        "from": _text(e.record.get("parent") if action is Action.REGISTER else e.record.get("from")),
        "actor": e.actor,
        "reason": _text(e.record.get("reason")),
        "gate": _gate(gate) if isinstance(gate, dict) else None,
        "signature": sig["status"] if sig else "unsigned",
        "signer": sig["signer"] if sig else None,
        "key": sig["key"] if sig else None,
        "tag": e.tag,
        "detail": None,
        **_REGISTRY,
    }


def _record_row(r: events.LifeEvent, sig: dict[str, Any] | None) -> dict[str, Any]:
    rec = r.record
    row: dict[str, Any] = {
        "time": iso(r.time),
        "model": r.model,
        "action": r.action or None,
        "version": str(r.version) if r.version else None,
        "environment": _env(r),
        "from": None,
        "actor": r.actor,
        "reason": _text(rec.get("reason")),
        "gate": None,
        "signature": sig["status"] if sig else "unsigned",
        "signer": sig["signer"] if sig else None,
        "key": sig["key"] if sig else None,
        "tag": r.ref,
        "detail": _detail(r.action, rec),
        **_REGISTRY,
    }
    if r.action == Act.DRILL:
        row["outcome"] = journals.outcome(journals.DRILL, rec)
        row["duration"] = journals.seconds_of(rec.get("seconds"))
    return row


def _detail(action: str, rec: dict[str, object]) -> str | None:
    """One line of what the record adds, in words (--json readers have the record's fields here)."""
    if action == Act.DEPRECATE_ON:
        return f"deprecated from {rec.get('on')}"
    hot = rec.get("hot_remote") or "the default remote"
    if action == Act.ARCHIVE:
        return f"{rec.get('objects')} object(s) to {rec.get('cold_remote')} from {hot}"
    if action == Act.RESTORE:
        return f"from {rec.get('cold_remote')} to {hot}"
    if action == Act.DRILL:
        verdict = "passed" if rec.get("passed") is True else "TOO SLOW"
        return (
            f"{verdict}: back to {rec.get('to')} in {rec.get('back_seconds')} s, forward in "
            f"{rec.get('forward_seconds')} s (limit {rec.get('limit')} s) on {rec.get('host')}"
        )
    return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _gate(record: dict[str, Any]) -> str:
    if record.get("forced"):
        return "overridden"
    return "passed" if record.get("passed") else "refused"


def to_csv(data: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in data["moves"]:
        writer.writerow([_cell(row[c]) for c in COLUMNS])
    return out.getvalue()


def _cell(value: Any) -> str:
    text = "" if value is None else plain(str(value))
    # A spreadsheet runs a cell starting with = + - @ (or a tab/CR) as a formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def check_format(as_json: bool, as_csv: bool) -> None:
    if as_json and as_csv:
        raise UsageError("give --json or --csv, not both")
