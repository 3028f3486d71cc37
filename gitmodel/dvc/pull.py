"""DVC transfers in a watched child: a remote that stops moving bytes ends the transfer.

An idle deadline (GITMODEL_DVC_TIMEOUT, not a total one): a large model may take an hour
and still be healthy; one that moves no byte for the deadline is a hung remote (exit 4).
Downloads (pull) and uploads (push) alike.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gitmodel.errors import GitModelError, PolicyError, RemoteUnreachable, UsageError

TIMEOUT_ENV = "GITMODEL_DVC_TIMEOUT"


DEFAULT_TIMEOUT = 120.0


Moved = Callable[[int], None]  # bytes the transfer has written so far (a progress bar's "done")

SHOW_EVERY = 0.2  # seconds between reports of the bytes moved


def silence_transfers() -> None:
    # dvc_data logs failed transfers (with tracebacks) and DVC warns about missing
    # objects; we report both ourselves, in one line, so neither may reach stderr.
    for name in ("dvc", "dvc_data", "dvc_objects"):
        log = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in log.handlers):
            log.addHandler(logging.NullHandler())
    logging.getLogger("dvc_data").setLevel(logging.CRITICAL)
    logging.getLogger("dvc.data_cloud").setLevel(logging.ERROR)


def pull(
    dvc_repo: Any, hash_name: str, oids: list[str], remote: str | None, name: str, moved: Moved | None = None
) -> int:
    """Transfer `oids` into the cache in a forked child, killed once it has written no
    byte for GITMODEL_DVC_TIMEOUT seconds: a remote that accepts the connection and never
    answers must not hang a deploy or the agent.  (An idle deadline, not a total one: a
    large model may take an hour and still be healthy.)  Objects land under their names
    only when complete, so a killed child leaves at most partial files (clean_partials).
    """
    from dvc_data.hashfile.hash_info import HashInfo

    def work() -> int:
        wanted = [HashInfo(hash_name, oid) for oid in oids]
        return len(dvc_repo.cloud.pull(wanted, remote=remote).transferred)

    return watched(dvc_repo, work, remote, f"could not fetch {name} from the DVC remote", moved=moved)


def push(dvc_repo: Any, oids: list[str], remote: str | None, name: str) -> int:
    """Upload `oids` (a folder's .dir brings its files) from the cache to the remote, by
    hash (no repository index is built), under the same idle deadline as pull.  A remote
    object appears under its name only when complete: a stopped upload leaves none."""
    from dvc_data.hashfile.hash_info import HashInfo

    from gitmodel.dvc.cache import dir_manifest

    def send(batch: list[str]) -> int:
        result = dvc_repo.cloud.push([HashInfo("md5", oid) for oid in batch], remote=remote)
        if result.failed:
            raise RemoteUnreachable(f"{len(result.failed)} object(s) of {name} failed to upload")
        return len(result.transferred)

    def work() -> int:
        # A folder's files first, its .dir manifest last: a remote that has the manifest
        # has the folder (DVC's transfer does not expand a manifest it is given).
        local = dvc_repo.cache.local
        files = [
            md5
            for oid in oids
            if oid.endswith(".dir")
            for md5 in dir_manifest(Path(local.oid_to_path(oid)).read_bytes(), oid).values()
        ]
        return (send(files) if files else 0) + send(oids)

    return watched(dvc_repo, work, remote, f"could not push {name} to the DVC remote")


def watched(
    dvc_repo: Any,
    work: Callable[[], int],
    remote: str | None,
    failed: str,
    where: str | None = None,
    moved: Moved | None = None,
) -> int:
    """Run `work` in a forked child under the idle deadline; its count, or its error here.

    `where` names the remote in a stall's message (else read from `dvc_repo`'s config).
    `moved` hears, every SHOW_EVERY seconds, the bytes the child has written (what it
    downloaded: a transfer writes each byte once into the cache) where /proc says."""
    import signal
    import time

    idle = transfer_timeout()
    parent = os.getpid()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: transfer, report on the pipe, never return into the caller
        os.close(read)
        _die_with(parent)
        _mute()
        code, text = 0, ""
        try:
            text = str(work())
        except BaseException as exc:  # every failure goes to the parent
            from dvc.config import RemoteConfigError

            kind = "RemoteConfigError" if isinstance(exc, RemoteConfigError) else type(exc).__name__
            code, text = 1, f"{kind}\t{getattr(exc, 'errno', '')}\t{exc}"
        with contextlib.suppress(OSError):
            os.write(write, text[:4000].encode())
        os._exit(code)
    os.close(write)
    try:
        seen, last = -1, time.monotonic()  # without /proc: a total deadline
        shown = last
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            now, (read_, wrote) = time.monotonic(), _io(pid)
            if wrote >= 0 and read_ + wrote != seen:  # bytes moved: the remote answers
                seen, last = read_ + wrote, now
            if moved is not None and wrote >= 0 and now - shown >= SHOW_EVERY:
                moved(wrote)
                shown = now
            if now - last >= idle:
                raise _stalled(dvc_repo, remote, idle, failed, where)
            time.sleep(0.05)
        said = os.read(read, 8192).decode(errors="replace")
    except BaseException:  # the deadline, or a signal to us: the child must not outlive it
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    finally:
        os.close(read)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return int(said or 0)
    kind, number, message = ([*said.split("\t", 2), "", ""])[:3] if said else ("killed", "", "")
    if number.isdigit():
        raise OSError(int(number), message)
    if kind == "RemoteConfigError":
        from dvc.config import RemoteConfigError

        raise RemoteConfigError(message)
    if kind in _OURS:  # our own one-line errors (wire.py) pass through as they are
        raise _OURS[kind](message)
    raise RemoteUnreachable(f"{failed}: {kind}: {message}")


_OURS: dict[str, type[GitModelError]] = {"RemoteUnreachable": RemoteUnreachable, "PolicyError": PolicyError}


def _die_with(parent: int) -> None:
    """A child whose parent is killed (kill -9 of a deploy) must not transfer on alone,
    unwatched, holding the cache's transfer lock: Linux kills it with its parent."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):  # not Linux: the deadline still holds
        ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    if os.getppid() != parent:  # the parent died before that took effect
        os._exit(1)


def _mute() -> None:
    """The child's stdout and stderr go nowhere: DVC draws its own bars there on a terminal
    ("Checking cache in ...", dvc_data's, whatever the log levels say), and a --json
    document on stdout must stay whole.  It reports through the pipe alone."""
    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        os.close(null)


def transfer_timeout() -> float:
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_TIMEOUT
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise UsageError(f"{TIMEOUT_ENV}={raw!r} is not a number of seconds; set it to e.g. 120")
    return value


def _io(pid: int) -> tuple[int, int]:
    """Bytes the process has read and written through files (its downloads land in
    partial files), or -1s where /proc does not say: the deadline is then a total one."""
    try:
        with open(f"/proc/{pid}/io", encoding="ascii") as io:
            fields = dict(line.split(": ", 1) for line in io.read().splitlines() if ": " in line)
        return int(fields["rchar"]), int(fields["wchar"])
    except (OSError, KeyError, ValueError):
        return -1, -1


def _stalled(
    dvc_repo: Any, remote: str | None, idle: float, failed: str, where: str | None
) -> RemoteUnreachable:
    if where is None:
        try:
            name = remote or dvc_repo.config["core"].get("remote") or "default"
            url = dvc_repo.config["remote"].get(name, {}).get("url", "")
        except Exception:  # only for the message
            name, url = remote or "default", ""
        where = f"'{name}'" + (f" ({url})" if url else "")
    stopped = (
        "the upload was stopped (an object appears on a remote only once complete)"
        if failed.startswith("could not push")
        else "the transfer was stopped and its partial files are removed"
    )
    return RemoteUnreachable(
        f"the DVC remote {where} moved no byte within {idle:g} s; {stopped}: check the remote and "
        f"your network, or allow longer with {TIMEOUT_ENV}=SECONDS"
    )
