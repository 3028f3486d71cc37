"""Progress bars: drawn on a terminal (a real pseudo-terminal here), never on a pipe,
with --quiet or with --json; DVC's own spinners never leak."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from plugin.registry import META, Registry, random_bytes

from gitmodel.cli import progress

MiB = 1 << 20


def drain(fd: int, until: float = 0.2) -> bytes:
    """Everything readable on FD until it has been quiet for `until` seconds (or it closed)."""
    out = b""
    while select.select([fd], [], [], until)[0]:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side of the pty closed
            break
        if not chunk:
            break
        out += chunk
    return out


def test_a_bar_on_a_terminal_shows_bytes_rate_and_eta(monkeypatch: pytest.MonkeyPatch) -> None:
    master, slave = pty.openpty()
    with os.fdopen(slave, "w") as tty:
        monkeypatch.setattr(sys, "stderr", tty)
        with progress.bar("hashing m.gguf") as tick:
            assert tick is not None
            for done in range(0, 65 * MiB, 16 * MiB):
                tick(min(done, 64 * MiB), 64 * MiB)
                tty.flush()
                time.sleep(0.12)  # past tqdm's refresh interval: each step is drawn
        tty.flush()
        shown = drain(master).decode()
    os.close(master)
    assert "hashing m.gguf" in shown
    assert re.search(r"\d+\.?\d*M/64\.0MB", shown) or re.search(r"\d+\.?\d*MB?/64\.0MB?", shown), shown
    assert re.search(r"\d+\.?\d*MB/s", shown), shown  # a rate
    assert re.search(r"<\d\d:\d\d", shown), shown  # an ETA


def test_no_bar_on_a_pipe_with_quiet_or_with_json(monkeypatch: pytest.MonkeyPatch) -> None:
    read, write = os.pipe()
    with os.fdopen(write, "w") as pipe:
        monkeypatch.setattr(sys, "stderr", pipe)
        with progress.bar("hashing") as tick:
            assert tick is None
    assert os.read(read, 100) == b""
    os.close(read)
    master, slave = pty.openpty()
    with os.fdopen(slave, "w") as tty:
        monkeypatch.setattr(sys, "stderr", tty)
        for flags in ({"quiet": True}, {"as_json": True}):
            with progress.bar("hashing", **flags) as tick:  # type: ignore[arg-type]
                assert tick is None
        assert drain(master, 0.05) == b""
    os.close(master)


def run_in(root: Path, args: list[str], terminal: bool) -> tuple[int, str]:
    """`python -m gitmodel ARGS` with stdout and stderr on a pty (or on pipes): exit code, output."""
    cmd = [sys.executable, "-m", "gitmodel", *args]
    if not terminal:
        proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=60)
        return proc.returncode, proc.stdout + proc.stderr
    master, slave = pty.openpty()
    child = subprocess.Popen(cmd, cwd=root, stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 60
    while child.poll() is None and time.monotonic() < deadline:
        out += drain(master, 0.1)
    out += drain(master, 0.1)
    os.close(master)
    return child.wait(timeout=5), out.decode(errors="replace")


@pytest.mark.slow
def test_register_draws_hashing_progress_on_a_terminal_only(registry: Registry) -> None:
    meta = registry.meta(META)
    registry.write("m.gguf", random_bytes(8 * MiB, 1))
    code, shown = run_in(registry.root, ["register", "support", "m.gguf", "--meta", str(meta)], terminal=True)
    assert code == 0, shown
    assert "hashing m.gguf" in shown and "registered support v1.0.0" in shown
    assert "Checking graph" not in shown and "Collecting stages" not in shown  # DVC's spinners

    registry.write("n.gguf", random_bytes(8 * MiB, 2))
    code, shown = run_in(registry.root, ["register", "support", "n.gguf"], terminal=False)
    assert code == 0, shown
    assert "registered support v1.0.1" in shown or "registered support v1.1.0" in shown, shown
    assert "hashing" not in shown and "\r" not in shown and "\x1b" not in shown

    registry.write("o.gguf", random_bytes(8 * MiB, 3))
    code, shown = run_in(registry.root, ["register", "support", "o.gguf", "--quiet"], terminal=True)
    assert code == 0, shown
    assert "hashing" not in shown and "registered support" in shown
