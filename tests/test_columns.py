"""gitmodel/cli/columns.py writes what tabulate's "plain" format writes, without its import."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from tabulate import tabulate

from gitmodel.cli import columns, output

ASCII = st.text(alphabet=st.sampled_from(list("ab Z-9.:<>…")), max_size=12)
TEXT = st.one_of(ASCII, st.text(alphabet=st.sampled_from(list("a …é漢\u0301")), max_size=4))
PLAIN = st.one_of(ASCII, st.integers(-(10**6), 10**6), st.floats(allow_nan=False), st.booleans(), st.none())
CELL = st.one_of(PLAIN, TEXT)


def reference(headers: list[str], rows: list[list[Any]]) -> str:
    return str(tabulate(rows, headers=headers, tablefmt="plain", disable_numparse=True))


def tables(cells: st.SearchStrategy[Any], names: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    return st.integers(1, 4).flatmap(
        lambda n: st.tuples(
            st.lists(names, min_size=n, max_size=n),
            st.lists(st.lists(cells, min_size=n, max_size=n), max_size=6),
        )
    )


@given(tables(PLAIN, ASCII))
def test_plain_is_tabulates_plain(table: tuple[list[str], list[list[Any]]]) -> None:
    headers, rows = table
    assert columns.plain(headers, rows) == reference(headers, rows)


@given(tables(CELL, TEXT))
def test_the_table_is_tabulates_whatever_the_cells(table: tuple[list[str], list[list[Any]]]) -> None:
    """Declined tables go to tabulate; the caller's output is the same either way."""
    headers, rows = table
    cells = [[output._cell(c) for c in row] for row in rows]
    assert output.table(headers, rows) == reference([output.escape(h) for h in headers], cells)


def test_the_cli_tables_take_the_fast_path() -> None:
    rows = [["m00001", "v1.2.0", 12, "v1.1.0", "-"], ["acme:support (deprecated)", "v10.0.0", 3, "", " x "]]
    headers = ["MODEL", "LATEST", "VERSIONS", "STAGING", "PRODUCTION"]
    assert columns.plain(headers, rows) == reference(headers, rows)
    assert columns.plain(["A"], []) == reference(["A"], [])


def test_what_it_declines() -> None:
    assert columns.plain(["A"], [["漢字"]]) is None  # wide characters: wcwidth's widths
    assert columns.plain(["A"], [["e\u0301"]]) is None  # a combining accent: no width
    assert columns.plain(["A"], [[b"x"]]) is None
    assert columns.plain(["A", "B"], [["x"]]) is None  # ragged
    assert columns.plain([], []) is None
