"""Configuration that lives on this machine, never in the repo: what it runs, requests and trusts.

A pusher controls gitmodel.yaml, so every command a host or a promoter runs, every URL a
host calls and the host's own directory come from here (docs/security.md).

The host file: $GITMODEL_HOST_CONFIG, else /etc/gitmodel/host.yaml (`gitmodel host init`)

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
    gateway:                               # `gitmodel gateway` (all optional)
      listen: 127.0.0.1:8000
      token_file: /etc/gitmodel/gateway.token   # control endpoints need it; else loopback only
      route_header: X-Route-Key
      decision_log: /var/log/gitmodel/decisions.jsonl
      drain: 30                            # seconds for requests in flight on SIGTERM
      start_timeout: 30                    # seconds for a backend to start and confirm

`backend:` is kept as written here and judged by gitmodel/backends/config.py when the
gateway starts (this module sits below the backends and cannot import them).

The user file: $GITMODEL_CONFIG, else $XDG_CONFIG_HOME/gitmodel/config.yaml (~/.config/...)

    commands:
      eval-small: python /opt/evals/small.py --json
      page-oncall: /opt/bin/page --team ml
    alerts:                                # what `gitmodel monitor` does when a rule fires
      webhook: https://hooks.example.com/T0/B0/xyz   # POSTed the round as JSON
      command: page-oncall                 # a key of `commands:`; the round's JSON on stdin
      timeout: 10

Both files may hold `alerts:`; the user file's settings win, key by key. Both may hold
`notify:`, rules that tell a webhook or a command about moves (localnotify.py).

A key that gitmodel.yaml names (`smoke: {command: eval-small}`) is looked up in the
user file, then in the host file; a host's reload key only in the host file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitmodel import validate as v
from gitmodel.errors import UsageError
from gitmodel.localnotify import Notify
from gitmodel.localnotify import parse as parse_notify
from gitmodel.refs import parse_model, parse_stage

HOST_ENV = "GITMODEL_HOST_CONFIG"
HOST_DEFAULT = Path("/etc/gitmodel/host.yaml")
USER_ENV = "GITMODEL_CONFIG"
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
_GATEWAY_KEYS = ("listen", "token_file", "route_header", "decision_log", "drain", "start_timeout")
_USER_KEYS = ("commands", "alerts", "notify")
_ALERT_KEYS = ("webhook", "command", "timeout")


def host_path() -> Path:
    return Path(os.environ.get(HOST_ENV) or HOST_DEFAULT)


def user_path() -> Path:
    if os.environ.get(USER_ENV):
        return Path(os.environ[USER_ENV])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "gitmodel" / "config.yaml"


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
class GatewayFile:
    """The host file's `gateway:` section; None: the flag's or the gateway's default."""

    listen: str | None = None
    token_file: Path | None = None
    route_header: str | None = None
    decision_log: Path | None = None
    drain: float | None = None
    start_timeout: float | None = None


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


@dataclass(frozen=True)
class UserFile:
    path: Path
    commands: Mapping[str, str] = field(default_factory=dict)
    alerts: Alerts = field(default_factory=Alerts)
    notify: Notify = field(default_factory=Notify)


def _alerts(value: object, at: v.Field, commands: Mapping[str, str]) -> Alerts:
    if value is None:
        return Alerts()
    raw = v.mapping(value, at, _ALERT_KEYS, "setting under alerts")
    key = None
    if raw.get("command") is not None:
        key = v.text(raw["command"], at / "command")
        if key not in commands:
            raise (at / "command").error(
                f"names {key!r}, which `commands:` in this file does not define; "
                "define it there, e.g. `commands: {page-oncall: CMD}`, and name its key here"
            )
    return Alerts(
        webhook=v.url(raw["webhook"], at / "webhook") if raw.get("webhook") is not None else None,
        command=key,
        line=commands[key] if key else None,
        timeout=v.positive(raw["timeout"], at / "timeout") if "timeout" in raw else 10.0,
        source=at.source,
    )


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


_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def _gateway(value: object, at: v.Field) -> GatewayFile:
    raw = v.mapping(value, at, _GATEWAY_KEYS)
    kw: dict[str, Any] = {}
    if raw.get("listen") is not None:
        listen_address(raw["listen"], at / "listen")  # refused here, not when the gateway starts
        kw["listen"] = raw["listen"]
    for key in ("token_file", "decision_log"):
        if raw.get(key) is not None:
            kw[key] = _absolute(raw[key], at / key)
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


def _commands(value: object, at: v.Field) -> dict[str, str]:
    found = {}
    for key, command in v.table(value, at, "command names to command lines").items():
        if not v.COMMAND_KEY.match(key):
            raise (at / key).error("is not a command name; use lowercase letters, digits, '.', '_' and '-'")
        found[key] = v.text(command, at / key)
    return found


def _absolute(value: object, at: v.Field) -> Path:
    path = Path(v.text(value, at))
    if not path.is_absolute():
        raise at.error(f"must be an absolute path, not {value!r}")
    return path


def _read(path: Path) -> dict[str, Any] | None:
    from gitmodel.yamlio import load_mapping, plain

    if not path.exists():
        return None
    return dict(plain(load_mapping(path)))


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
        root=_absolute(raw["root"], at / "root") if raw.get("root") is not None else None,
        env=env,
        trust_file=_absolute(raw["trust_file"], at / "trust_file") if raw.get("trust_file") else None,
        require_signatures=v.flag(raw.get("require_signatures", False), at / "require_signatures"),
        defaults=_entry(raw, at),
        models=models,
        commands=(commands := _commands(raw.get("commands"), at / "commands")),
        gateway=_gateway(raw.get("gateway"), at / "gateway"),
        alerts=_alerts(raw.get("alerts"), at / "alerts", commands),
        notify=parse_notify(raw.get("notify"), at / "notify", commands),
    )


def host_file(path: Path | None = None) -> HostFile:
    """This host's file; an absent file is an empty one (a laptop has none)."""
    path = path or host_path()
    data = _read(path)
    return HostFile(path) if data is None else parse_host(data, path)


def user_file(path: Path | None = None) -> UserFile:
    path = path or user_path()
    data = _read(path)
    if data is None:
        return UserFile(path)
    at = v.Field(str(path))
    raw = v.mapping(data, at, _USER_KEYS)
    commands = _commands(raw.get("commands"), at / "commands")
    alerts = _alerts(raw.get("alerts"), at / "alerts", commands)
    return UserFile(path, commands, alerts, parse_notify(raw.get("notify"), at / "notify", commands))


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
