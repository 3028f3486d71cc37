"""Alert actions: where a monitoring round in which a rule fired goes, besides stdout.

Both come from this machine's configuration only (localconfig.py `alerts:`), never
from gitmodel.yaml, since a pusher must not choose the URLs a monitor posts to or the
commands it runs:

* a webhook, POSTed the round as JSON through gitmodel/http.py (deadline, no proxies);
* a command (a key of `commands:`), run through the shell with the round's JSON on
  stdin, in its own process group, killed with its children at the timeout.

An action that fails is reported in the round's output and never stops the monitor:
the trigger's own move (an abort, a rollback) has already been made.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess  # noqa: TID251 - this module is the one door to the alert command
from collections.abc import Mapping
from typing import Any

from gitmodel import http
from gitmodel.localconfig import Alerts


def notify(alerts: Alerts, payload: Mapping[str, Any]) -> list[str]:
    """Send `payload` to every configured action; one line per action saying how it went."""
    said = []
    if alerts.webhook:
        said.append(_webhook(alerts.webhook, payload, alerts.timeout))
    if alerts.command and alerts.line:
        said.append(_command(alerts.command, alerts.line, payload, alerts.timeout))
    return said


def _webhook(url: str, payload: Mapping[str, Any], timeout: float) -> str:
    where = http.shown(url)
    try:
        answer = http.post(url, dict(payload), timeout=timeout, limit=64 << 10)
    except (http.Unreachable, http.BadURL, http.TooLarge) as exc:
        return f"webhook {where} failed: {exc}"
    if not answer.ok:
        return f"webhook {where} failed: HTTP {answer.status}"
    return f"webhook {where}: HTTP {answer.status}"


def _command(key: str, line: str, payload: Mapping[str, Any], timeout: float) -> str:
    data = json.dumps(payload, sort_keys=True).encode()
    try:
        proc = subprocess.Popen(
            line,
            shell=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own group: a timeout kills what it started too
            env={**os.environ, "GITMODEL_ALERT": "1"},
        )
    except OSError as exc:
        return f"command {key} failed to start: {exc.strerror}"
    try:
        _, err = proc.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return f"command {key} killed after {timeout:g}s"
    if proc.returncode != 0:
        last = (err.decode("utf-8", "replace").strip().splitlines() or [""])[-1][:200]
        return f"command {key} failed: exit {proc.returncode}" + (f" ({last})" if last else "")
    return f"command {key}: exit 0"
