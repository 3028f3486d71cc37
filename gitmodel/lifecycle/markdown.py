"""Markdown from untrusted values (pure): escaped inline text, tables, lists.

Cards and changelogs are read by people, often rendered (a Git host, a client's mail):
a value must not add a heading, a link, an image, raw HTML or a table column, and must
not carry terminal controls into a committed file. So every value is one line (newlines
become spaces), controls and bidi/format characters become visible escapes, and every
character that starts emphasis, code, a link or image (`[`), raw HTML, a table cell or a
heading is backslash-escaped (CommonMark allows a backslash before any ASCII punctuation).
Parentheses need nothing once `[` and `]` are escaped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

# Bidi overrides/isolates/marks and line separators reorder or break what the reader sees.
_FORMAT = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028, 0x2029, 0xFEFF]
_TABLE = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)]}
_TABLE.update({ord("\n"): " ", ord("\r"): " ", ord("\t"): " "})
_TABLE.update({c: f"\\u{c:04x}" for c in _FORMAT})
_PLAIN = dict(_TABLE)  # controls only: for CSV cells and other non-Markdown text
_TABLE.update({ord(c): "\\" + c for c in "\\`*_[]<>|&~#"})

# `_` between letters or digits never opens emphasis (CommonMark): keep snake_case legible.
_INTRAWORD = re.compile(r"(?<=[A-Za-z0-9])\\_(?=[A-Za-z0-9])")
MAX_VALUE = 2000  # characters of one value; the schema's description limit


def text(value: Any) -> str:
    """One untrusted value as inline Markdown that renders as exactly its characters."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        value = str(value).lower()
    elif isinstance(value, float):
        value = f"{value:.6g}"
    raw = str(value)
    if len(raw) > MAX_VALUE:
        raw = raw[:MAX_VALUE] + "…"
    return _INTRAWORD.sub("_", raw.translate(_TABLE).strip()) or "-"


def plain(value: str) -> str:
    """One untrusted value on one line with its controls and bidi characters made visible."""
    return value.translate(_PLAIN)


def code(value: str) -> str:
    """A command or name as an inline code span; refuses what a span cannot hold literally."""
    if "`" in value or any(ord(c) < 0x20 for c in value):
        return text(value)
    return f"`{value}`"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-style table of already-escaped cells."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def bullets(items: Sequence[str], empty: str) -> str:
    """A list of already-escaped items, or `empty` (plain prose) when there are none."""
    return "\n".join(f"- {item}" for item in items) if items else empty
