"""A version's lifecycle status, derived from the tags (and the lifecycle records).

    archived     its bytes were moved to cold storage by `gitmodel gc` (not restored since)
    deprecated   deregistered (`gitmodel deprecate`), or its scheduled date has passed
    production   the last environment of gitmodel.yaml serves it
    candidate    a canary runs it, or it has been in an earlier environment, is newer
                 than what the last one serves and waits to be promoted there
    staging      another environment serves it
    development  registered, in no environment (never promoted, or replaced since)

First match wins, in that order: an archived version is archived whatever else holds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from gitmodel.lifecycle.events import Lifecycle
from gitmodel.refs import Action, Version
from gitmodel.registry import ModelState

STATUSES = ("development", "staging", "candidate", "production", "deprecated", "archived")
CANARY_SUFFIX = "-canary"


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def statuses(
    state: ModelState,
    envs: Sequence[str],
    life: Lifecycle,
    day: dt.date,
    only: Sequence[Version] | None = None,
) -> dict[Version, str]:
    """Status of each version of `state` (or of `only`): stages are read once per model."""
    final = envs[-1] if envs else "production"
    stages = state.stages()
    serving: dict[Version, set[str]] = {}
    for stage, v in stages.items():
        if v is not None:
            serving.setdefault(v, set()).add(stage)
    wanted = state.versions if only is None else only
    been = _been(state, wanted)
    top = stages.get(final)
    out = {}
    for v in wanted:
        out[v] = _one(v, state, life, day, final, serving.get(v, set()), been.get(v, set()), top)
    return out


def _been(state: ModelState, wanted: Iterable[Version]) -> dict[Version, set[str]]:
    """The stages each of `wanted` was ever assigned (it may have left them since).

    An assignment names `v` when it is no unassignment and its commit is `v`'s and holds
    no other version (`ModelState.assignment_version`): comparing commits answers that
    without resolving every assignment (`list` asks for one version per model).
    """
    commits: dict[str, Version] = {}
    for v in wanted:
        reg = state.versions.get(v)
        if reg is not None and state.version_at(reg.commit) == v:
            commits[reg.commit] = v
    been: dict[Version, set[str]] = {}
    if commits:
        for e in state.assignments:
            named = commits.get(e.commit)
            if named is not None and e.ref.action is not Action.UNASSIGN:
                been.setdefault(named, set()).add(str(e.ref.stage))
    return been


def moves(state: ModelState) -> list[tuple[str, Version | None]]:
    """(stage, version) of every assignment in `#N` order, each resolved once (None: an
    unassignment, or a commit holding no single version)."""
    return [(str(e.ref.stage), state.assignment_version(e)) for e in state.assignments]


def _one(
    v: Version,
    state: ModelState,
    life: Lifecycle,
    day: dt.date,
    final: str,
    serving: set[str],
    been: set[str],
    top: Version | None,
) -> str:
    if v in life.archived:
        return "archived"
    if v in state.deprecated_versions or life.due(v, day):
        return "deprecated"
    if final in serving:
        return "production"
    if any(s.endswith(CANARY_SUFFIX) for s in serving):
        return "candidate"
    if serving:
        return "staging"
    if been and final not in been and (top is None or v > top):
        return "candidate"
    return "development"


def model_fields(state: ModelState, envs: Sequence[str], life: Lifecycle, day: dt.date) -> dict[str, object]:
    """What `list` adds per model: the latest version's status, scheduled deprecations
    (with whether they are due) and the last drill of each environment."""
    latest = state.latest()
    drills: dict[str, object] = {}
    for e in life.drills:  # in order: the last of each environment wins
        env = e.record.get("env")
        if isinstance(env, str):
            drills[env] = {
                "time": dt.datetime.fromtimestamp(e.time, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "passed": e.record.get("passed"),
                "seconds": e.record.get("seconds"),
            }
    return {
        "status": statuses(state, envs, life, day, [latest])[latest] if latest else None,
        "deprecations": [
            {"version": str(v), "on": on, "due": life.due(v, day)}
            for v, on in sorted(life.deprecations.items())
        ],
        "drills": drills,
    }


def in_namespace(model: str, namespace: str | None) -> bool:
    return namespace is None or model.startswith(namespace + ":")
