"""A pause point for crash tests: stop at a named step so a test can kill -9 us there.

Set GITMODEL_TEST_PAUSE_AT=STEP (and optionally GITMODEL_TEST_PAUSE_MARKER=FILE, which
is created when the pause begins).  Steps are named in docs/host.md ("Crash safety").
Unset, this costs one dictionary lookup.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

PAUSE_AT = "GITMODEL_TEST_PAUSE_AT"
MARKER = "GITMODEL_TEST_PAUSE_MARKER"
_MAX_PAUSE = 120.0  # the test kills us long before; never hang a real run forever


def armed(step: str) -> bool:
    return os.environ.get(PAUSE_AT) == step


def pause(step: str, fsync_fd: int | None = None) -> None:
    if not armed(step):
        return
    if fsync_fd is not None:
        os.fsync(fsync_fd)  # make a half-written journal line really reach the file
    marker = os.environ.get(MARKER)
    if marker:
        Path(marker).write_text(str(os.getpid()))
    time.sleep(_MAX_PAUSE)
