"""The host file: $GITMODEL_HOST_CONFIG, else /etc/gitmodel/host.yaml (`gitmodel host init`).

    root: /srv/models                      # default for --root
    env: production                        # the environment this root follows
    reload: {command: "systemctl reload llama-server"}   # or {url: http://127.0.0.1:8080/reload}
    info_url: http://127.0.0.1:8080/info
    embedding_model: bge-small-en-v1.5     # optional; judged by gitmodel.yaml compatibility
    hot_versions: 3                        # optional; overrides gitmodel.yaml host.hot_versions
    timeouts: {reload: 60, health: 30, lock: 60}
    trust_file: /etc/gitmodel/trust.yaml   # the keys that may move each environment
    require_signatures: true               # refuse to deploy without a usable trust file
    commands:                              # what gitmodel.yaml may name by key
      restart-llama: systemctl restart llama-server
    models:
      acme/support: {info_url: http://127.0.0.1:8081/info}
      support:                             # served through `gitmodel gateway` (docs/gateway.md)
        backend: {kind: llama-cpp, binary: /opt/llama-server, ports: [8101, 8102]}
        reload: {url: "http://127.0.0.1:8000/-/gitmodel/reload?model=support"}
        info_url: "http://127.0.0.1:8000/-/gitmodel/info?model=support"
    gateway: {listen: 127.0.0.1:8000}      # gateway.py
    alerts: {webhook: https://...}         # alerts.py
    notify: [...]                          # localnotify.py

`backend:` is kept as written here and judged by gitmodel/backends/config.py when the
gateway starts (this package sits below the backends and cannot import them).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitmodel import validate as v
from gitmodel.errors import UsageError
from gitmodel.localconfig import alerts as alerts_section
from gitmodel.localconfig import gateway as gateway_section
from gitmodel.localconfig.alerts import Alerts
from gitmodel.localconfig.fields import absolute, read
from gitmodel.localconfig.fields import commands as parse_commands
from gitmodel.localconfig.gateway import GatewayFile
from gitmodel.localnotify import Notify
from gitmodel.localnotify import parse as parse_notify
from gitmodel.refs import parse_model, parse_stage

HOST_ENV = "GITMODEL_HOST_CONFIG"
HOST_DEFAULT = Path("/etc/gitmodel/host.yaml")
TIMEOUTS = ("reload", "health", "lock")
_ENTRY_KEYS = ("reload", "info_url", "hot_versions", "timeouts", "backend", "embedding_model")
_HOST_KEYS = (
    *_ENTRY_KEYS,
    "root",
    "env",
    "commands",
    "models",
    "trust_file",
    "require_signatures",
    "gateway",
    "alerts",
    "notify",
)


def host_path() -> Path:
    return Path(os.environ.get(HOST_ENV) or HOST_DEFAULT)


@dataclass(frozen=True)
class HostEntry:
    """Settings for every model on the host, or for one (under `models:`)."""

    reload_cmd: str | None = None
    reload_url: str | None = None
    info_url: str | None = None
    hot_versions: int | None = None
    timeouts: Mapping[str, float] = field(default_factory=dict)
    backend: Mapping[str, Any] | None = None  # as written; backends/config.py judges it
    backend_at: v.Field | None = None  # where it is written, for that judgement's messages
    # the embedding model this host's serving uses: judged against gitmodel.yaml's compatibility
    embedding_model: str | None = None


@dataclass(frozen=True)
class HostFile:
    path: Path
    exists: bool = False
    root: Path | None = None
    env: str | None = None
    trust_file: Path | None = None
    require_signatures: bool = False
    defaults: HostEntry = field(default_factory=HostEntry)
    models: Mapping[str, HostEntry] = field(default_factory=dict)
    commands: Mapping[str, str] = field(default_factory=dict)
    gateway: GatewayFile = field(default_factory=GatewayFile)
    alerts: Alerts = field(default_factory=Alerts)
    notify: Notify = field(default_factory=Notify)  # who hears of moves (localnotify.py)

    def entries(self, model: str) -> list[HostEntry]:
        """The layers for MODEL, the more specific last."""
        return [self.defaults, *([self.models[model]] if model in self.models else [])]

    def backend(self, model: str) -> tuple[Mapping[str, Any], v.Field] | None:
        """MODEL's `backend:` mapping (its own, else the file's default) and where it is written."""
        for entry in reversed(self.entries(model)):
            if entry.backend is not None and entry.backend_at is not None:
                return entry.backend, entry.backend_at
        return None


def timeouts(value: object, at: v.Field) -> dict[str, float]:
    raw = v.mapping(value, at, TIMEOUTS, "timeout")
    return {key: v.seconds(seconds, at / key) for key, seconds in raw.items()}


def _entry(data: Mapping[str, Any], at: v.Field) -> HostEntry:
    kw: dict[str, Any] = {}
    if data.get("reload") is not None:
        reload = v.mapping(data["reload"], at / "reload", ("command", "url"))
        if len(reload) != 1:
            raise (at / "reload").error("must be {command: CMD} or {url: URL}")
        if "command" in reload:
            kw["reload_cmd"] = v.text(reload["command"], at / "reload" / "command")
        else:
            kw["reload_url"] = v.url(reload["url"], at / "reload" / "url")
    if data.get("info_url") is not None:
        kw["info_url"] = v.url(data["info_url"], at / "info_url")
    if data.get("hot_versions") is not None:
        kw["hot_versions"] = v.whole(data["hot_versions"], at / "hot_versions", minimum=1)
    if data.get("timeouts") is not None:
        kw["timeouts"] = timeouts(data["timeouts"], at / "timeouts")
    if data.get("embedding_model") is not None:
        kw["embedding_model"] = v.text(data["embedding_model"], at / "embedding_model")
    if data.get("backend") is not None:
        backend = data["backend"]
        if not isinstance(backend, Mapping):
            raise (at / "backend").error("must be a mapping like {kind: llama-cpp, ...} (docs/gateway.md)")
        kw["backend"], kw["backend_at"] = dict(backend), at / "backend"
    return HostEntry(**kw)


def parse_host(data: Mapping[str, Any], path: Path) -> HostFile:
    at = v.Field(str(path))
    raw = v.mapping(data, at, _HOST_KEYS)
    models = {}
    for key, value in v.table(raw.get("models"), at / "models", "model names to settings").items():
        where = at / "models" / key
        models[parse_model(key)] = _entry(v.mapping(value, where, _ENTRY_KEYS), where)
    env = raw.get("env")
    if env is not None:
        env = parse_stage(v.text(env, at / "env"))
    return HostFile(
        path=path,
        exists=True,
        root=absolute(raw["root"], at / "root") if raw.get("root") is not None else None,
        env=env,
        trust_file=absolute(raw["trust_file"], at / "trust_file") if raw.get("trust_file") else None,
        require_signatures=v.flag(raw.get("require_signatures", False), at / "require_signatures"),
        defaults=_entry(raw, at),
        models=models,
        commands=(commands := parse_commands(raw.get("commands"), at / "commands")),
        gateway=gateway_section.parse(raw.get("gateway"), at / "gateway"),
        alerts=alerts_section.parse(raw.get("alerts"), at / "alerts", commands),
        notify=parse_notify(raw.get("notify"), at / "notify", commands),
    )


def host_file(path: Path | None = None) -> HostFile:
    """This host's file; an absent file is an empty one (a laptop has none)."""
    path = path or host_path()
    data = read(path)
    return HostFile(path) if data is None else parse_host(data, path)


def host_root(flag: Path | None, env: str | None = None) -> Path:
    """--root when given, else the host file's root (refused if it follows another environment)."""
    if flag is not None:
        return flag
    host = host_file()
    if host.root is None:
        raise UsageError(
            f"give --root DIR, or set this host's root in {host.path} (`gitmodel host init --root DIR`)"
        )
    if env is not None and host.env is not None and env != host.env:
        raise UsageError(
            f"{host.root} follows {host.env} ({host.path}); converging it to {env} is refused: "
            f"give --root DIR for another directory"
        )
    return host.root


def init_host(
    path: Path,
    *,
    root: Path,
    env: str | None = None,
    reload_cmd: str | None = None,
    reload_url: str | None = None,
    info_url: str | None = None,
    commands: Mapping[str, str] | None = None,
    force: bool = False,
) -> HostFile:
    """Write this host's file (what `gitmodel host init` does); refuse to replace one without force."""
    from gitmodel.yamlio import dumps

    if reload_cmd and reload_url:
        raise UsageError("give --reload-cmd or --reload-url, not both")
    data: dict[str, Any] = {"root": str(root)}
    if env:
        data["env"] = env
    if reload_cmd or reload_url:
        data["reload"] = {"command": reload_cmd} if reload_cmd else {"url": reload_url}
    if info_url:
        data["info_url"] = info_url
    if commands:
        data["commands"] = dict(commands)
    parsed = parse_host(data, path)  # refuse before writing anything
    if path.exists() and not force:
        raise UsageError(f"{path} already exists; pass --force to replace it, or edit it")
    header = (
        "# This host's own gitmodel settings (`gitmodel host init`): what it runs, calls and\n"
        "# serves from. A pushed gitmodel.yaml can never set these (docs/security.md).\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(header + dumps(data), encoding="utf-8")
    tmp.chmod(0o644)
    os.replace(tmp, path)
    return parsed
