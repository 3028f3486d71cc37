"""How a command that failed ends: the one mapping from exceptions to exit codes.

Shared by the click group and the hook shims' path, which runs without click.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

from gitmodel.errors import GitModelError

EXIT_INTERNAL = 70


def exit_for(exc: BaseException) -> NoReturn:
    """Say what went wrong in one line and exit with its documented code."""
    from gitmodel.cli import output

    if isinstance(exc, GitModelError):
        if exc.exit_code == 0:  # an outcome, not an error (unpushed.MovesFinished)
            output.info(exc.message)
            sys.exit(0)
        output.error(exc.message)
        sys.exit(exc.exit_code)
    if isinstance(exc, KeyboardInterrupt):
        output.error("interrupted; every step done so far was undone or is complete")
        sys.exit(130)
    # Click writes a subcommand's --help itself (our own output never raises this, see
    # output.py).  Only a reader that left is quiet: a socket's EPIPE is a crash.
    if isinstance(exc, BrokenPipeError) and output.pipe_closed(sys.stdout):
        output.reader_gone(sys.stdout)
        sys.exit(0)
    import tempfile
    import traceback

    fd, log = tempfile.mkstemp(prefix="gitmodel-crash-", suffix=".log")
    with os.fdopen(fd, "w") as fh:
        traceback.print_exception(exc, file=fh)
    output.error(f"internal error {type(exc).__name__}: {exc} (details in {log}; please report it)")
    sys.exit(EXIT_INTERNAL)
