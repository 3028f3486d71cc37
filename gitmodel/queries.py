"""Answers to the read commands, as plain JSON-ready data (the CLI renders them).

`list` reads tag names and the few tag objects that decide its rows (listingread.py),
`history` one model's tags; only `show` and `diff` read a file (one `git show` per
version asked for). Each imports only what it uses: `history` needs no YAML parser.
"""

from __future__ import annotations

import datetime as dt
import gc
import re
from pathlib import Path
from typing import Any

from gitmodel import git, records
from gitmodel.errors import NotARegistry, UsageError
from gitmodel.refs import Action, Version, parse_model, parse_stage
from gitmodel.registry import Event, ModelState, Registry
from gitmodel.rollout.canary_state import is_canary_stage
from gitmodel.served import unassigned

_SPEC = re.compile(r"^(?P<name>[^@#]+)(?:@(?P<version>[^@#]+)|#(?P<env>[^@#]+))?$")


def iso(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def list_models(repo: Path, namespace: str | None = None) -> dict[str, Any]:
    # The registry's ~300k objects are made with the collector off (build_models). Kept off
    # until they are freed on return, they are never scanned: the first collections after
    # them cost ~70 ms CPU at 105k tags, 8% of a listing, and find no cycle.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _list_models(repo, namespace)
    finally:
        if was_enabled:
            gc.enable()


def _list_models(repo: Path, namespace: str | None) -> dict[str, Any]:
    from gitmodel import listingread
    from gitmodel.lifecycle import events, status

    models = listingread.listing_models(repo)
    envs = _environments(repo)
    lives, day = events.read(repo), status.today()
    rows = []
    for name in sorted(models):
        if not status.in_namespace(name, namespace):
            continue
        m = models[name]
        latest = m.latest()
        stages = m.stages()
        rows.append(
            {
                "name": name,
                "latest": str(latest) if latest else None,
                "versions": len(m.versions),
                "deprecated": m.deprecated is not None,
                "environments": {e: _s(stages.get(e)) for e in _ordered(envs, stages)},
                **status.model_fields(m, envs, lives.get(name, events.Lifecycle()), day),
            }
        )
    return {"environments": envs, "models": rows}


def show(repo: Path, spec: str) -> dict[str, Any]:
    m = _SPEC.match(spec)
    if not m:
        raise UsageError(f"cannot read {spec!r}: write NAME, NAME@vX.Y.Z or NAME#ENV")
    state = Registry.load_model(repo, parse_model(m["name"]))
    if m["version"]:
        version = Version.parse(m["version"])
        state.version_event(version)
    elif m["env"]:
        env = parse_stage(m["env"])
        found = state.stage_version(env)
        gap = unassigned(state, env) if found is None and not is_canary_stage(env) else None
        if gap is not None:
            raise UsageError(f"{gap.describe(state.name, env)}; promote the version {env} should serve")
        if found is None:
            raise UsageError(f"{state.name} has nothing in {env}; promote a version first")
        version = found
    else:
        latest = state.latest()
        if latest is None:
            raise UsageError(f"{state.name} has no registered version")
        version = latest
    from gitmodel.lifecycle import events, status

    event = state.versions[version]
    life = events.of(repo, state.name)
    return {
        "name": state.name,
        "version": str(version),
        "tag": event.tag,
        "commit": event.commit,
        "environments": sorted(e for e, v in state.stages().items() if v == version),
        "deprecated": version in state.deprecated_versions,
        "status": status.statuses(state, _environments(repo), life, status.today(), [version])[version],
        "deprecate_on": life.deprecations.get(version),
        "metadata": read_metadata(repo, state, version),
    }


def read_metadata(repo: Path, state: ModelState, version: Version) -> dict[str, Any]:
    from gitmodel import metadata  # YAML and the schema: only the reads that open a version

    return metadata.at_version(repo, state, version) or {}


def history(repo: Path, name: str, env: str | None = None) -> dict[str, Any]:
    state = Registry.load_model(repo, parse_model(name))
    if env is not None:
        parse_stage(env)
    shown = [e for e in state.timeline() if env is None or e.ref.stage == env]
    signed: dict[str, Any] = {}
    if any(git.has_signature(e.message) for e in shown):  # unsigned: no import, no process
        from gitmodel.signing import signatures

        signed = signatures(repo, shown)
    events = [{**_event_row(state, e), "signature": signed.get(e.tag)} for e in shown]
    return {"name": state.name, "events": events}


def state_at(repo: Path, name: str, when: str) -> dict[str, Any]:
    """What each environment served at time `when` (ISO 8601; a date means its end)."""
    cutoff = parse_time(when)
    state = Registry.load_model(repo, parse_model(name))
    served: dict[str, str | None] = {}
    for e in state.assignments:  # counter order: the last one at or before the cutoff wins
        if e.time <= cutoff and e.ref.stage is not None:
            served[e.ref.stage] = _s(state.assignment_version(e))
    return {"name": state.name, "at": iso(cutoff), "environments": served}


def parse_time(text: str) -> int:
    try:
        if len(text) == 10:  # a bare date: the state at the end of that day (UTC)
            day = dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
            return int(day.timestamp()) + 86399
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"cannot read time {text!r}: use ISO 8601, e.g. 2026-11-21T14:30:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp())


def _event_row(state: ModelState, e: Event) -> dict[str, Any]:
    action = e.ref.action
    version: Any = e.version if e.version else state.assignment_version(e)
    if version is None and action is Action.UNASSIGN:  # an unassignment names no commit's version
        version = e.record.get("version")
    kind = str(e.record.get("action") or action.value)
    row: dict[str, Any] = {
        "time": iso(e.time),
        "action": kind,
        "version": _s(version),
        "environment": e.ref.stage,
        "counter": e.ref.counter,
        "actor": e.actor,
        "tag": e.tag,
        "from": _from(e),
        "reason": _description(e) if action is Action.REGISTER else e.record.get("reason"),
    }
    if "gate" in e.record:
        row["gate"] = e.record["gate"]
    if "percent" in e.record:
        row["percent"] = e.record["percent"]
    return row


def _from(e: Event) -> Any:
    """The version a move started from (a registration's parent)."""
    if e.ref.action is Action.REGISTER:
        return e.record.get("parent")
    return e.record.get("from") or e.record.get("stable")


def _description(e: Event) -> str:
    lines = [ln for ln in e.message.strip().splitlines() if ln.strip()]
    body = [ln for ln in lines[1:] if not records.is_record(ln)]
    return body[0] if body else (lines[0] if lines else "")


def diff(repo: Path, name: str, a: str, b: str) -> dict[str, Any]:
    state = Registry.load_model(repo, parse_model(name))
    va, vb = Version.parse(a), Version.parse(b)
    left = _flatten(read_metadata(repo, state, va))
    right = _flatten(read_metadata(repo, state, vb))
    rows = []
    for key in sorted(set(left) | set(right)):
        x, y = left.get(key), right.get(key)
        boring = key in ("version", "created_at", "parent_version") or key.startswith("artifact.files.")
        if boring and x == y:
            continue
        row: dict[str, Any] = {"field": key, "a": x, "b": y, "changed": x != y}
        if isinstance(x, int | float) and isinstance(y, int | float) and _number(x) and _number(y):
            row["delta"] = y - x
            row["relative"] = (y - x) / abs(x) if x else None
        rows.append(row)
    return {"name": state.name, "a": str(va), "b": str(vb), "fields": rows}


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, full + "."))
        else:
            flat[full] = value
    return flat


def _number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _s(v: Any) -> str | None:
    return str(v) if v else None


def _environments(repo: Path) -> list[str]:
    from gitmodel import config  # gitmodel.yaml's parser: `history` and `diff` need none

    try:
        return list(config.load(repo).environments)
    except NotARegistry:  # a listing still works on a repo without gitmodel.yaml
        return []


def _ordered(envs: list[str], stages: dict[str, Version | None]) -> list[str]:
    return [*envs, *sorted(s for s in stages if s not in envs)]
