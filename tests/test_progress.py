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
from plugin import forkrun
from plugin.registry import META, Registry, random_bytes
from plugin.terminal import on_a_terminal

from gitmodel.cli import output, progress

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
    if not terminal:  # pipes: the answer is under test, not the start (forked, imports paid once)
        proc = forkrun.run("gitmodel", args, root, timeout=60)
        return proc.returncode, proc.stdout + proc.stderr
    code, out = on_a_terminal([sys.executable, "-m", "gitmodel", *args], root, timeout=60)
    return code, out.decode(errors="replace")


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


# --- tables that fit the terminal -------------------------------------------------------

REASON = "retrained on the first quarter's support tickets, with the refund answers fixed"
HEADERS = ["TIME", "ACTION", "VERSION", "ACTOR", "REASON"]
ROWS = [
    [
        "2026-11-22T01:06:36Z",
        "register",
        "v1.0.0",
        "Dana Q. Longname-Example <dana.longname@example.com>",
        "x y" * 30,
    ],
    ["2026-11-22T01:06:39Z", "rollback", "v1.1.0", "Bo <bo@example.com>", "wrong refund answers"],
]


def test_fit_shortens_identities_first_then_cuts_the_widest_text() -> None:
    width = lambda rows: max(len(line) for line in output.table(HEADERS, rows).splitlines())  # noqa: E731
    assert width(ROWS) > 150
    roomy = output.fit(HEADERS, ROWS, 200)
    assert roomy == ROWS  # it already fits: nothing changes
    fitted = output.fit(HEADERS, ROWS, 170)  # identities alone are enough
    assert [r[3] for r in fitted] == ["dana.longname@example.com", "bo@example.com"]
    assert fitted[0][4] == "x y" * 30
    narrow = output.fit(HEADERS, ROWS, 100)
    assert width(narrow) <= 100
    assert narrow[0][4].endswith("…") and narrow[1][4] == "wrong refund answers"
    assert narrow[0][:3] == ROWS[0][:3]  # times, actions and versions are never cut
    assert width(output.fit(HEADERS, ROWS, 20)) > 20  # it cannot fit: cut as far as it goes


@pytest.mark.slow
def test_history_fits_a_120_column_terminal_and_wide_shows_everything(registry: Registry) -> None:

    name, email = "Dana Q. Longname-Example of the Release Team", "dana.longname@release.example.com"
    subprocess.run(["git", "config", "user.name", name], cwd=registry.root, check=True)
    subprocess.run(["git", "config", "user.email", email], cwd=registry.root, check=True)
    registry.write("m.gguf", random_bytes(2000, 1))
    registry.ok("register", "support", "m.gguf", "--meta", str(registry.meta(META)), "-m", REASON)

    def history(*flags: str) -> list[str]:
        cmd = [sys.executable, "-m", "gitmodel", "history", "support", *flags]
        code, out = on_a_terminal(cmd, registry.root, size=(40, 120))
        assert code == 0, out
        return out.decode().splitlines()

    lines = history()
    assert all(len(line) <= 120 for line in lines), lines
    assert email in lines[1] and name not in lines[1]
    wide = history("--wide")
    assert f"{name} <{email}>" in wide[1] and REASON in wide[1]
