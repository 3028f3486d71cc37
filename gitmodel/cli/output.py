"""All terminal output: aligned tables, one JSON document, one-line errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Plain aligned columns; headers are written as given (callers use upper case)."""
    from tabulate import tabulate

    cells = [["-" if c is None else c for c in row] for row in rows]
    return tabulate(cells, headers=list(headers), tablefmt="plain", disable_numparse=True)


def echo_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    click.echo(table(headers, rows))


def info(message: str) -> None:
    click.echo(message)


def error(message: str) -> None:
    click.echo(f"gitmodel: error: {message}", err=True)


def fmt_num(x: Any) -> str:
    """A value for a table cell; long content hashes are shortened (--json has them whole)."""
    if isinstance(x, bool) or x is None:
        return "-" if x is None else str(x).lower()
    if isinstance(x, float):
        return f"{x:.6g}"
    text = str(x)
    if text.startswith(("sha256:", "md5:")) and len(text) > 24:
        return text[:19] + "…"
    if len(text) in (32, 36) and all(c in "0123456789abcdef." for c in text) and len(text) > 12:
        return text[:12] + "…"
    return text


def fmt_change(rel: float | None) -> str:
    return "-" if rel is None else f"{rel * 100:+.1f}%"


def is_tty() -> bool:
    return sys.stdout.isatty()
