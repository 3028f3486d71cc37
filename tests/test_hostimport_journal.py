"""The host journal's reader is bounded: a line over MAX_LINE is read past in pieces and
counted as skipped, as a torn or unparsable line is (deploy, rollback and status read
the journal on every run)."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

from gitmodel.host import journal
from gitmodel.lifecycle import journals
from gitmodel.refs import Version


def test_a_huge_line_is_skipped_without_being_read_whole(tmp_path: Path) -> None:
    log = journal.Journal(tmp_path, "deploy", "support", "production")
    log.step("start", version=Version.parse("v1.0.0"))
    with journal.journal_path(tmp_path).open("ab") as fh:
        fh.write(b'{"step": "' + b"x" * (16 * journal.MAX_LINE) + b'"}\n')  # 16 MiB, valid JSON
    log.step("done", version=Version.parse("v1.0.0"))
    tracemalloc.start()
    try:
        records = journal.read(tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [r["step"] for r in records] == ["start", "done"]
    assert records.skipped == 1
    assert peak < 4 * journal.MAX_LINE, peak  # a piece or two at a time, not 16 MiB


def test_a_line_of_exactly_max_line_is_still_a_record(tmp_path: Path) -> None:
    pad = journal.MAX_LINE - len(b'{"step":"done","pad":""}\n')
    journal.journal_path(tmp_path).write_bytes(b'{"step":"done","pad":"' + b"p" * pad + b'"}\n')
    records = journal.read(tmp_path)
    assert [r["step"] for r in records] == ["done"] and records.skipped == 0


def test_torn_nested_and_foreign_lines_are_counted(tmp_path: Path) -> None:
    path = journal.journal_path(tmp_path)
    path.write_bytes(
        b'{"step": "start"}\n'
        + b"[" * 100_000  # nested past the JSON parser's recursion limit
        + b"\n\xff\xfe not UTF-8\n[1, 2]\n\n"  # not a record; a blank line is nothing
        + b'{"step": "swa'  # torn by a kill
    )
    journal.Journal(tmp_path, "deploy", "m", "e").step("done")  # the writer starts a fresh line
    records = journal.read(tmp_path)
    assert [r["step"] for r in records] == ["start", "done"]
    assert records.skipped == 4


def test_an_unterminated_huge_last_line_ends_the_read(tmp_path: Path) -> None:
    journal.journal_path(tmp_path).write_bytes(b'{"step": "start"}\n' + b"y" * (3 * journal.MAX_LINE))
    records = journal.read(tmp_path)
    assert [r["step"] for r in records] == ["start"] and records.skipped == 1
    assert journal.read(tmp_path / "nothing-here") == [] and journal.read(tmp_path / "x").skipped == 0


def test_the_host_and_the_audit_bound_a_line_alike() -> None:
    assert journal.MAX_LINE == journals.MAX_LINE


def test_a_fifo_in_the_journals_place_reads_as_empty_instead_of_hanging(tmp_path: Path) -> None:
    os.mkfifo(journal.journal_path(tmp_path))
    records = journal.read(tmp_path)  # pytest-timeout ends a hang; before O_NONBLOCK, open() blocked
    assert (list(records), records.skipped) == ([], 0)
