"""`status --root` says when the host's journal had lines that were no record.

A real deployed root (the `deployed` template: support v1.0.0 deployed by the CLI), its
journal damaged the two ways a host meets: a record torn by a kill, and a line that is
not JSON at all.
"""

from __future__ import annotations

import json

from plugin.attacks import World

from gitmodel import hostlayout

TORN = '{"time":"2026-11-22T00:26:39.296Z","pid":1,"op":"deploy","step":"sw'


def damage(world: World) -> None:
    with (world.mroot / hostlayout.JOURNAL).open("a") as fh:
        fh.write("not json at all\n")
        fh.write(TORN)  # no newline: the writer was killed mid-line


def status(world: World, *flags: str) -> str:
    args = ("status", "production", "support", "--root", str(world.root), "--no-fetch", *flags)
    result = world.reg.run(*args, cwd=world.host)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return str(result.stdout)


def test_a_clean_journal_shows_no_line_and_counts_zero(deployed: World) -> None:
    (row,) = json.loads(status(deployed, "--json"))["models"]
    assert row["journal_skipped"] == 0
    assert row["notes"] == []
    assert "journal" not in status(deployed)


def test_unreadable_journal_lines_are_shown_under_the_table_and_counted_in_json(deployed: World) -> None:
    damage(deployed)
    journal = hostlayout.journal_path(deployed.mroot)

    (row,) = json.loads(status(deployed, "--json"))["models"]
    assert row["journal_skipped"] == 2
    assert row["in_sync"] is True  # the host serves what production says: not drift
    assert row["last"]["step"] == "done"  # the last record that was one

    lines = status(deployed).splitlines()
    table_end = next(i for i, line in enumerate(lines) if line.startswith("support "))
    (note,) = [line for line in lines if "journal" in line]
    assert lines.index(note) > table_end
    assert note.startswith(f"support: journal: 2 unreadable line(s) skipped in {journal}")
    assert "docs/host.md" in note
