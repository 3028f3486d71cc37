"""gitmodel.yaml: the registry's configuration, read and written round-trip."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitmodel.errors import NotARegistry, UnknownEnvironment, UsageError
from gitmodel.refs import parse_stage
from gitmodel.yamlio import load_mapping, loads, plain

FILENAME = "gitmodel.yaml"

DEFAULT_TEXT = """\
# gitmodel registry configuration (https://github.com/gitmodel/gitmodel)
# Environments in promotion order.
environments:
  - staging
  - production
# Where a version must have been before it may enter an environment (optional).
promotion:
  production: [staging]
# The validation gate: refuse a candidate whose metrics are worse than what the
# environment serves by more than the tolerance (relative, 5% by default).
gate:
  tolerance: 0.05
  metrics: {}
# Inference hosts: versions kept on disk, reload action, health endpoint.
host:
  hot_versions: 3
"""


@dataclass
class Config:
    environments: list[str]
    promotion: dict[str, list[str]] = field(default_factory=dict)
    gate: dict[str, Any] = field(default_factory=dict)
    host: dict[str, Any] = field(default_factory=dict)

    def check_env(self, env: str) -> str:
        parse_stage(env)
        if env not in self.environments:
            raise UnknownEnvironment(env, self.environments)
        return env


def load(root: Path) -> Config:
    path = root / FILENAME
    if not path.exists():
        raise NotARegistry(f"{root} has no {FILENAME}; run `gitmodel init` first")
    return parse(plain(load_mapping(path)), FILENAME)


def parse(data: dict[str, Any], source: str) -> Config:
    envs = data.get("environments", [])
    if not isinstance(envs, list) or not all(isinstance(e, str) for e in envs):
        raise UsageError(f"{source}: environments must be a list of names")
    for env in envs:
        parse_stage(env)
    promotion = data.get("promotion") or {}
    if not isinstance(promotion, dict):
        raise UsageError(f"{source}: promotion must map an environment to the ones it requires")
    prom: dict[str, list[str]] = {}
    for target, sources in promotion.items():
        srcs = [sources] if isinstance(sources, str) else sources
        if not isinstance(srcs, list):
            raise UsageError(f"{source}: promotion.{target} must be a list of environments")
        for env in [target, *srcs]:
            if env not in envs:
                raise UsageError(f"{source}: promotion names {env!r}, which is not in environments")
        prom[target] = list(srcs)
    gate = data.get("gate") or {}
    host = data.get("host") or {}
    for key, value in (("gate", gate), ("host", host)):
        if not isinstance(value, dict):
            raise UsageError(f"{source}: {key} must be a mapping")
    return Config(list(envs), prom, gate, host)


def default() -> Config:
    return parse(plain(loads(DEFAULT_TEXT, "default config")), "default config")
