"""Starting git: the one `subprocess` call site, deadlines for network calls, output helpers."""

from __future__ import annotations

import os
import signal
import subprocess  # noqa: TID251 - this package is the one door to git
from collections.abc import Mapping, Sequence
from pathlib import Path

from gitmodel.errors import GitFailed, NotARegistry, RemoteUnreachable

ZERO = "0" * 40
Done = subprocess.CompletedProcess[str]  # what a finished git call gives back


# Network calls (fetch, push, ls-remote) end after this many seconds: an origin that
# accepts the connection and never answers must not hang a deploy or the agent.
TIMEOUT_ENV = "GITMODEL_GIT_TIMEOUT"


DEFAULT_TIMEOUT = 30.0


def run(
    args: Sequence[str],
    cwd: Path | str,
    *,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    check: bool = True,
    timeout: float | None = None,
    remote: str = "origin",
) -> subprocess.CompletedProcess[str]:
    """Run git; with `timeout`, a git that has not finished by then is killed with every
    process it started (ssh, remote helpers) and RemoteUnreachable names `remote`."""
    full_env = None if env is None else {**os.environ, **env}
    if not os.path.isdir(cwd):  # a --path or --root typo: Popen would raise FileNotFoundError
        raise NotARegistry(f"{cwd} is not a directory; give the path of an existing git repository")
    # Its own process group, so that a timeout (or Ctrl-C) ends git's helpers too.
    proc = subprocess.Popen(
        ["git", *args],
        cwd=cwd,
        env=full_env,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=timeout is not None,
    )
    try:
        stdout, stderr = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise RemoteUnreachable(
            f"{remote} did not answer within {timeout:g} s (git {args[0]}); nothing was changed here: "
            f"check the remote and your network, or allow longer with {TIMEOUT_ENV}=SECONDS"
        ) from None
    except BaseException:
        _kill_group(proc)
        raise
    done = subprocess.CompletedProcess(["git", *args], proc.returncode, stdout, stderr)
    if check and done.returncode != 0:
        raise GitFailed(list(args), stderr)
    return done


def _kill_group(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.communicate()


def network_timeout() -> float:
    """Seconds a fetch, push or ls-remote may take: GITMODEL_GIT_TIMEOUT, else 30."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value != value or value == float("inf"):
        from gitmodel.errors import UsageError

        raise UsageError(f"{TIMEOUT_ENV}={raw!r} is not a number of seconds; set it to e.g. 30")
    return value


def network(args: Sequence[str], repo: Path, remote: str) -> subprocess.CompletedProcess[str]:
    return run(args, repo, check=False, timeout=network_timeout(), remote=remote)


def out(args: Sequence[str], cwd: Path | str, **kw: object) -> str:
    return run(args, cwd, **kw).stdout.strip()  # type: ignore[arg-type]


def run_bytes(args: Sequence[str], cwd: Path | str, stdin: bytes = b"") -> bytes:
    """Run git with binary stdin/stdout (blob contents need exact byte counts)."""
    proc = subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, check=False)
    if proc.returncode != 0:
        raise GitFailed(list(args), proc.stderr.decode(errors="replace"))
    return proc.stdout


def last_line(text: str) -> str:
    """git's own diagnosis: its `fatal:` line when there is one, else the last line."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    fatal = [ln for ln in lines if ln.startswith("fatal:")]
    return (fatal or lines or ["no output"])[-1 if not fatal else 0]
