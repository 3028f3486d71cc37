"""ROOT/NAME_DIR/journal.jsonl: what this host did, one fsynced JSON object per step.

A kill can tear the last line; readers skip (and count) a line that is not JSON, and the
next writer starts on a fresh line, so one torn record never corrupts the ones after it.

A full disk does not stop a run: a record that cannot be written (ENOSPC, EDQUOT) is
counted on the Journal (`unwritten`, `error`) and the run goes on, so a hot rollback,
which needs no space beyond a symlink, still swaps; the result reports the loss.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitmodel import served, testhook
from gitmodel.host.errors import ForeignLink
from gitmodel.hostlayout import JOURNAL_MAX_LINE, journal_lines, journal_path
from gitmodel.refs import Version

# Steps after which the host served a version on purpose: they shape the history that
# local rollback and the agent read.
DONE = "done"
FAILED = "failed"  # the run ended refused; `current` is on a complete version
# The canary's own steps (op "canary", gitmodel/host/canary_sync.py): written only once the
# server confirmed the change, so they never shape the stable history above.
CANARY_ON = "canary-on"
CANARY_OFF = "canary-off"
CANARY_FAILED = "canary-failed"
CANARY_STEPS = (CANARY_ON, CANARY_OFF, CANARY_FAILED)
DRILL = "drill"  # a finished drill's timings (op "drill", gitmodel/host/drill.py)
# Steps that end a run: anything else last in the journal means a run was interrupted.
FINAL = (DONE, FAILED, *CANARY_STEPS, DRILL)


@dataclass
class Journal:
    model_root: Path
    op: str = "deploy"
    model: str = ""
    env: str | None = None
    unwritten: list[str] = field(default_factory=list)  # steps the disk had no room for
    error: str | None = None  # why, the first time

    @property
    def path(self) -> Path:
        return journal_path(self.model_root)

    def step(self, step: str, **fields: Any) -> dict[str, Any]:
        record = {
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "pid": os.getpid(),
            "op": self.op,
            "model": self.model,
            "env": self.env,
            "step": step,
            **{k: (str(v) if isinstance(v, Version | Path) else v) for k, v in fields.items()},
        }
        try:
            append(self.path, record)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            self.unwritten.append(step)
            self.error = self.error or f"{self.path}: {exc.strerror or 'no space left'}"
        return record

    def lost(self) -> str | None:
        """One line on the records this run could not write, or None."""
        if not self.unwritten:
            return None
        steps = ", ".join(self.unwritten)
        return (
            f"{len(self.unwritten)} journal record(s) not written ({steps}): {self.error}; "
            "free space there: the next run's records will be complete"
        )


def append(path: Path, record: dict[str, Any]) -> None:
    line = (json.dumps(record, sort_keys=False, separators=(",", ":")) + "\n").encode()
    fd = _open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line  # a torn record from a killed writer: start clean
        hook = f"journal-{record.get('step')}"
        if testhook.armed(hook):  # a crash test wants a torn record: write half, then stop
            os.write(fd, line[: len(line) // 2])
            testhook.pause(hook, fsync_fd=fd)
        # One write of one short line with O_APPEND: appenders never interleave.
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def _open(path: Path, flags: int) -> int:
    """The journal's descriptor; a symlink in its place is someone else's file: refused."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ForeignLink(path) from None
        raise


MAX_LINE = JOURNAL_MAX_LINE


class Records(list[dict[str, Any]]):
    """A journal's records, oldest first; `skipped` counts the lines that were not one
    (torn by a kill, not a JSON object, or over MAX_LINE)."""

    skipped: int = 0


def read(model_root: Path) -> Records:
    """The journal's records. Deploy, rollback and status read it on every run, so a line
    is bounded: a longer one is read past in MAX_LINE pieces and counted as skipped."""
    records = Records()
    try:
        # O_NONBLOCK: a FIFO in the journal's place reads as empty instead of hanging a deploy.
        fh = os.fdopen(_open(journal_path(model_root), os.O_RDONLY | os.O_NONBLOCK), "rb")
    except FileNotFoundError:
        return records
    with fh:
        for raw in journal_lines(fh):
            try:
                record = json.loads(raw) if raw is not None else None
            except (ValueError, RecursionError):  # torn by a kill, not UTF-8, nested past the parser
                record = None
            if isinstance(record, dict):
                records.append(record)
            else:
                records.skipped += 1
    return records


def served_history(records: list[dict[str, Any]]) -> list[str]:
    """Versions this host served, as a stack, by the rule the environments use.

    A move to a version already on the stack returns to it (the ones after it drop out),
    any other move pushes: after v1 -> v2 -> v1 the stack is [v1], so a local rollback
    from v1 does not return to the v2 that was rolled back from. The records' `op` is
    not read: it once came from a tag record, a claim of whoever pushed.
    """
    done = (rec.get("version") for rec in records if rec.get("step") == DONE)
    return served.stack_of(v for v in done if isinstance(v, str))


def last_done(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((rec for rec in reversed(records) if rec.get("step") == DONE), None)


def swapped_in_order(records: list[dict[str, Any]]) -> list[str]:
    """Versions in the order they last became `current` (most recent last)."""
    order: dict[str, int] = {}
    for i, rec in enumerate(records):
        if rec.get("step") in ("swapped", "reverted", DONE) and isinstance(rec.get("version"), str):
            order[rec["version"]] = i
    return sorted(order, key=order.__getitem__)


def last_canary(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((rec for rec in reversed(records) if rec.get("step") in CANARY_STEPS), None)
