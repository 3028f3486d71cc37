"""A host's effective settings for one model, from three places, each overriding the last:

1. gitmodel.yaml `host:` (policy only: hot_versions, timeouts, and a reload command by
   key), then its `host.models.NAME`;
2. this host's file (localconfig.py: reload command or URL, info URL, and its own
   hot_versions and timeouts), then its `models.NAME`;
3. the command line's flags.

Commands and URLs come only from 2 and 3: a pusher cannot make a host run or call anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from gitmodel import localconfig
from gitmodel import validate as v
from gitmodel.config import HostPolicy
from gitmodel.errors import UsageError

DEFAULT_HOT = 3
DEFAULT_TIMEOUTS = {"reload": 60.0, "health": 30.0, "lock": 60.0}


@dataclass(frozen=True)
class Overrides:
    """What the command line says; None means "as the host file and gitmodel.yaml say"."""

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
    embedding_model: str | None = None  # the host file's: checked against gitmodel.yaml compatibility
    embedding_from: str = ""  # the file that declares it, for messages


def resolve(
    policy: HostPolicy,
    model: str,
    overrides: Overrides | None = None,
    local: localconfig.HostFile | None = None,
) -> HostSettings:
    local = local if local is not None else localconfig.host_file()
    out = HostSettings()
    reload_key = None
    for layer in policy.layers(model):
        out = _timeouts(out, layer.hot_versions, layer.timeouts)
        reload_key = layer.reload or reload_key
    if reload_key is not None and not any(e.reload_cmd or e.reload_url for e in local.entries(model)):
        named = "gitmodel.yaml: host.reload.command"
        line, _ = localconfig.command(reload_key, named, promoter=False, host=local)
        out = replace(out, reload_cmd=line)
    for entry in local.entries(model):
        out = _timeouts(out, entry.hot_versions, entry.timeouts)
        if entry.reload_cmd or entry.reload_url:
            out = replace(out, reload_cmd=entry.reload_cmd, reload_url=entry.reload_url)
        if entry.info_url:
            out = replace(out, info_url=entry.info_url)
        if entry.embedding_model:
            out = replace(out, embedding_model=entry.embedding_model, embedding_from=str(local.path))
    return _flags(out, overrides or Overrides())


def _timeouts(out: HostSettings, hot: int | None, timeouts: Mapping[str, float]) -> HostSettings:
    if hot is not None:
        out = replace(out, hot_versions=hot)
    return replace(
        out,
        reload_timeout=timeouts.get("reload", out.reload_timeout),
        health_timeout=timeouts.get("health", out.health_timeout),
        lock_timeout=timeouts.get("lock", out.lock_timeout),
    )


def _flags(out: HostSettings, o: Overrides) -> HostSettings:
    if o.reload_url and o.reload_cmd:
        raise UsageError("give --reload-url or --reload-cmd, not both")
    if o.reload_url:
        out = replace(out, reload_url=v.url(o.reload_url, v.Field("--reload-url")), reload_cmd=None)
    if o.reload_cmd:
        out = replace(out, reload_cmd=v.text(o.reload_cmd, v.Field("--reload-cmd")), reload_url=None)
    if o.info_url:
        out = replace(out, info_url=v.url(o.info_url, v.Field("--info-url")))
    if o.lock_timeout is not None:
        out = replace(out, lock_timeout=v.seconds(o.lock_timeout, v.Field("--lock-timeout")))
    if o.health_timeout is not None:
        out = replace(out, health_timeout=v.seconds(o.health_timeout, v.Field("--health-timeout")))
    return out
