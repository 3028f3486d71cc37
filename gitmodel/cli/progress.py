"""Progress bars for long byte work (hashing, transfers): bytes, rate and ETA.

Only on a terminal: nothing is drawn when stderr is a pipe or a file, with `--quiet`, or
with `--json` (a script reading the output must see only the document). The core never
prints: it calls the `(done, total)` callback this module hands the command.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Progress = Callable[[int, int], None]
Labelled = Callable[[str, int, int], None]


def wanted(quiet: bool = False, as_json: bool = False) -> bool:
    """Whether to draw: stderr is a terminal and the user did not ask for quiet or JSON."""
    if quiet or as_json:
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def bar(label: str, *, quiet: bool = False, as_json: bool = False) -> Iterator[Progress | None]:
    """A callback drawing one bar on stderr while the block runs, or None when not `wanted`.

    The bar appears at the first call (when the total is known) and is cleared at the end,
    so the command's own result lines follow on a clean terminal.
    """
    if not wanted(quiet, as_json):
        yield None
        return
    with bars() as each:
        assert each is not None
        yield lambda done, total: each(label, done, total)


@contextmanager
def bars(*, quiet: bool = False, as_json: bool = False) -> Iterator[Labelled | None]:
    """Like bar(), for work that comes in labelled pieces (a host's transfers, one per
    version): a callback `(label, done, total)` drawing one bar at a time; a new label
    closes the previous bar, and so does reaching the total (so a line the command logs
    next, the agent's, lands on a clean terminal)."""
    if not wanted(quiet, as_json):
        yield None
        return
    shown: Any = None
    now: str | None = None

    def update(label: str, done: int, total: int) -> None:
        nonlocal shown, now
        if shown is not None and label != now:
            shown.close()
            shown = None
        if shown is None:
            if done >= total:
                return  # over before it was drawn: nothing to show
            shown, now = _tqdm(label, total), label
        shown.total = total
        shown.update(done - shown.n)
        if done >= total:
            shown.refresh()  # the last state is drawn even when it came fast (bytes, rate)
            shown.close()
            shown = None

    try:
        yield update
    finally:
        if shown is not None:
            shown.close()


@contextmanager
def transfers(*, quiet: bool = False, as_json: bool = False) -> Iterator[None]:
    """Bars for the host's downloads inside the block (deploy, rollback, agent), through
    the core's callback (gitmodel/host/transfer.py reporting()); the host package is only
    imported when a bar may be drawn."""
    with bars(quiet=quiet, as_json=as_json) as each:
        if each is None:
            yield
            return
        from gitmodel.host.transfer import reporting

        with reporting(each):
            yield


def _tqdm(label: str, total: int) -> Any:
    from tqdm import tqdm

    # A terminal that reports no size (a bare pty, some serial consoles) gets 80x24: tqdm
    # would take its 0 rows and columns and draw nothing.
    try:
        sized = os.get_terminal_size(sys.stderr.fileno()).columns > 0
    except (AttributeError, ValueError, OSError):
        sized = False
    return tqdm(
        total=total,
        desc=label,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=sys.stderr,
        leave=False,
        dynamic_ncols=sized,
        ncols=None if sized else 80,
        nrows=None if sized else 24,
    )
