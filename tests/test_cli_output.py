"""Records are data, not markup: what a pusher wrote never acts on the reader's terminal."""

from __future__ import annotations

import json
import logging

import click
import pytest
from plugin.registry import Registry

from gitmodel.cli import output

EVIL = "refund \x1b[2J\x1b]0;pwned\x07 fixed \u202eelif\u202c ok"
RAW = ["\x1b", "\x07", "\u202e", "\u202c"]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[2J", "\\x1b[2J"),
        ("a\rb\nc\td\x00", "a\\rb\\nc\\td\\x00"),
        ("\x7f\x85\x9b31m", "\\x7f\\x85\\x9b31m"),  # DEL, NEL and the one-byte CSI
        ("\u202eabc\u202c\u2066x\u2069\u200f", "\\u202eabc\\u202c\\u2066x\\u2069\\u200f"),
        ("line\u2028next", "line\\u2028next"),
        *((t, t) for t in ["plain ASCII, é, 中文, 🙂", "a \\x1b written out is text, not a control"]),
    ],
)
def test_escape(text: str, shown: str) -> None:
    assert output.escape(text) == shown


def test_table_cells_and_lines_are_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    output.echo_table(["A", "B"], [["x\x1b[31m", 3], [None, "\u202ey"]])
    output.info("moved \x1b]0;t\x07")
    output.error("bad\nname")
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "A          B",
        "x\\x1b[31m  3",
        "-          \\u202ey",
        "moved \\x1b]0;t\\x07",
    ]
    assert err == "gitmodel: error: bad\\nname\n"


def test_log_lines_are_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    with click.Context(click.Command("t")):  # a handler lives as long as its command
        output.log_to_stderr("gitmodel.test-escape", "%(message)s", logging.INFO)
        logging.getLogger("gitmodel.test-escape").info("tag %s", "x\x1b[2Jy")
    assert capsys.readouterr().err == "tag x\\x1b[2Jy\n"


def test_a_hostile_reason_is_escaped_in_history_and_intact_in_json(model: Registry) -> None:
    model.ok("promote", "support", "v1.1.0", "production", "--reason", EVIL)
    table = model.ok("history", "support").stdout
    assert not any(c in table for c in RAW)
    assert "refund \\x1b[2J\\x1b]0;pwned\\x07 fixed \\u202eelif\\u202c ok" in table
    text = model.ok("history", "support", "--json").stdout
    assert text.isascii() and not any(c in text for c in RAW)
    assert "\\u001b[2J\\u001b]0;pwned\\u0007" in text and "\\u202e" in text
    assert json.loads(text)["events"][-1]["reason"] == EVIL


def test_a_hostile_name_in_an_error_stays_one_escaped_line(model: Registry) -> None:
    result = model.fails(2, "show", "sup\x1b[2J\rport")
    assert "\x1b" not in result.stderr and "\r" not in result.stderr
    assert "sup\\x1b[2J\\rport" in result.stderr
