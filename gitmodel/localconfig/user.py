"""The user file: $GITMODEL_CONFIG, else $XDG_CONFIG_HOME/gitmodel/config.yaml (~/.config/...).

commands:
  eval-small: python /opt/evals/small.py --json
  page-oncall: /opt/bin/page --team ml
alerts: {command: page-oncall}         # alerts.py
notify: [...]                          # localnotify.py
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gitmodel import validate as v
from gitmodel.localconfig import alerts as alerts_section
from gitmodel.localconfig.alerts import Alerts
from gitmodel.localconfig.fields import commands as parse_commands
from gitmodel.localconfig.fields import read
from gitmodel.localnotify import Notify
from gitmodel.localnotify import parse as parse_notify

USER_ENV = "GITMODEL_CONFIG"
_KEYS = ("commands", "alerts", "notify")


def user_path() -> Path:
    if os.environ.get(USER_ENV):
        return Path(os.environ[USER_ENV])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "gitmodel" / "config.yaml"


@dataclass(frozen=True)
class UserFile:
    path: Path
    commands: Mapping[str, str] = field(default_factory=dict)
    alerts: Alerts = field(default_factory=Alerts)
    notify: Notify = field(default_factory=Notify)


def user_file(path: Path | None = None) -> UserFile:
    path = path or user_path()
    data = read(path)
    if data is None:
        return UserFile(path)
    at = v.Field(str(path))
    raw = v.mapping(data, at, _KEYS)
    commands = parse_commands(raw.get("commands"), at / "commands")
    alerts = alerts_section.parse(raw.get("alerts"), at / "alerts", commands)
    return UserFile(path, commands, alerts, parse_notify(raw.get("notify"), at / "notify", commands))
