"""Alert actions: where a monitoring round in which a rule fired goes, besides stdout.

Both come from this machine's configuration only (localconfig.py `alerts:`), never
from gitmodel.yaml, since a pusher must not choose the URLs a monitor posts to or the
commands it runs (gitmodel/deliver.py sends, for move notifications too):

* a webhook, POSTed the round as JSON through gitmodel/http.py (deadline, no proxies);
* a command (a key of `commands:`), run through the shell with the round's JSON on
  stdin, in its own process group, killed with its children at the timeout.

An action that fails is reported in the round's output and never stops the monitor:
the trigger's own move (an abort, a rollback) has already been made.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitmodel import deliver
from gitmodel.localconfig import Alerts


def notify(alerts: Alerts, payload: Mapping[str, Any]) -> list[str]:
    """Send `payload` to every configured action; one line per action saying how it went."""
    said = []
    if alerts.webhook:
        said.append(deliver.webhook(alerts.webhook, payload, alerts.timeout).said)
    if alerts.command and alerts.line:
        sent = deliver.command(alerts.command, alerts.line, payload, alerts.timeout, "GITMODEL_ALERT")
        said.append(sent.said)
    return said
