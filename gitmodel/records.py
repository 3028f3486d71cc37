"""The record in a registry tag's (or approval's) annotation, and the actions it can name.

An annotation is a human summary line, optional prose, and last one machine-readable
line::

    gitmodel: rollback support v1.0.0 to production (was v1.1.0)

    latency regression

    gitmodel-record: {"action":"rollback","from":"v1.1.0","version":"v1.0.0",...}

GTO keeps the whole annotation as the event's message and never reads the record, so
it parses these tags like its own.  The format is on disk in every registry: this
module must keep writing it byte for byte (compact JSON, sorted keys, blank lines
between the parts, a final newline).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum

PREFIX = "gitmodel-record: "


class Act(StrEnum):
    """What a tag (or an approval) did, as its record's `action` says; a StrEnum, so its own string."""

    REGISTER = "register"
    DEPRECATE = "deprecate"
    PROMOTE = "promote"
    FORCE_PROMOTE = "force-promote"  # promoted over the gate's refusal, with a reason
    ROLLBACK = "rollback"
    FORCE_ROLLBACK = "force-rollback"  # rollback --to a version the environment never served, with a reason
    CANARY_START = "canary-start"
    CANARY_SET = "canary-set"  # a running canary's traffic share changed
    CANARY_PROMOTE = "canary-promote"  # the environment now serves the canary...
    CANARY_END = "canary-end"  # ...and, in the same push, its canary stage is unassigned
    CANARY_ABORT = "canary-abort"
    APPROVE = "approve"  # a second signer's approval object (refs/gitmodel/approvals/, not a tag)
    # Lifecycle records (refs/gitmodel/lifecycle/, gitmodel/lifecycle/events.py), not tags:
    ARCHIVE = "archive"  # gc moved a version's bytes to the cold DVC remote
    RESTORE = "restore"  # `gitmodel restore` copied them back to the hot remote
    DEPRECATE_ON = "deprecate-on"  # a version's deprecation scheduled for a date
    DRILL = "drill"  # a timed rollback-and-forward on a host


def format_message(summary: str, record: Mapping[str, object], body: str = "") -> str:
    """Annotation text: the summary, optional prose, and the record line."""
    parts = [summary.strip()]
    if body.strip():
        parts.append(body.strip())
    parts.append(PREFIX + json.dumps(record, sort_keys=True, separators=(",", ":")))
    return "\n\n".join(parts) + "\n"


def parse(message: str) -> dict[str, object]:
    """The record of an annotation; {} when it has none or a broken one (a hand-made tag)."""
    for line in reversed(message.splitlines()):
        if line.startswith(PREFIX):
            try:
                value = json.loads(line[len(PREFIX) :])
            except (ValueError, RecursionError):  # nested past the parser's depth: pushed by hand
                return {}
            return value if isinstance(value, dict) else {}
    return {}


def is_record(line: str) -> bool:
    """Whether `line` is a record line (also a hand-written one missing the space)."""
    return line.startswith(PREFIX.rstrip())
