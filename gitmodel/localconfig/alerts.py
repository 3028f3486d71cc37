"""The `alerts:` section (either file): where `gitmodel monitor` sends a round in which a rule fired.

    alerts:
      webhook: https://hooks.example.com/T0/B0/xyz   # POSTed the round as JSON
      command: page-oncall                 # a key of `commands:` in the same file; JSON on stdin
      timeout: 10

The user file's settings win over the host file's, key by key (`Alerts.merged`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gitmodel import validate as v

_KEYS = ("webhook", "command", "timeout")


@dataclass(frozen=True)
class Alerts:
    """Where `gitmodel monitor` sends a round in which a rule fired, besides stdout."""

    webhook: str | None = None  # a URL that gets the round as a JSON POST
    command: str | None = None  # a key of `commands:`; the round's JSON on its stdin
    line: str | None = None  # the command line that key stands for in the same file
    timeout: float = 10.0
    source: str = ""  # the file(s) that set them, for messages

    def merged(self, over: Alerts) -> Alerts:
        """These settings with `over`'s given keys on top."""
        command = (over.command, over.line) if over.command else (self.command, self.line)
        return Alerts(
            over.webhook or self.webhook,
            *command,
            timeout=over.timeout if over.source else self.timeout,
            source=" and ".join(x for x in (self.source, over.source) if x),
        )


def parse(value: object, at: v.Field, commands: Mapping[str, str]) -> Alerts:
    if value is None:
        return Alerts()
    raw = v.mapping(value, at, _KEYS, "setting under alerts")
    key = None
    if raw.get("command") is not None:
        key = v.local_command(raw["command"], at / "command", commands, "page-oncall")
    return Alerts(
        webhook=v.url(raw["webhook"], at / "webhook") if raw.get("webhook") is not None else None,
        command=key,
        line=commands[key] if key else None,
        timeout=v.positive(raw["timeout"], at / "timeout") if "timeout" in raw else 10.0,
        source=at.source,
    )
