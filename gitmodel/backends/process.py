"""Supervised server processes: start one in its own group, see it die at once, stop it whole.

Every backend that runs a server itself (llama-cpp, llama-cpp-router, command, reference)
goes through here, so "early exit seen within ~0.1 s" and "no orphans after stop" are
one implementation.  Identity comes from the kernel, not from the server's own words:
/proc/PID/maps and /proc/PID/fd say which file a process holds, /proc/net/tcp says which
socket listens on a port, and the socket's inode says which process owns it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shlex
import signal
import subprocess  # noqa: TID251 - this module is the one door to the servers the backends run
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodel import http
from gitmodel.backends.base import BackendRefused, BackendUnreachable, VersionFiles
from gitmodel.errors import GitModelError

POLL = 0.02  # seconds between waitpid/health polls while a server starts
SLOW_POLL = 0.1  # after its first two seconds
HEALTH_TIMEOUT = 0.5  # one health request; a slow answer is asked again until the deadline
_TAIL = 8192
_MAX_LINE = 200
_LOG_PREFIX = re.compile(r"^\d+(\.\d+)+ [A-Z] ")  # llama.cpp's "0.00.014.187 E " (time, level)
_PR_SET_PDEATHSIG = 1

# Added to every spawned process's environment: the gateway puts its run's token here, so the
# next run can prove which processes a killed gateway left behind (gateway/leftovers.py).
CHILD_ENV: dict[str, str] = {}


@dataclass
class Process:
    """A server process gitmodel started, in its own process group, logging to a file."""

    popen: subprocess.Popen[bytes]
    argv: tuple[str, ...]
    log: Path
    own_log: bool  # True: a temporary log this module removes on stop

    @property
    def pid(self) -> int:
        return self.popen.pid

    def exit_code(self) -> int | None:
        """None while it runs (waitpid with WNOHANG: reaps it the moment it dies)."""
        return self.popen.poll()

    def last_line(self) -> str:
        """The most telling line at the end of its log: the first error line, else the last line.

        A server that gives up usually says why first and "exiting" last (llama-server:
        "error loading model: ... tensor 'blk.1.ffn_up.weight' not found", then
        "exiting due to model loading error").
        """
        try:
            with self.log.open("rb") as f:
                f.seek(max(0, self.log.stat().st_size - _TAIL))
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return "no output"
        lines = [_LOG_PREFIX.sub("", ln).strip() for ln in text.splitlines()]
        lines = [ln for ln in lines if ln]
        errors = [ln for ln in lines if "error" in ln.lower()]
        chosen = errors[0] if errors else (lines or ["no output"])[-1]
        return " ".join(chosen.split())[:_MAX_LINE]

    def describe_exit(self) -> str:
        code = self.exit_code()
        how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
        return f"{Path(self.argv[0]).name} (pid {self.pid}) {how}: {self.last_line()}"


def version_artifact(files: VersionFiles) -> Path:
    """The artifact's real path, inside the real directory of its own version.

    A server given `current/model.gguf` reports that path whatever version it loaded;
    given the resolved `versions/v1.2.0/model.gguf`, its path and its mapped file name
    the version.  A directory that resolves to another version's is refused.
    """
    real = Path(os.path.realpath(files.artifact))
    directory = Path(os.path.realpath(files.directory))
    if directory.name != files.version or directory not in real.parents:
        raise BackendRefused(
            f"{files.artifact} is not inside the directory of {files.version} ({directory}); "
            "give the version's own directory, never `current`"
        )
    return real


def spawn(argv: Sequence[str], log_dir: Path | None = None, env: dict[str, str] | None = None) -> Process:
    """Start ARGV in a new session (its own process group), stdout and stderr to a log file."""
    name = Path(argv[0]).name
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        fd, raw = tempfile.mkstemp(prefix=f"{name}-", suffix=".log", dir=log_dir)
    else:
        fd, raw = tempfile.mkstemp(prefix=f"gitmodel-{name}-", suffix=".log")
    try:
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: stop() reaches every child it forks
            env={**os.environ, **CHILD_ENV, **(env or {})},
            preexec_fn=_dies_with(os.getpid()),
        )
    except OSError as exc:
        os.unlink(raw)
        raise BackendRefused(f"cannot run {shlex.join(argv)[:_MAX_LINE]}: {exc.strerror}") from None
    finally:
        os.close(fd)
    return Process(popen, tuple(argv), Path(raw), own_log=log_dir is None)


@functools.cache
def _prctl() -> Any:
    """libc's prctl, resolved once in the parent (the child runs no import and no lookup)."""
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux
        return None


def _dies_with(parent: int) -> Callable[[], None] | None:
    """Run in the child between fork and exec (no shell): SIGTERM when its parent dies.

    A gateway killed by SIGKILL or the OOM killer cannot stop its servers; without this they
    would run on, holding their ports and memory, and a restarted gateway would find its
    ports in use.  The kernel signals the child when the *thread* that forked it ends: the
    gateway spawns from its event loop's worker threads, which live as long as the loop.
    What ignores SIGTERM, or outlives it as a child of the server, the next gateway run
    stops (gateway/leftovers.py).
    """
    prctl = _prctl()
    if prctl is None:
        return None
    sig = int(signal.SIGTERM)

    def pre_exec() -> None:
        prctl(_PR_SET_PDEATHSIG, sig)
        if os.getppid() != parent:  # the parent died before the death signal was set
            os._exit(1)

    return pre_exec


def wait_ready(
    proc: Process,
    ready: Callable[[], bool],
    timeout: float,
    what: str,
) -> float:
    """Poll until `ready()` or the deadline; a dead process raises at once (seconds waited).

    On any failure the process group is stopped before raising, so nothing is left running.
    """
    try:
        return _wait_ready(proc, ready, timeout, what)
    except BaseException:  # refused, timed out, interrupted: never leave the server behind
        stop(proc, 2.0)
        raise


def _wait_ready(proc: Process, ready: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.monotonic()
    deadline = start + timeout
    while True:
        if proc.exit_code() is not None:
            why = proc.describe_exit()  # before stop(), which removes a temporary log
            raise BackendRefused(f"{what} refused: {why}")
        if ready():
            return time.monotonic() - start
        if time.monotonic() > deadline:
            last = proc.last_line()
            raise BackendUnreachable(f"{what} did not answer within {timeout:g} s (last log line: {last})")
        # Most refusals come in the first second; a big model then loads for minutes.
        time.sleep(POLL if time.monotonic() - start < 2.0 else SLOW_POLL)


def serves(proc: Process, port: int, url: str) -> bool:
    """True when PROC's group owns the socket listening on PORT and URL answers 2xx there.

    Ownership first: another server already on the port would answer the health check
    for a process that is about to die of "address in use".
    """
    # The leader first: a /proc scan for the whole group only when it is not the owner.
    if port_owner(port, [proc.pid]) is None and port_owner(port, group_members(proc.pid)) is None:
        return False
    return answers(url)


def answers(url: str) -> bool:
    """True when URL answers 2xx right now."""
    try:
        return http.get(url, timeout=HEALTH_TIMEOUT).ok
    except GitModelError:  # silence, or an answer too large to be a health check
        return False


def stop(proc: Process, timeout: float) -> None:
    """SIGTERM the whole group, wait, then SIGKILL what is left; returns when the group is gone."""
    pgid = proc.pid  # start_new_session: the leader's pid is the group id
    _signal_group(pgid, signal.SIGTERM)
    if not _wait_group_gone(proc, pgid, timeout):
        _signal_group(pgid, signal.SIGKILL)
        _wait_group_gone(proc, pgid, 5.0)
    proc.popen.wait()  # reap the leader if the loop did not
    if proc.own_log:
        proc.log.unlink(missing_ok=True)


def wait_gone(proc: Process, timeout: float) -> bool:
    """Wait up to TIMEOUT for the whole group to exit by itself (after a stop command)."""
    return _wait_group_gone(proc, proc.pid, timeout)


def run(argv: Sequence[str], timeout: float) -> None:
    """Run a short command (a stop command) until it exits; raises BackendRefused on failure.

    Its output goes to a file, not a pipe, and only the command itself is waited for: a
    child it leaves holding the output open cannot hold gitmodel up (issue 11 saw a
    60 s wait for exactly that).  What it leaves in its group is then ended too.
    """
    shown = shlex.join(argv)[:_MAX_LINE]
    proc = spawn(argv)
    try:
        try:
            code = proc.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BackendRefused(f"`{shown}` did not finish within {timeout:g} s") from None
        if code != 0:
            raise BackendRefused(f"`{shown}` exited {code}: {proc.last_line()}")
    finally:
        stop(proc, 1.0)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _wait_group_gone(proc: Process, pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        proc.exit_code()  # reap the leader, or its zombie keeps the group alive
        # Zombies left for init to reap do not count: they hold nothing and run nothing.
        if not group_alive(pgid) or not group_members(pgid):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_members(pgid: int) -> list[int]:
    """Every live process whose group is PGID (zombies excluded), from /proc."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # comm may hold spaces and parentheses: the fields after the last ')' are fixed.
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def holds_file(pid: int, path: Path) -> bool:
    """True when process PID has PATH mapped (mmap) or open, as the kernel reports it."""
    target = os.path.realpath(path)
    try:
        st = os.stat(target)
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                parts = line.split(maxsplit=5)
                # address perms offset dev inode path: the inode and the path must both match
                if len(parts) == 6 and parts[5].rstrip("\n") == target and parts[4] == str(st.st_ino):
                    return True
    except OSError:
        return False
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                return True
        except OSError:
            continue
    return False


def argv_names(pid: int, path: Path) -> bool:
    """True when process PID's command line (as the kernel keeps it) has PATH as one argument."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return os.fsencode(str(path)) in args


def listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on TCP PORT (IPv4 and IPv6), from /proc/net."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rpartition(":")[2], 16) == port:
                inodes.add(cols[9])
    return inodes


def port_owner(port: int, pids: Sequence[int]) -> int | None:
    """Which of PIDS holds the socket listening on PORT (None: none of them)."""
    wanted = {f"socket:[{inode}]" for inode in listening_inodes(port)}
    if not wanted:
        return None
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                    return pid
            except OSError:
                continue
    return None


def check_alive(proc: object, pid: int | None) -> tuple[Process | None, str | None]:
    """The instance's process when it is ours and running; else None and why not (one line)."""
    if not isinstance(proc, Process):
        return None, "this backend did not start it (no supervised process)"
    if pid != proc.pid:
        return None, f"the instance names pid {pid}, but the process started for it is pid {proc.pid}"
    if proc.exit_code() is not None:
        return None, proc.describe_exit()
    return proc, None
