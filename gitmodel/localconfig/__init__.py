"""Configuration that lives on this machine, never in the repo: what it runs, requests and trusts.

A pusher controls gitmodel.yaml, so every command a host or a promoter runs, every URL a
host calls and the host's own directory come from here (docs/security.md). Two files:
the host file (`host.py`, with its `gateway:` section in `gateway.py`) and the user file
(`user.py`). Both may hold `commands:`, `alerts:` (`alerts.py`; the user file's settings
win, key by key) and `notify:` (localnotify.py; the rules of both apply).

A key that gitmodel.yaml names (`smoke: {command: eval-small}`) is looked up in the
user file, then in the host file; a host's reload key only in the host file (`command`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from gitmodel import validate as v
from gitmodel.localconfig.alerts import Alerts
from gitmodel.localconfig.gateway import GatewayFile, listen_address
from gitmodel.localconfig.host import (
    HOST_DEFAULT,
    HOST_ENV,
    TIMEOUTS,
    HostEntry,
    HostFile,
    host_file,
    host_path,
    host_root,
    init_host,
    parse_host,
    timeouts,
)
from gitmodel.localconfig.user import USER_ENV, UserFile, user_file, user_path
from gitmodel.localnotify import Notify

__all__ = [
    "HOST_DEFAULT",
    "HOST_ENV",
    "TIMEOUTS",
    "USER_ENV",
    "Alerts",
    "GatewayFile",
    "HostEntry",
    "HostFile",
    "UserFile",
    "alerts",
    "command",
    "host_file",
    "host_path",
    "host_root",
    "init_host",
    "listen_address",
    "notify",
    "parse_host",
    "timeouts",
    "user_file",
    "user_path",
]


def alerts() -> Alerts:
    """This machine's alert settings: the user file's over the host file's."""
    return host_file().alerts.merged(user_file().alerts)


def notify() -> Notify:
    """Who hears of moves made on this machine: the user file's rules, then the host file's."""
    return user_file().notify.merged(host_file().notify)


def command(key: str, named_at: str, *, promoter: bool, host: HostFile | None = None) -> tuple[str, str]:
    """The command line KEY stands for, and the file that defines it.

    A promoter looks in the user file, then the host file; a host only in its host file.
    """
    host = host if host is not None else host_file()
    places: list[tuple[Path, Mapping[str, str]]] = [(host.path, host.commands)]
    if promoter:
        user = user_file()
        places.insert(0, (user.path, user.commands))
    for path, commands in places:
        if key in commands:
            return commands[key], str(path)
    where = " or ".join(str(p) for p, _ in places)
    raise v.ConfigError(
        f"{named_at} names the command {key!r}, which no local configuration defines; "
        f"add `commands: {{{key}: COMMAND}}` to {where}"
    )
