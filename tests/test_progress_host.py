"""Host transfers draw a progress bar (bytes, rate, ETA) on a terminal: a cold `deploy`,
a cold `rollback --root`, the agent's download; never on a pipe, with --json or --quiet,
and DVC's own output never reaches the terminal.  Real git, a real local DVC remote, the
CLI in a real pseudo-terminal (tests/test_progress.py's `run_in`)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
from plugin import forkrun
from plugin.registry import META, Registry, git, random_bytes
from plugin.terminal import on_a_terminal

from gitmodel.cli import progress

MiB = 1 << 20
SIZE = 48 * MiB  # long enough on this machine for a second draw (rate, ETA)


def run_in(cwd: Path, args: list[str], terminal: bool) -> tuple[int, str]:
    """`python -m gitmodel ARGS` with stdout and stderr on a pty (or on pipes)."""
    if not terminal:  # pipes: the answer is under test, not the start (forked, imports paid once)
        proc = forkrun.run("gitmodel", args, cwd, timeout=120)
        return proc.returncode, proc.stdout + proc.stderr
    code, out = on_a_terminal([sys.executable, "-m", "gitmodel", *args], cwd)
    return code, out.decode(errors="replace")


def a_bar(shown: str, label: str) -> None:
    assert label in shown, shown
    assert re.search(r"/48\.0M", shown), shown  # bytes of the total
    assert re.search(r"\d+\.?\d*[kMG]?B/s", shown), shown  # a rate
    assert re.search(r"<\d\d:\d\d", shown), shown  # an ETA
    for dvc_said in ("Fetching", "Transferring", "Collecting", "Checking graph", "Building workspace"):
        assert dvc_said not in shown, shown


def quiet_output(shown: str) -> None:
    assert "downloading" not in shown and "verifying" not in shown, shown
    assert "\r" not in shown.replace("\r\n", "\n"), shown
    assert "B/s" not in shown, shown


@pytest.fixture
def hostclone(registry: Registry, tmp_path: Path) -> Path:
    """support v1.0.0 then v1.1.0 (48 MiB each) in production, pushed; a host clone."""
    meta = registry.meta(META)
    for seed, version in ((1, "v1.0.0"), (2, "v1.1.0")):
        registry.write("weights.bin", random_bytes(SIZE, seed))
        registry.ok("register", "support", "weights.bin", "--version", version, "--meta", str(meta), "--push")
    for version in ("v1.0.0", "v1.1.0"):  # production served v1.0.0: a rollback may go back there
        for env in ("staging", "production"):
            registry.ok("promote", "support", version, env, "--push")
    clone = tmp_path / "host"
    git(tmp_path, "clone", "-q", str(registry.root.parent / "origin.git"), str(clone))
    return clone


@pytest.mark.slow
def test_cold_deploy_and_cold_rollback_draw_a_bar_on_a_terminal(hostclone: Path, tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    code, shown = run_in(hostclone, ["deploy", "production", "support", "--root", root], terminal=True)
    assert code == 0, shown
    a_bar(shown, "downloading support v1.1.0")
    a_bar(shown, "verifying support v1.1.0")  # then every byte's sha256, with its own bar
    assert "deployed support v1.1.0" in shown

    # v1.0.0 was never on this host: the rollback downloads it, with a bar.
    args = ["rollback", "production", "support", "--to", "v1.0.0", "--reason", "bad", "--root", root]
    code, shown = run_in(hostclone, args, terminal=True)
    assert code == 0, shown
    a_bar(shown, "downloading support v1.0.0")

    # Hot now: a rollback forward downloads nothing, so no bar.
    args = ["rollback", "production", "support", "--to", "v1.1.0", "--reason", "ok", "--root", root]
    code, shown = run_in(hostclone, args, terminal=True)
    assert code == 0, shown
    assert "downloading" not in shown and "verifying" not in shown, shown


@pytest.mark.slow
def test_no_bar_on_a_pipe_with_json_or_quiet_and_the_agent_draws_one(hostclone: Path, tmp_path: Path) -> None:
    cold = [("pipe", False, []), ("json", True, ["--json"]), ("quiet", True, ["--quiet"])]
    for name, terminal, flags in cold:
        root = str(tmp_path / f"root-{name}")
        code, shown = run_in(hostclone, ["deploy", "production", "support", "--root", root, *flags], terminal)
        assert code == 0, (name, shown)
        quiet_output(shown)
        if name == "json":
            assert shown.lstrip().startswith("{"), shown  # the document alone
    root = str(tmp_path / "root-agent")
    code, shown = run_in(hostclone, ["agent", "production", "--root", root, "--once"], terminal=True)
    assert code == 0, shown
    a_bar(shown, "downloading support v1.1.0")


def test_bars_draws_one_bar_per_label_and_closes_it_at_the_total(monkeypatch: pytest.MonkeyPatch) -> None:
    import pty

    master, slave = pty.openpty()
    with os.fdopen(slave, "w") as tty:
        monkeypatch.setattr(sys, "stderr", tty)
        with progress.bars() as tick:
            assert tick is not None
            tick("downloading a v1", 0, 10 * MiB)
            tick("downloading a v1", 10 * MiB, 10 * MiB)  # closed here, not at the block's end
            tick("downloading b v2", 10 * MiB, 10 * MiB)  # over before it was drawn: nothing
        with progress.bars(quiet=True) as none:
            assert none is None
        tty.flush()
    import select

    out = b""
    while select.select([master], [], [], 0.1)[0]:
        try:
            out += os.read(master, 65536)
        except OSError:
            break
    os.close(master)
    shown = out.decode()
    assert "downloading a v1" in shown and "downloading b v2" not in shown
