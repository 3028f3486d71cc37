"""gitmodel.yaml's `retention:` and `drill:` sections, typed (read by config.py, used by gc and drill).

    retention:
      cold_remote: cold          # a DVC remote in .dvc/config: where gc archives bytes
      hot_remote: storage        # the remote gc removes them from (default: DVC's default)
      rollback_window: 3         # the last N versions each environment served stay hot
      min_retention_days: 90     # no version younger than this is archived
      statuses:                  # per status: when a version becomes archivable
        development: {max_versions: 10, max_age_days: 180}
        deprecated: {max_age_days: 30, min_retention_days: 90}
    drill:
      limit_seconds: 60          # a drill leg slower than this fails (exit 1)

A version is archivable when a rule of its status says so (beyond the newest
`max_versions` of that status, or older than `max_age_days`) and nothing protects it.
Served statuses (staging, production) take no rules: a pointer protects them anyway.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from gitmodel import validate as v

RULED = ("development", "candidate", "deprecated")  # the statuses a cleanup rule may name
_RULE_KEYS = ("max_versions", "max_age_days", "min_retention_days")
_KEYS = ("cold_remote", "hot_remote", "rollback_window", "min_retention_days", "statuses")
_REMOTE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # a DVC remote's name, not a URL
DEFAULT_MIN_DAYS = 90.0
DEFAULT_WINDOW = 3
DEFAULT_DRILL_LIMIT = 60.0


@dataclass(frozen=True)
class StatusRule:
    max_versions: int | None = None
    max_age_days: float | None = None
    min_retention_days: float | None = None  # None: the section's own


@dataclass(frozen=True)
class Retention:
    cold_remote: str | None = None
    hot_remote: str | None = None  # None: the registry's default DVC remote
    rollback_window: int = DEFAULT_WINDOW
    min_retention_days: float = DEFAULT_MIN_DAYS
    statuses: Mapping[str, StatusRule] = field(default_factory=dict)

    def min_days(self, status: str) -> float:
        rule = self.statuses.get(status)
        if rule is not None and rule.min_retention_days is not None:
            return rule.min_retention_days
        return self.min_retention_days


@dataclass(frozen=True)
class Drill:
    limit_seconds: float = DEFAULT_DRILL_LIMIT


def parse_retention(value: object, at: v.Field) -> Retention:
    raw = v.mapping(value, at, _KEYS, "retention setting")
    rules = {}
    for status, entry in v.table(raw.get("statuses"), at / "statuses", "statuses to rules").items():
        if status not in RULED:
            served = status in ("staging", "production")
            why = (
                "is served, so a pointer protects it and gc never archives it"
                if served
                else "is not a status a rule may name"
            )
            raise (at / "statuses" / status).error(f"{why}; set rules for {', '.join(RULED)}")
        rules[status] = _rule(entry, at / "statuses" / status)
    if "cold_remote" in raw and raw.get("cold_remote") == raw.get("hot_remote"):
        raise (at / "cold_remote").error("names the hot remote; archive to another DVC remote")
    return Retention(
        cold_remote=_remote(raw["cold_remote"], at / "cold_remote") if "cold_remote" in raw else None,
        hot_remote=_remote(raw["hot_remote"], at / "hot_remote") if "hot_remote" in raw else None,
        rollback_window=v.whole(raw.get("rollback_window", DEFAULT_WINDOW), at / "rollback_window", 1),
        min_retention_days=v.non_negative(
            raw.get("min_retention_days", DEFAULT_MIN_DAYS), at / "min_retention_days"
        ),
        statuses=rules,
    )


def _rule(value: object, at: v.Field) -> StatusRule:
    raw = v.mapping(value, at, _RULE_KEYS, "cleanup rule")
    if not raw:
        raise at.error("names no rule; give max_versions, max_age_days or both")
    return StatusRule(
        max_versions=v.whole(raw["max_versions"], at / "max_versions") if "max_versions" in raw else None,
        max_age_days=v.non_negative(raw["max_age_days"], at / "max_age_days")
        if "max_age_days" in raw
        else None,
        min_retention_days=(
            v.non_negative(raw["min_retention_days"], at / "min_retention_days")
            if "min_retention_days" in raw
            else None
        ),
    )


def _remote(value: object, at: v.Field) -> str:
    if isinstance(value, str) and _REMOTE.match(value):
        return value
    raise at.error(f"must name a DVC remote of .dvc/config (`dvc remote add cold URL`), not {value!r}")


def parse_drill(value: object, at: v.Field) -> Drill:
    raw = v.mapping(value, at, ("limit_seconds",), "drill setting")
    limit = v.positive(raw.get("limit_seconds", DEFAULT_DRILL_LIMIT), at / "limit_seconds")
    return Drill(limit_seconds=limit)
