"""Host settings: `host:` in gitmodel.yaml, per model under `host.models`, then CLI flags.

host:
  hot_versions: 3                    # versions kept on disk (current always kept)
  reload: {command: "systemctl reload llama-server"}   # or {url: http://.../reload}
  info_url: http://127.0.0.1:8080/info                 # JSON whose `version` must match
  timeouts: {reload: 60, health: 30, lock: 60}         # seconds
  models:
    acme/support: {info_url: http://127.0.0.1:8081/info}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from gitmodel.errors import UsageError
from gitmodel.refs import parse_model

DEFAULT_HOT = 3
DEFAULT_TIMEOUTS = {"reload": 60.0, "health": 30.0, "lock": 60.0}
_KEYS = ("hot_versions", "reload", "info_url", "info", "timeouts", "models")


@dataclass(frozen=True)
class Overrides:
    """What the command line says; None means "as gitmodel.yaml says"."""

    reload_url: str | None = None
    reload_cmd: str | None = None
    info_url: str | None = None
    lock_timeout: float | None = None
    health_timeout: float | None = None


@dataclass(frozen=True)
class HostSettings:
    hot_versions: int = DEFAULT_HOT
    reload_cmd: str | None = None
    reload_url: str | None = None
    info_url: str | None = None
    reload_timeout: float = DEFAULT_TIMEOUTS["reload"]
    health_timeout: float = DEFAULT_TIMEOUTS["health"]
    lock_timeout: float = DEFAULT_TIMEOUTS["lock"]


def resolve(host: Mapping[str, Any], model: str, overrides: Overrides | None = None) -> HostSettings:
    settings = _apply(HostSettings(), host, "host")
    models = host.get("models") or {}
    if not isinstance(models, Mapping):
        raise UsageError("gitmodel.yaml host.models must map model names to settings")
    for key, value in models.items():
        if parse_model(str(key)) == model:
            if not isinstance(value, Mapping):
                raise UsageError(f"gitmodel.yaml host.models.{key} must be a mapping of settings")
            settings = _apply(settings, value, f"host.models.{key}")
    o = overrides or Overrides()
    if o.reload_url and o.reload_cmd:
        raise UsageError("give --reload-url or --reload-cmd, not both")
    if o.reload_url or o.reload_cmd:
        settings = replace(settings, reload_url=o.reload_url, reload_cmd=o.reload_cmd)
    if o.info_url:
        settings = replace(settings, info_url=_url(o.info_url, "--info-url"))
    if o.lock_timeout is not None:
        settings = replace(settings, lock_timeout=_seconds(o.lock_timeout, "--lock-timeout"))
    if o.health_timeout is not None:
        settings = replace(settings, health_timeout=_seconds(o.health_timeout, "--health-timeout"))
    if settings.reload_url:
        _url(settings.reload_url, "the reload URL")
    return settings


def _apply(base: HostSettings, data: Mapping[str, Any], where: str) -> HostSettings:
    unknown = sorted(str(k) for k in data if k not in _KEYS)
    if unknown:
        raise UsageError(f"gitmodel.yaml {where}.{unknown[0]} is not a host setting; use {', '.join(_KEYS)}")
    out = base
    if "hot_versions" in data:
        hot = data["hot_versions"]
        if isinstance(hot, bool) or not isinstance(hot, int) or hot < 1:
            raise UsageError(f"gitmodel.yaml {where}.hot_versions must be a whole number of at least 1")
        out = replace(out, hot_versions=hot)
    if "reload" in data:
        out = _reload(out, data["reload"], f"{where}.reload")
    info = data.get("info_url", data.get("info"))
    if isinstance(info, Mapping):
        info = info.get("url")
    if info is not None:
        out = replace(out, info_url=_url(info, f"gitmodel.yaml {where}.info_url"))
    timeouts = data.get("timeouts") or {}
    if not isinstance(timeouts, Mapping):
        raise UsageError(f"gitmodel.yaml {where}.timeouts must map reload/health/lock to seconds")
    for key, value in timeouts.items():
        if key not in DEFAULT_TIMEOUTS:
            raise UsageError(f"gitmodel.yaml {where}.timeouts.{key} is unknown; use reload, health, lock")
        seconds = _seconds(value, f"gitmodel.yaml {where}.timeouts.{key}")
        if key == "reload":
            out = replace(out, reload_timeout=seconds)
        elif key == "health":
            out = replace(out, health_timeout=seconds)
        else:
            out = replace(out, lock_timeout=seconds)
    return out


def _reload(base: HostSettings, value: Any, where: str) -> HostSettings:
    if value is None:
        return replace(base, reload_cmd=None, reload_url=None)
    if isinstance(value, str):  # a bare string is a command
        value = {"command": value}
    if not isinstance(value, Mapping) or len(value) != 1 or next(iter(value)) not in ("command", "url"):
        raise UsageError(f"gitmodel.yaml {where} must be {{command: CMD}} or {{url: URL}}")
    if "command" in value:
        command = value["command"]
        if not isinstance(command, str) or not command.strip():
            raise UsageError(f"gitmodel.yaml {where}.command must be a non-empty command line")
        return replace(base, reload_cmd=command, reload_url=None)
    return replace(base, reload_url=_url(value["url"], f"gitmodel.yaml {where}.url"), reload_cmd=None)


def _url(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise UsageError(f"{where} must be an http:// or https:// URL, not {value!r}")
    return value


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise UsageError(f"{where} must be a number of seconds (0 or more)")
    return float(value)
