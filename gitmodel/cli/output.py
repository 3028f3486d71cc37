"""All terminal output: aligned tables, one JSON document, one-line messages and log lines.

Every byte the CLI writes passes `escape` (human text) or `json.dumps` (JSON) here, and
nowhere else: records, reasons, model metadata and server answers are data a pusher
controls, and a terminal must never act on them (clear the screen, set the title, turn
text around with a bidi override, forge a line with a carriage return).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

import click

# Bidi embeddings/overrides/isolates and marks: they reorder what the reader sees
# (CVE-2021-42574, "Trojan Source"); line/paragraph separators break lines like "\n".
_FORMAT_CHARS = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028, 0x2029]
_ESCAPES = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)]}
_ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})
_ESCAPES.update({c: f"\\u{c:04x}" for c in _FORMAT_CHARS})


def escape(text: str) -> str:
    """TEXT with every C0/C1 control and bidi/line-separator character written as an escape.

    One line stays one line: a newline inside a value is shown as `\\n`.
    """
    return text.translate(_ESCAPES)


def emit_json(data: Any) -> None:
    # ensure_ascii: controls, bidi overrides and every other non-ASCII character come out
    # as \\uXXXX escapes, so the document is plain printable ASCII whatever the data holds.
    _echo(json.dumps(data, indent=2, sort_keys=False, default=str, ensure_ascii=True))


def emit_json_line(data: Any) -> None:
    """One compact JSON document on one line (a stream of them, e.g. a monitor loop)."""
    _echo(json.dumps(data, default=str, ensure_ascii=True))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Plain aligned columns; headers are written as given (callers use upper case)."""
    from gitmodel.cli.columns import plain

    cells = [[_cell(c) for c in row] for row in rows]
    names = [escape(h) for h in headers]
    fast = plain(names, cells)  # tabulate's own output, for plain text and integers
    if fast is not None:
        return fast
    from tabulate import tabulate

    return tabulate(cells, headers=names, tablefmt="plain", disable_numparse=True)


def _cell(value: Any) -> Any:
    if value is None:
        return "-"
    if isinstance(value, int | float):
        return value  # no control characters in a number; tabulate aligns it as before
    return escape(str(value))


def echo_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], wide: bool = False) -> None:
    """The table; on a terminal narrower than it (and without `wide`), fitted to the width."""
    width = 0 if wide else terminal_width()
    _echo(table(headers, fit(headers, rows, width) if width else rows))


IDENTITY_HEADERS = ("ACTOR", "SIGNER", "SIGNED BY", "BY", "CREATED BY")
_GAP = 4  # tabulate's "plain" format puts this many spaces between columns
_NARROWEST = 12  # a shortened column keeps at least this many characters


def terminal_width() -> int:
    """Columns of the terminal on stdout; 0 when stdout is not a terminal (pipes get it all)."""
    if not is_tty():
        return 0
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return 0


def fit(headers: Sequence[str], rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """ROWS shortened to fit WIDTH columns: first identities ("Name <email>" -> email),
    then the widest column of free text or identities, cut with "…", until the table fits
    (`--wide` shows all)."""
    out = [list(row) for row in rows]
    if _width(headers, out) <= width:
        return out
    ids = [i for i, h in enumerate(headers) if h.upper() in IDENTITY_HEADERS]
    for row in out:
        for i in ids:
            row[i] = _short_identity(row[i])
    while (over := _width(headers, out) - width) > 0:
        widths = _widths(headers, out)
        texts = [i for i in ids + _prose(out) if widths[i] > _NARROWEST]
        if not texts:
            break  # times, versions and names are never cut: the table stays wider than the terminal
        col = max(texts, key=lambda i: widths[i])
        keep = max(_NARROWEST, widths[col] - over, len(escape(str(headers[col]))))
        if keep >= widths[col]:
            break
        for row in out:
            text = _text(row[col])
            if len(text) > keep:
                row[col] = text[: keep - 1] + "…"
    return out


def _short_identity(value: Any) -> Any:
    text = str(value) if value is not None else ""
    if text.endswith(">") and "<" in text:
        email = text[text.rindex("<") + 1 : -1]
        return email or text[: text.rindex("<")].strip()
    return value


def _text(value: Any) -> str:
    return "-" if value is None else escape(str(value))


def _prose(rows: Sequence[Sequence[Any]]) -> list[int]:
    """Columns of free text (some cell has a space): reasons, descriptions, changes."""
    return [i for i in range(len(rows[0]) if rows else 0) if any(" " in _text(r[i]) for r in rows)]


def _widths(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[int]:
    return [max([len(escape(str(h))), *(len(_text(r[i])) for r in rows)]) for i, h in enumerate(headers)]


def _width(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
    widths = _widths(headers, rows)
    return sum(widths) + _GAP * (len(widths) - 1)


def info(message: str) -> None:
    _echo(escape(message))


def warn(message: str) -> None:
    _echo(f"gitmodel: warning: {escape(message)}", err=True)


def error(message: str) -> None:
    _echo(f"gitmodel: error: {escape(message)}", err=True)


def _echo(text: str, err: bool = False) -> None:
    try:
        click.echo(text, err=err)
    except BrokenPipeError:
        reader_gone(sys.stderr if err else sys.stdout)


def pipe_closed(stream: Any) -> bool:
    """True when STREAM is a pipe whose reader has gone (poll says POLLERR on our end)."""
    import select

    try:
        poller = select.poll()
        poller.register(stream.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, ValueError, OSError):
        return False


def reader_gone(stream: Any) -> None:
    """The reader closed the pipe (`gitmodel list | head -1`): send the rest nowhere.

    The command still finishes what it was doing and exits with its own code; only its
    output, which nobody reads any more, is dropped (no traceback, no exit 70).
    """
    try:
        fd = stream.fileno()
    except (AttributeError, ValueError, OSError):
        return  # not a real file (a test runner's buffer): nothing to redirect
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


class LogHandler(logging.Handler):
    """Log lines, escaped, to whatever stderr is now (click's, under a test runner)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(escape(self.format(record)), err=True)
        except Exception:  # a broken stderr must not kill a server or an agent loop
            self.handleError(record)


def log_to_stderr(name: str, fmt: str, level: int) -> None:
    """Send the logger NAME's lines to stderr through `LogHandler` while the running command
    lasts: when its click context closes the handler goes and the logger's level and
    propagation come back. A handler left behind would write lines logged later by anyone
    in this process (an agent, a server thread) into the next command's stderr."""
    ctx = click.get_current_context()  # outside a command: RuntimeError, there is no scope
    logger = logging.getLogger(name)
    handler = LogHandler()
    handler.setFormatter(logging.Formatter(fmt))
    level_was, propagate_was = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False

    def remove() -> None:
        logger.removeHandler(handler)
        logger.setLevel(level_was)
        logger.propagate = propagate_was

    ctx.call_on_close(remove)


def forget_colour_reset() -> None:
    """Drop the exit hook colorama registers when DVC's logger calls `colorama.init()`.

    At exit it writes ESC[0m to stdout when that is a terminal: a stray sequence after a
    command's last line (in `script` logs, in programs reading a pty). gitmodel never
    colours its output, so there is nothing to reset. A no-op when DVC was not imported.
    """
    initialise = sys.modules.get("colorama.initialise")
    if initialise is not None:
        atexit.unregister(initialise.reset_all)


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
