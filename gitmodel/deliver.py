"""Handing one JSON document to a webhook or a local command: alerts and move notifications.

Both targets come from this machine's configuration only (localconfig.py), never from
the repo, so nothing a pusher writes chooses a URL or a command line; what the repo
contributes (reasons, descriptions, changelogs) travels only inside the JSON body:

* a webhook gets it POSTed through gitmodel/http.py (deadline, no proxies, bounded
  answer); the request's headers are fixed there;
* a command line runs through the shell with the document on stdin, in its own
  process group, killed with its children at the timeout; its environment gains one
  marker variable (`GITMODEL_ALERT=1`, `GITMODEL_NOTIFY=1`) and nothing from the repo.

Neither raises: each answers a `Sent` with one line saying how it went.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess  # noqa: TID251 - this module is the one door to alert and notification commands
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitmodel import http


@dataclass(frozen=True)
class Sent:
    ok: bool
    said: str  # "webhook URL: HTTP 200", "command KEY failed: exit 3 (last stderr line)"


def webhook(url: str, payload: Mapping[str, Any], timeout: float) -> Sent:
    where = http.shown(url)
    try:
        answer = http.post(url, dict(payload), timeout=timeout, limit=64 << 10)
    except (http.Unreachable, http.BadURL, http.TooLarge) as exc:
        return Sent(False, f"webhook {where} failed: {exc}")
    if not answer.ok:
        return Sent(False, f"webhook {where} failed: HTTP {answer.status}")
    return Sent(True, f"webhook {where}: HTTP {answer.status}")


def command(key: str, line: str, payload: Mapping[str, Any], timeout: float, marker: str) -> Sent:
    """Run LINE (the local file's, for KEY) with PAYLOAD as JSON on stdin and MARKER=1 set."""
    data = json.dumps(payload, sort_keys=True).encode()
    try:
        proc = subprocess.Popen(
            line,
            shell=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own group: a timeout kills what it started too
            env={**os.environ, marker: "1"},
        )
    except OSError as exc:
        return Sent(False, f"command {key} failed to start: {exc.strerror}")
    try:
        _, err = proc.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return Sent(False, f"command {key} killed after {timeout:g}s")
    except BrokenPipeError:  # it exited without reading its stdin: its exit status says how it went
        err = proc.stderr.read() if proc.stderr else b""
        proc.wait()
    if proc.returncode != 0:
        last = (err.decode("utf-8", "replace").strip().splitlines() or [""])[-1][:200]
        return Sent(False, f"command {key} failed: exit {proc.returncode}" + (f" ({last})" if last else ""))
    return Sent(True, f"command {key}: exit 0")
