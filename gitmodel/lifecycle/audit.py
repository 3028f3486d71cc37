"""The audit trail, exported: every registration and move with who, when, why and the signature.

One row per gitmodel tag, oldest first, with stable columns (COLUMNS; docs/lifecycle.md).
What a tag *is* (model, version by its commit, environment, time, tagger) comes from the
tag itself; `action`, `from`, `reason` and `gate` are what its record claims; only
`signature` (git's verdict on the tag's signature, against the reading trust file or
git's allowed signers) vouches for who made the move. CSV cells are made safe for
spreadsheets: a cell that would start a formula gets a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from gitmodel import git
from gitmodel.errors import UsageError
from gitmodel.lifecycle.markdown import plain
from gitmodel.queries import iso, parse_time
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
    "tag",
)


def rows(repo: Path, since: str | None = None, env: str | None = None) -> dict[str, Any]:
    start = _start(since) if since is not None else None
    if env is not None:
        parse_stage(env)
    reg = Registry.load(repo)
    picked: list[tuple[ModelState, Event]] = []
    for name in sorted(reg.models):
        state = reg.models[name]
        for e in state.timeline():
            if start is not None and e.time < start:
                continue
            if env is not None and e.ref.stage != env:
                continue
            picked.append((state, e))
    picked.sort(key=lambda p: p[1].time)  # stable: each model's own order kept within a second
    signed: dict[str, dict[str, Any]] = {}
    if any(git.has_signature(e.message) for _, e in picked):
        from gitmodel.signing import signatures

        signed = signatures(repo, [e for _, e in picked])
    return {
        "since": iso(start) if start is not None else None,
        "environment": env,
        "columns": list(COLUMNS),
        "moves": [_row(state, e, signed.get(e.tag)) for state, e in picked],
    }


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
    }


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
