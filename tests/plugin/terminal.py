"""A command run on a pseudo-terminal, as a person at a terminal runs it."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
import time
from collections.abc import Mapping
from pathlib import Path


def on_a_terminal(
    argv: list[str],
    cwd: Path,
    *,
    timeout: float = 120,
    size: tuple[int, int] | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[int, bytes]:
    """Run ARGV with stdin, stdout and stderr on a pty (`size`: rows, columns): its exit
    code and every byte it wrote, read until it exits (at most `timeout` seconds)."""
    master, slave = pty.openpty()
    if size is not None:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", *size, 0, 0))
    child = subprocess.Popen(argv, cwd=cwd, stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([master], [], [], 0.1)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every writer has closed the terminal
                break
            if not chunk:
                break
            out += chunk
        elif child.poll() is not None:
            break
    os.close(master)
    return child.wait(timeout=10), out
