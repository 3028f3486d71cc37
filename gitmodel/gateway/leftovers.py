"""Servers a killed gateway left behind: found through its run file, stopped before a new run starts.

A gateway killed by SIGKILL (or the OOM killer) cannot stop its backends.  Linux sends each
server it started SIGTERM when it dies (backends/process.py), but a server may ignore that,
take seconds to exit, or leave children of its own, and all of them hold ports the next run
needs: it would find them "already in use".  So each run writes ROOT/.gitmodel-gateway.json
(its pid, its start time, its port and a random token) and every process it starts carries
the token in its environment (GITMODEL_GATEWAY_RUN; their children inherit it).

The next run reads the file.  When that gateway still runs (its pid, started at the same
clock tick, so not a reused pid) the new one refuses to start.  Otherwise every process
whose environment carries that run's token, started after that gateway, is stopped
(SIGTERM, then SIGKILL after GRACE seconds) before any backend starts.  A process without
the token is never touched, whatever port it holds.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import signal
import time
from pathlib import Path

from gitmodel.backends import process
from gitmodel.errors import UsageError

log = logging.getLogger("gitmodel.gateway")

# Seconds a leftover gets to exit on SIGTERM before SIGKILL.  The death signal was already
# its SIGTERM, and while it lingers nothing serves: a short grace, not the stop timeout.
GRACE = 2.0
RUN_FILE = ".gitmodel-gateway.json"  # a file, not a directory: tools count ROOT's directories as models
TOKEN_ENV = "GITMODEL_GATEWAY_RUN"


class AlreadyServing(UsageError):
    """Another gateway runs on this root."""


def started(pid: int) -> int | None:
    """PID's start time in clock ticks since boot (/proc/PID/stat field 22); None: no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # comm may hold spaces and ')': count after the last
    return int(fields[19]) if len(fields) > 19 else None


def _running(pid: int) -> bool:
    """Alive and not a zombie (a zombie holds no port and runs nothing)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def carriers(token: str, since: int) -> list[int]:
    """Processes whose environment holds TOKEN_ENV=TOKEN and that started at or after SINCE."""
    wanted = f"{TOKEN_ENV}={token}".encode()
    me = os.getpid()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:  # another user's process is unreadable, and not ours to stop anyway
            environ = Path(entry.path, "environ").read_bytes()
        except OSError:
            continue
        if wanted in environ.split(b"\0"):
            pid = int(entry.name)
            tick = started(pid)
            if tick is not None and tick >= since and _running(pid):
                found.append(pid)
    return found


def stop(pids: list[int], timeout: float) -> list[int]:
    """SIGTERM each, SIGKILL what is left after TIMEOUT; the pids that would not die (none, normally)."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while pids and time.monotonic() < deadline:
            time.sleep(process.POLL)
            pids = [p for p in pids if _running(p)]
        if not pids:
            break
    return pids


def claim(root: Path, port: int, grace: float = GRACE) -> list[int]:
    """Stop what the previous run on ROOT left, record this run, tag the servers it starts.

    Returns the pids stopped.  Raises AlreadyServing when the previous gateway still runs.
    A root this user cannot write to is logged and skipped: the death signal still holds.
    """
    path = root / RUN_FILE
    stopped: list[int] = []
    previous = _read(path)
    if previous is not None:
        pid, tick, token, was_port = previous
        if pid != os.getpid() and started(pid) == tick and _running(pid):
            raise AlreadyServing(
                f"another gitmodel gateway (pid {pid}, port {was_port}) serves {root}; "
                "stop it first, or give this one another --root"
            )
        stopped = carriers(token, tick)
        if stopped:
            log.warning(
                "stopping %d servers the previous gateway (pid %d) left running: pids %s",
                len(stopped),
                pid,
                " ".join(map(str, stopped)),
            )
            if stop(stopped, grace):
                log.warning("some would not stop; their ports may be in use")
    token = secrets.token_hex(16)
    me = {"pid": os.getpid(), "start": started(os.getpid()), "port": port, "token": token}
    tmp = path.with_name(f".{RUN_FILE}.{os.getpid()}")
    try:
        tmp.write_text(json.dumps(me) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        log.warning(
            "cannot write %s (%s): servers left by a killed gateway will not be found", path, exc.strerror
        )
        return stopped
    process.CHILD_ENV[TOKEN_ENV] = token
    return stopped


def _read(path: Path) -> tuple[int, int, str, object] | None:
    """The previous run's (pid, start, token, port); None when there is no record or it is not one."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("ignoring %s: %s", path, exc)
        return None
    if isinstance(doc, dict):
        pid, tick, token = doc.get("pid"), doc.get("start"), doc.get("token")
        if (
            type(pid) is int
            and type(tick) is int
            and isinstance(token, str)
            and len(token) == 32
            and all(c in "0123456789abcdef" for c in token)
        ):
            return pid, tick, token, doc.get("port")
    log.warning("ignoring %s: not a gateway's run record", path)
    return None
