"""Tell the server to reload, then ask it which version it serves.

The reload action is a shell command or an HTTP POST; the info endpoint is an HTTP
GET whose JSON `version` must equal the version just deployed.  Failures come back
as `Problem`s so the deployer can revert first and explain after.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess  # noqa: TID251 - this module is the one door to the reload command
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from gitmodel.host.settings import HostSettings

POLL = 0.1  # seconds between info requests while waiting for the new version
REQUEST_TIMEOUT = 2.0  # one info request; a slow answer is retried until the deadline
_MAX_QUOTE = 160


@dataclass(frozen=True)
class Problem:
    unreachable: bool  # True: nobody answered (exit 4); False: an answer said no (exit 1)
    detail: str


def reload(settings: HostSettings, env: Mapping[str, str]) -> Problem | None:
    return reload_answer(settings, env)[0]


def reload_answer(settings: HostSettings, env: Mapping[str, str]) -> tuple[Problem | None, dict[str, Any]]:
    """Reload; also the reload URL's JSON answer ({} for a command or a non-JSON answer).

    `gitmodel serve` says there whether it took the canary, so a refusal is known at once
    instead of after the health timeout.
    """
    if settings.reload_cmd:
        return _run_command(settings.reload_cmd, env, settings.reload_timeout), {}
    if settings.reload_url:
        return _post(settings.reload_url, settings.reload_timeout)
    return None, {}


def _run_command(command: str, env: Mapping[str, str], timeout: float) -> Problem | None:
    shown = " ".join(command.split())[:_MAX_QUOTE]
    # Its own session, so a timeout can kill the whole group (the shell and its children).
    proc = subprocess.Popen(
        command,
        shell=True,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return Problem(False, f"reload command `{shown}` did not finish within {timeout:g} s")
    if proc.returncode != 0:
        last = (err.strip().splitlines() or ["no output"])[-1][:_MAX_QUOTE]
        return Problem(False, f"reload command `{shown}` exited {proc.returncode} ({last})")
    return None


def _post(url: str, timeout: float) -> tuple[Problem | None, dict[str, Any]]:
    try:
        with _open(urllib.request.Request(url, data=b"", method="POST"), timeout) as resp:
            body = resp.read(1 << 20)
    except urllib.error.HTTPError as exc:
        why = _json_body(exc).get("error")
        detail = f": {quote(str(why))}" if why else ""
        return Problem(False, f"reload URL {url} answered HTTP {exc.code}{detail}"), {}
    except (urllib.error.URLError, OSError) as exc:
        return Problem(True, f"reload URL {url} did not answer ({_reason(exc)})"), {}
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        data = {}
    return None, data if isinstance(data, dict) else {}


def quote(text: str) -> str:
    """Someone else's words on one short line."""
    return " ".join(text.split())[:_MAX_QUOTE]


def info(url: str, timeout: float = REQUEST_TIMEOUT) -> dict[str, Any] | None:
    """The info endpoint's JSON object, or None when it does not answer with one."""
    try:
        with _open(urllib.request.Request(url), timeout) as resp:
            data = json.loads(resp.read(1 << 20))
    except urllib.error.HTTPError as exc:
        # A server with nothing loaded answers 503 with JSON: an answer, not silence.
        return _json_body(exc) or None
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _json_body(exc: urllib.error.HTTPError) -> dict[str, Any]:
    try:
        data = json.loads(exc.read(1 << 16))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def wait_for(
    url: str, version: str, timeout: float, content_hash: str | None = None
) -> tuple[Problem | None, float]:
    """Poll until `version` is served; return the problem (if any) and the seconds waited.

    When the answer carries a `content_hash` (gitmodel serve's /info does: DVC's md5) it
    must match too, so a server holding other bytes under the same name is caught.
    """
    start = time.monotonic()
    deadline = start + timeout
    last: dict[str, Any] | None = None
    while True:
        remaining = deadline - time.monotonic()
        answer = info(url, max(0.05, min(REQUEST_TIMEOUT, remaining)))
        if answer is not None:
            last = answer
            same_bytes = content_hash is None or answer.get("content_hash") in (None, content_hash)
            if answer.get("version") == version and same_bytes:
                return None, time.monotonic() - start
        if time.monotonic() + POLL > deadline:
            break
        time.sleep(POLL)
    waited = time.monotonic() - start
    if last is None:
        return Problem(True, f"info endpoint {url} did not answer within {timeout:g} s"), waited
    if last.get("version") == version:
        return Problem(
            False,
            f"info endpoint {url} reports {version} with content hash "
            f"{last.get('content_hash')}, expected {content_hash}",
        ), waited
    return Problem(
        False,
        f"info endpoint {url} still reports {last.get('version')!r} after {timeout:g} s, expected {version}",
    ), waited


def _open(request: urllib.request.Request, timeout: float) -> Any:
    # A host's proxy settings are for the outside world; never send a loopback
    # request to a proxy.
    host = urlsplit(request.full_url).hostname or ""
    handlers = [urllib.request.ProxyHandler({})] if host in ("127.0.0.1", "localhost", "::1") else []
    return urllib.request.build_opener(*handlers).open(request, timeout=timeout)


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    return str(getattr(reason, "strerror", None) or reason)
