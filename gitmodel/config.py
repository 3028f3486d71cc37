"""gitmodel.yaml, the registry's configuration: the one reader, returning typed sections.

Every command, hook and host reads gitmodel.yaml through `load` (or `parse_text` for a
committed copy), so a typo anywhere is refused the same way at commit, push and use.
Each section's type lives beside the code that uses it (gate.py, smoke.py,
rollout/config.py, policy/settings.py); the host section is here, because hosts import
this module and not the other way round.

A pusher writes this file, so it holds policy only: nothing a host or promoter runs.
Commands are named by a key that local configuration defines (localconfig.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar, cast

from gitmodel import validate as v
from gitmodel.errors import NotARegistry, UnknownEnvironment
from gitmodel.gate import GateConfig
from gitmodel.refs import parse_model, parse_stage

if TYPE_CHECKING:
    from gitmodel.envbranches.settings import BranchSettings
    from gitmodel.lifecycle.settings import Drill, Retention
    from gitmodel.pointers.settings import PointerSettings
    from gitmodel.policy.settings import HookSettings
    from gitmodel.prompts import Rule
    from gitmodel.rollout.config import CanaryPolicy, RolloutConfig
    from gitmodel.smoke import SmokeConfig

T = TypeVar("T")
FILENAME = "gitmodel.yaml"
SECTIONS = (
    "environments",
    "promotion",
    "evidence",
    "gate",
    "smoke",
    "host",
    "rollout",
    "hooks",
    "retention",
    "drill",
    "pointers",
    "branches",
    "compatibility",
)
# A metadata field by its dotted path: `metrics.accuracy`, `training.data_hash`, `eval_set`.
_FIELD_PATH = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
_HOST_KEYS = ("hot_versions", "timeouts", "reload", "models")
# What hosts run or call is the host's own business; these keys say where it moved.
_HOST_LOCAL_ONLY = ("info_url", "info")

DEFAULT_TEXT = """\
# gitmodel registry configuration (https://github.com/gitmodel/gitmodel)
# Environments in promotion order.
environments:
  - staging
  - production
# Where a version must have been before it may enter an environment (optional).
promotion:
  production: [staging]
# model.yaml fields a version needs to enter an environment (no --force).
evidence:
  production: [metrics.accuracy, training.data_hash, training, eval_set]
# The gate: refuse metrics worse than the baseline's (what production serves, or the
# best of its last N) by more than the tolerance (5% relative by default).
gate:
  tolerance: 0.05
  baseline: {environment: production, best_of: 1}
  metrics: {}
# Inference hosts: versions kept on disk. What a host runs (reload) and calls (info
# URL) is set on each host (`gitmodel host init`), never here.
host:
  hot_versions: 3
"""


@dataclass(frozen=True)
class HostPolicy:
    """What gitmodel.yaml may say about hosts: policy, and a reload command by key."""

    hot_versions: int | None = None
    timeouts: Mapping[str, float] = field(default_factory=dict)
    reload: str | None = None  # a key of the host file's `commands:`
    models: Mapping[str, HostPolicy] = field(default_factory=dict)

    def layers(self, model: str) -> list[HostPolicy]:
        return [self, *([self.models[model]] if model in self.models else [])]


@dataclass(frozen=True)
class Config:
    environments: tuple[str, ...]
    promotion: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    canary: Mapping[str, CanaryPolicy] = field(default_factory=dict)  # promotion: ENV: canary:
    evidence: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    gate: GateConfig = field(default_factory=GateConfig)
    host: HostPolicy = field(default_factory=HostPolicy)
    # The optional sections gitmodel.yaml sets, parsed (_OPTIONAL); read through the
    # properties below, which give an absent section's defaults.
    sections: Mapping[str, object] = field(default_factory=dict)

    @property
    def smoke(self) -> SmokeConfig | None:
        return cast("SmokeConfig | None", self._section("smoke"))

    @property
    def rollout(self) -> RolloutConfig:
        return cast("RolloutConfig", self._section("rollout"))

    @property
    def hooks(self) -> HookSettings:
        return cast("HookSettings", self._section("hooks"))

    @property
    def retention(self) -> Retention:
        return cast("Retention", self._section("retention"))

    @property
    def drill(self) -> Drill:
        return cast("Drill", self._section("drill"))

    @property
    def pointers(self) -> PointerSettings:
        return cast("PointerSettings", self._section("pointers"))

    @property
    def branches(self) -> BranchSettings:
        return cast("BranchSettings", self._section("branches"))

    @property
    def compatibility(self) -> Mapping[str, tuple[Rule, ...]]:
        """model -> rules: versions x prompt templates x embedding models (gitmodel/prompts.py)"""
        return cast("Mapping[str, tuple[Rule, ...]]", self._section("compatibility"))

    def _section(self, name: str) -> object:
        if name in self.sections:
            return self.sections[name]
        if name not in _DEFAULTS:
            _DEFAULTS[name] = _OPTIONAL[name](None, v.Field(FILENAME, name), ())
        return _DEFAULTS[name]

    def check_env(self, env: str) -> str:
        parse_stage(env)
        if env not in self.environments:
            raise UnknownEnvironment(env, list(self.environments))
        return env

    def missing_evidence(self, env: str, meta: Mapping[str, Any]) -> list[str]:
        """The fields `evidence:` requires for `env` that `meta` lacks (or leaves empty)."""
        return [path for path in self.evidence.get(env, ()) if _absent(meta, path)]


def _absent(meta: Mapping[str, Any], path: str) -> bool:
    value: Any = meta
    for key in path.split("."):
        if not isinstance(value, Mapping) or key not in value:
            return True
        value = value[key]
    return value is None or value == "" or value == {} or value == []


# Configs already parsed, by (source, text); a handful of distinct texts per process
# (the work tree's, a pushed tip's, the defaults), so a small bound that clears.
_PARSED: dict[tuple[str, str], Config] = {}
_PARSED_MAX = 16


def load(repo: Path) -> Config:
    # Whoever pushed wrote this file: only a plain file below the checkout, at most the YAML
    # reader's limit (committed as a link to /dev/zero it made every command read until
    # memory ran out; a FIFO in its place would hang them).
    from gitmodel.untrusted import read_checkout_file
    from gitmodel.yamlio import MAX_BYTES

    data = read_checkout_file(repo, FILENAME, FILENAME, MAX_BYTES)
    if data is None:
        raise NotARegistry(f"{repo} has no {FILENAME}; run `gitmodel init` first")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise v.ConfigError(f"cannot read {repo / FILENAME}: {exc}") from None
    return parse_text(text, FILENAME)


def parse_text(text: str, source: str = FILENAME) -> Config:
    """The Config of a gitmodel.yaml text, parsed once per (source, text) in this process.

    One command reads gitmodel.yaml from several modules (a hot rollback from six, each
    parse ~6 ms). The key is the text itself, not a file's size and mtime: reading the
    file costs microseconds, and a rewrite within one mtime tick at the same size would
    pass a stat key, so a Config is never served for content other than its own.
    """
    key = (source, text)
    found = _PARSED.get(key)
    if found is not None:
        return found
    from gitmodel.yamlio import loads, plain

    data = plain(loads(text, source))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise v.ConfigError(f"{source} must hold a YAML mapping (key: value), not a {type(data).__name__}")
    parsed = parse(data, source)
    if len(_PARSED) >= _PARSED_MAX:
        _PARSED.clear()  # atomic, unlike evicting one entry while another thread reads
    _PARSED[key] = parsed
    return parsed


def forget() -> None:
    """Drop every remembered Config (tests that count parses start from none)."""
    _PARSED.clear()


def parse(data: Mapping[str, Any], source: str = FILENAME) -> Config:
    at = v.Field(source)
    raw = v.mapping(data, at, SECTIONS, "section")
    envs = tuple(parse_stage(e) for e in v.names(raw.get("environments", []), at / "environments"))
    gate = GateConfig.parse(raw.get("gate"), at / "gate")
    if gate.baseline.environment is not None and gate.baseline.environment not in envs:
        raise (at / "gate" / "baseline" / "environment").error(
            f"names {gate.baseline.environment!r}, which is not in environments"
        )
    promotion, canaries = _promotion(raw.get("promotion"), envs, at / "promotion")
    evidence = _evidence(raw.get("evidence"), envs, at / "evidence")
    host = _host(raw.get("host"), at / "host", top=True)
    # Every section present is parsed now, so a typo anywhere is refused by every command.
    sections = {
        name: parse_section(raw[name], at / name, envs)
        for name, parse_section in _OPTIONAL.items()
        if raw.get(name) is not None
    }
    return Config(
        envs, _frozen(promotion), _frozen(canaries), _frozen(evidence), gate, host, _frozen(sections)
    )


def _frozen(table: dict[str, T]) -> Mapping[str, T]:
    """A read-only view: parse_text hands one Config to every caller in the process, so a
    caller that wrote into a table would change what every later read sees."""
    return MappingProxyType(table)


def _promotion(
    value: object, envs: tuple[str, ...], at: v.Field
) -> tuple[dict[str, tuple[str, ...]], dict[str, CanaryPolicy]]:
    """`ENV: [FROM, ...]`, or `ENV: {after: [FROM, ...], canary: {...}}` (rollout/config.py)."""
    found, canaries = {}, {}
    for target, entry in v.table(value, at, "an environment to the ones it requires").items():
        sources = entry
        if isinstance(entry, Mapping):
            fields = v.mapping(entry, at / target, ("after", "canary"), "promotion setting")
            sources = fields.get("after", [])
            if fields.get("canary") is not None:
                from gitmodel.rollout.config import parse_canary

                canaries[target] = parse_canary(fields["canary"], at / target / "canary")
        required = v.names(sources, at / target)
        for env in (target, *required):
            if env not in envs:
                raise (at / target).error(f"names {env!r}, which is not in environments")
        if required or not isinstance(entry, Mapping) or "after" in entry:
            found[target] = required
    return found, canaries


def _evidence(value: object, envs: tuple[str, ...], at: v.Field) -> dict[str, tuple[str, ...]]:
    found = {}
    for env, fields in v.table(value, at, "an environment to the metadata fields it requires").items():
        if env not in envs:
            raise (at / env).error("is not in environments; require evidence for a listed one")
        paths = v.names(fields, at / env)
        for path in paths:
            if not _FIELD_PATH.match(path):
                raise (at / env).error(f"has {path!r}, not a field path such as metrics.accuracy")
        found[env] = paths
    return found


def _host(value: object, at: v.Field, top: bool) -> HostPolicy:
    if isinstance(value, Mapping):
        for key in _HOST_LOCAL_ONLY:
            if key in value:
                raise v.RepoCommand(
                    f"{at / key} is a URL hosts call, which only each host's configuration may set; "
                    f"move it to {_host_file()} on each host "
                    "(`gitmodel host init --info-url URL`) and delete it here"
                )
    raw = v.mapping(value, at, _HOST_KEYS if top else _HOST_KEYS[:3], "host setting")
    models = {}
    for key, entry in v.table(raw.get("models"), at / "models", "model names to settings").items():
        models[parse_model(key)] = _host(entry, at / "models" / key, top=False)
    return HostPolicy(
        hot_versions=v.whole(raw["hot_versions"], at / "hot_versions", 1) if "hot_versions" in raw else None,
        timeouts=_frozen(
            _timeouts(raw["timeouts"], at / "timeouts") if raw.get("timeouts") is not None else {}
        ),
        reload=_reload_key(raw["reload"], at / "reload") if raw.get("reload") is not None else None,
        models=_frozen(models),
    )


# localconfig (~6 ms of imports) only for a setting that needs it: most gitmodel.yaml
# files set neither host timeouts nor a reload key.
def _timeouts(value: object, at: v.Field) -> dict[str, float]:
    from gitmodel.localconfig import timeouts

    return timeouts(value, at)


def _host_file() -> str:
    from gitmodel.localconfig import HOST_DEFAULT

    return str(HOST_DEFAULT)


def _reload_key(value: object, at: v.Field) -> str:
    fix = (
        f"move it to {_host_file()} on each host (`gitmodel host init --reload-cmd CMD`), "
        "or name a command that file defines: reload: {command: NAME}"
    )
    if not isinstance(value, Mapping):  # the old bare-string form was a command line
        return v.command_key(value, at, fix)
    if "url" in value:
        raise v.RepoCommand(
            f"{at / 'url'} is a URL hosts call, which only each host's configuration may set; "
            f"move it to {_host_file()} on each host (`gitmodel host init --reload-url URL`)"
        )
    raw = v.mapping(value, at, ("command",))
    return v.command_key(raw.get("command"), at / "command", fix)


# The optional sections' parsers, each importing its module only when its section is
# read: that is ~20 ms of imports (smoke's subprocess, prompts' hashlib, rollout, the
# lifecycle rules) that `list` or a hook reading only `environments:` never uses.
def _smoke(value: object, at: v.Field, envs: tuple[str, ...]) -> SmokeConfig | None:
    from gitmodel.smoke import SmokeConfig

    return SmokeConfig.parse(value, at)


def _rollout(value: object, at: v.Field, envs: tuple[str, ...]) -> RolloutConfig:
    from gitmodel.rollout.config import parse

    return parse(value, at)


def _hooks(value: object, at: v.Field, envs: tuple[str, ...]) -> HookSettings:
    from gitmodel.policy.settings import parse_section

    return parse_section(value, at)


def _retention(value: object, at: v.Field, envs: tuple[str, ...]) -> Retention:
    from gitmodel.lifecycle.settings import parse_retention

    return parse_retention(value, at)


def _drill(value: object, at: v.Field, envs: tuple[str, ...]) -> Drill:
    from gitmodel.lifecycle.settings import parse_drill

    return parse_drill(value, at)


def _pointers(value: object, at: v.Field, envs: tuple[str, ...]) -> PointerSettings:
    from gitmodel.pointers.settings import parse

    return parse(value, at)


def _branches(value: object, at: v.Field, envs: tuple[str, ...]) -> BranchSettings:
    from gitmodel.envbranches.settings import parse

    return parse(value, at, envs)


def _compatibility(value: object, at: v.Field, envs: tuple[str, ...]) -> dict[str, tuple[Rule, ...]]:
    from gitmodel.prompts import parse_matrix

    return parse_matrix(value, at)


_OPTIONAL: dict[str, Callable[[object, v.Field, tuple[str, ...]], object]] = {
    "smoke": _smoke,
    "rollout": _rollout,
    "hooks": _hooks,
    "retention": _retention,
    "drill": _drill,
    "pointers": _pointers,
    "branches": _branches,
    "compatibility": _compatibility,
}
_DEFAULTS: dict[str, object] = {}  # an absent section's value, made on first use


def default() -> Config:
    return parse_text(DEFAULT_TEXT, "default config")
