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
    from tqdm import tqdm

    shown: Any = None
    # A terminal that reports no size (a bare pty, some serial consoles) gets 80x24: tqdm
    # would take its 0 rows and columns and draw nothing.
    try:
        sized = os.get_terminal_size(sys.stderr.fileno()).columns > 0
    except (AttributeError, ValueError, OSError):
        sized = False

    def update(done: int, total: int) -> None:
        nonlocal shown
        if shown is None:
            shown = tqdm(
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
        shown.total = total
        shown.update(done - shown.n)

    try:
        yield update
    finally:
        if shown is not None:
            shown.close()
