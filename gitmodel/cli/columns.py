"""Aligned columns without tabulate's import (~30-60 ms, more than a read's own work).

`plain` writes exactly what `tabulate(rows, headers, tablefmt="plain",
disable_numparse=True)` writes when every cell is printable ASCII (and "…", which the
CLI writes where it shortens a value; one column wide): with number parsing
off every column is text, left-aligned and stripped, at least two wider than its header,
two spaces apart. Anything else (wide or combining characters, whose width tabulate
takes from wcwidth; ragged rows; other types) returns None and the caller asks tabulate.
tests/test_columns.py holds the two to the same output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_PAD = 2  # tabulate widens every column to its header plus this
_SEP = "  "
_SCALARS = (str, int, float, bool)


def plain(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str | None:
    width = len(headers)
    if not width or not all(type(h) is str and _ascii(h) for h in headers):
        return None
    table: list[list[str]] = []
    for row in rows:
        if len(row) != width:
            return None
        line = []
        for cell in row:
            if cell is None:
                text = ""  # tabulate's missing value
            elif type(cell) in _SCALARS:
                text = str(cell).strip()
            else:
                return None
            if not _ascii(text):
                return None
            line.append(text)
        table.append(line)
    sizes = [max([len(h) + _PAD, *(len(line[i]) for line in table)]) for i, h in enumerate(headers)]
    return "\n".join(_line(line, sizes) for line in [list(headers), *table])


def _ascii(text: str) -> bool:
    if not text.isascii():
        text = text.replace("…", "")  # the CLI's own ellipsis, one column wide
    return text.isascii() and text.isprintable()


def _line(cells: list[str], sizes: list[int]) -> str:
    return _SEP.join(c.ljust(n) for c, n in zip(cells, sizes, strict=True)).rstrip()
