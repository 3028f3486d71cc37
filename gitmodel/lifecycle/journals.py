"""The host journals under a root (ROOT/NAME_DIR/journal.jsonl), as audit rows.

What a host did (deploys, rollbacks, canary steps, drills, failures) is written by the
host itself (gitmodel/host/journal.py), one JSON object per step; this module only reads.
It opens each journal read-only, takes no deploy lock (an audit beside a running agent
neither waits nor blocks it) and repairs nothing: a line torn by a kill, a line that is
not a JSON object or has no readable time, and a line over MAX_LINE are skipped and
counted, never parsed into memory whole. A journal that is a symlink or not a regular
file is refused and named. Values are shown as written, cut at MAX_CELL characters;
making them safe for a terminal or a spreadsheet is the renderers' work, as for the
registry's rows.

The reader sits in the registry layer beside audit.py rather than in gitmodel/host/: the
layers keep lifecycle/ from importing host/, and a read command needs none of the host's
machinery. The step
names below are the writer's (tests/test_audit_root.py checks they agree).
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import math
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitmodel import hostlayout
from gitmodel.errors import GitModelError, UsageError
from gitmodel.refs import parse_model

MAX_LINE = hostlayout.JOURNAL_MAX_LINE  # past this a line is skipped unread
MAX_CELL = 1000  # characters of one value (and of the detail) in a row

OK_STEPS = ("done", "canary-on", "canary-off")  # a run that ended serving what it meant to
FAILED_STEPS = ("failed", "canary-failed")  # a run that ended refused (`current` intact)
DRILL = "drill"
# Fields that fill a column of their own; every other field goes to `detail`.
_COLUMNS = {"time": "time", "op": "action", "env": "environment", "step": "step"}
_COLUMNS |= {"version": "version", "previous": "from", "reason": "reason", "tag": "tag"}
_CANONICAL = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", re.ASCII)  # what Journal.step writes
_WORD = re.compile(r'[^\s"=\\]+')  # a logfmt value that needs no quotes


@dataclass
class RootRead:
    """One root's journals: their rows (oldest first per journal) and what was left out."""

    root: Path
    journals: int = 0
    rows: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    records: int = 0  # lines read as timed records (the rows are those the filter kept)
    skipped: int = 0  # lines torn, not a JSON object, without a readable time, or over MAX_LINE
    refused: list[str] = field(default_factory=list)  # journals not read, and why

    def summary(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "journals": self.journals,
            "records": self.records,
            "shown": len(self.rows),
            "skipped": self.skipped,
            "refused": self.refused,
        }


Wanted = Callable[[str, float, str | None], bool]  # (model, time, environment): keep the row?


def read_root(root: Path, wanted: Wanted | None = None) -> RootRead:
    """The journals under ROOT as rows (those `wanted` keeps); UsageError when it has none.

    The filter runs on each record before its row is built: an audit of one day reads a
    year's journal at the cost of parsing it."""
    fix = "give the directory `gitmodel deploy --root` writes (ROOT/NAME/journal.jsonl)"
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except FileNotFoundError:
        raise UsageError(f"--root {root}: no such directory; {fix}") from None
    except NotADirectoryError:
        raise UsageError(f"--root {root}: not a directory; {fix}") from None
    except OSError as exc:
        raise UsageError(f"--root {root}: unreadable ({exc.strerror}); {fix}") from None
    read = RootRead(root)
    for entry in entries:
        model = _model_of(entry.name)
        if model is None:
            continue  # not a model directory (lost+found, a backup, ...)
        path = hostlayout.journal_path(Path(entry.path))
        if entry.is_symlink():
            if os.path.lexists(path):
                read.journals += 1
                read.refused.append(f"{path}: its model directory is a symlink, not ours")
            continue
        if not entry.is_dir() or not os.path.lexists(path):
            continue
        read.journals += 1
        _read_journal(read, path, model, wanted)
    if not read.journals:
        raise UsageError(f"--root {root}: no host journals (ROOT/NAME/journal.jsonl) under it; {fix}")
    return read


def _model_of(name: str) -> str | None:
    try:
        model = parse_model(name.replace("=", ":"))
    except GitModelError:
        return None
    return model if hostlayout.name_dir(model) == name else None


def _read_journal(read: RootRead, path: Path, model: str, wanted: Wanted | None) -> None:
    try:
        # O_NONBLOCK: a FIFO put in the journal's place must not hang the audit.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        why = "a symlink, not the host's file" if exc.errno == errno.ELOOP else f"unreadable ({exc.strerror})"
        read.refused.append(f"{path}: {why}")
        return
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            read.refused.append(f"{path}: not a regular file")
            return
        for line in hostlayout.journal_lines(fh):
            parsed = None if line is None else parse(line)
            if parsed is None:
                read.skipped += 1
                continue
            read.records += 1
            moment, rec = parsed
            env = rec.get("env")
            if wanted is None or wanted(model, moment, env if isinstance(env, str) else None):
                read.rows.append((moment, row_of(model, read.root, moment, rec)))


def journal_row(model: str, root: Path, line: bytes) -> tuple[float, dict[str, Any]] | None:
    """(sort key, row) for one journal line, or None when it is torn or has no readable time."""
    parsed = parse(line)
    return None if parsed is None else (parsed[0], row_of(model, root, *parsed))


def parse(line: bytes) -> tuple[float, dict[str, Any]] | None:
    """(time, record) of one journal line, or None when it is torn or has no readable time."""
    try:
        rec = json.loads(line)
    except (ValueError, RecursionError):  # torn, not UTF-8, or nested past the parser's depth
        return None
    if not isinstance(rec, dict):
        return None
    moment = _moment(rec.get("time"))
    return None if moment is None else (moment, rec)


def row_of(model: str, root: Path, moment: float, rec: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {column: _shown(rec.get(key)) for key, column in _COLUMNS.items()}
    time = rec["time"]  # as the host writes it (UTC, milliseconds) it is shown as it is
    row["time"] = time if _CANONICAL.fullmatch(time) else _iso(moment)
    rest = {k: v for k, v in rec.items() if k not in _COLUMNS}
    if rest.get("model") == model:
        del rest["model"]  # the directory names the model; a different claim stays in detail
    step = rec.get("step")
    if step == DRILL and row["tag"] is None and "record" in rest:
        row["tag"] = _shown(rest.pop("record"))  # the drill's lifecycle record
    seconds = rest.get("seconds")
    duration = seconds_of(seconds)
    if duration is not None:
        del rest["seconds"]
    row |= {
        "model": model,
        "actor": None,
        "gate": None,
        "signature": None,
        "signer": None,
        "key": None,
        "detail": _logfmt(rest),
        "source": "host",
        "root": str(root),
        "outcome": outcome(step, rec),
        "duration": duration,
    }
    return row


def outcome(step: object, record: dict[str, Any]) -> str | None:
    """ok / failed / too-slow for a step that ends a run (a drill: by its limit); else None."""
    if step in OK_STEPS:
        return "ok"
    if step in FAILED_STEPS:
        return "failed"
    if step == DRILL:
        return "ok" if record.get("passed") is True else "too-slow"
    return None


def _moment(value: object) -> float | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)  # the host writes UTC; a hand-edited time too
    try:
        return moment.timestamp()
    except (OverflowError, ValueError):
        return None


def _iso(moment: float) -> str:
    when = dt.datetime.fromtimestamp(moment, dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def seconds_of(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _shown(value: object) -> str | None:
    """A value as written (not a string: its compact JSON), cut at MAX_CELL."""
    if value is None:
        return None
    text = value if isinstance(value, str) else _json(value)
    return _cut(text)


def _json(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)  # the common case, without the encoder's cost
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def _token(text: str) -> str:
    """TEXT bare when it is one plain word, else quoted as a JSON string (logfmt's rule)."""
    if _WORD.fullmatch(text) and text.isprintable():
        return text
    return json.dumps(text, ensure_ascii=False)


def _logfmt(fields: dict[str, Any]) -> str | None:
    """The remaining fields as `key=value` pairs (logfmt): a string with spaces, quotes or
    controls in JSON quotes, any other value as compact JSON."""
    parts: list[str] = []
    size = 0
    for key, value in fields.items():
        if value is None:
            continue
        text = _token(value) if isinstance(value, str) else _json(value)
        parts.append(f"{_token(str(key))}={text}")
        size += len(parts[-1]) + 1
        if size > MAX_CELL:
            break  # a huge record: enough to cut at MAX_CELL, the rest is not built
    return _cut(" ".join(parts)) if parts else None
