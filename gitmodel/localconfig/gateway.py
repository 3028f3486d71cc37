"""The host file's `gateway:` section (`gitmodel gateway`, docs/gateway.md); every key optional.

gateway:
  listen: 127.0.0.1:8000
  token_file: /etc/gitmodel/gateway.token   # control endpoints need it; else loopback only
  route_header: X-Route-Key
  decision_log: /var/log/gitmodel/decisions.jsonl
  drain: 30                            # seconds for requests in flight on SIGTERM
  start_timeout: 30                    # seconds for a backend to start and confirm
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodel import validate as v
from gitmodel.localconfig.fields import absolute

_KEYS = ("listen", "token_file", "route_header", "decision_log", "drain", "start_timeout")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")


@dataclass(frozen=True)
class GatewayFile:
    """The host file's `gateway:` section; None: the flag's or the gateway's default."""

    listen: str | None = None
    token_file: Path | None = None
    route_header: str | None = None
    decision_log: Path | None = None
    drain: float | None = None
    start_timeout: float | None = None


def parse(value: object, at: v.Field) -> GatewayFile:
    raw = v.mapping(value, at, _KEYS)
    kw: dict[str, Any] = {}
    if raw.get("listen") is not None:
        listen_address(raw["listen"], at / "listen")  # refused here, not when the gateway starts
        kw["listen"] = raw["listen"]
    for key in ("token_file", "decision_log"):
        if raw.get(key) is not None:
            kw[key] = absolute(raw[key], at / key)
    if raw.get("route_header") is not None:
        header = v.text(raw["route_header"], at / "route_header")
        if not _HEADER_NAME.match(header):
            raise (at / "route_header").error(f"must be a header name like X-Route-Key, not {header!r}")
        kw["route_header"] = header
    for key in ("drain", "start_timeout"):
        if raw.get(key) is not None:
            kw[key] = v.seconds(raw[key], at / key)
    return GatewayFile(**kw)


def listen_address(value: object, at: v.Field) -> tuple[str, int]:
    """`HOST:PORT` (`[::1]:PORT` for IPv6) -> (host, port); raises ConfigError."""
    text = v.text(value, at)
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise at.error(f"must be HOST:PORT like 127.0.0.1:8000, not {text!r}")
    return host, int(port)
