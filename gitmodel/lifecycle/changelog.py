"""Client changelogs: what an environment serves now against what it served before.

`build` answers as JSON-ready data; `markdown` lays that out through a template
(gitmodel.lifecycle.template). Which versions count and what changed are recomputed
from the tags' structure and the versions' metadata, never from tag records (claims):
the previous version is what the environment's assignment tags served before, the
change level is versioning's rule applied to consecutive versions' metadata, and the
rollback target is what `gitmodel rollback` itself would pick.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from gitmodel import config, versioning
from gitmodel.environments import previous_good
from gitmodel.errors import UsageError
from gitmodel.lifecycle import card, reads, status, template
from gitmodel.lifecycle.markdown import bullets, code, table, text
from gitmodel.queries import iso
from gitmodel.refs import Version, parse_model, parse_stage
from gitmodel.registry import ModelState, Registry
from gitmodel.untrusted import read_checkout_file

_SPAN = re.compile(r"^(?P<a>v[0-9.]+)\.\.(?P<b>v[0-9.]+)$")
TEMPLATE_PATH = ".gitmodel/changelog.md"


def build(
    repo: Path,
    name: str | None = None,
    span: str | None = None,
    env: str | None = None,
    namespace: str | None = None,
) -> dict[str, Any]:
    """`namespace`: a client namespace as the CLI's client_namespace gives it (`acme`)."""
    cfg = config.load(repo)
    if env is not None:
        cfg.check_env(parse_stage(env))
    target_env = env or (cfg.environments[-1] if cfg.environments else "production")
    if name is not None and namespace is not None:
        raise UsageError("give NAME or --namespace, not both")
    if span is not None and name is None:
        raise UsageError("a version range vA..vB needs NAME")
    plan: list[Served]
    if name is not None:
        state = Registry.load_model(repo, parse_model(name))
        if span is not None:
            older, newer = _span(span)
            plan = [(state, older, newer, None)]
        else:
            plan = [_served(state, target_env, required=True)]
    else:
        reg = Registry.load(repo, messages=False)
        states = [s for n, s in sorted(reg.models.items()) if status.in_namespace(n, namespace)]
        plan = [p for s in states if (p := _served(s, target_env, required=False))[2] is not None]
    wanted = {(s.name, v): (s, v) for s, a, b, _ in plan for v in _needed(s, a, b)}
    metas = reads.metadata(repo, [wanted[k] for k in sorted(wanted)])
    entries = [_entry(cfg, s, a, b, when, target_env, metas) for s, a, b, when in plan if b is not None]
    return {"environment": target_env, "namespace": namespace, "models": entries}


def _span(span: str) -> tuple[Version, Version]:
    m = _SPAN.match(span)
    if not m:
        raise UsageError(f"cannot read range {span!r}: write vA..vB, e.g. v1.0.0..v1.1.0")
    older, newer = Version.parse(m["a"]), Version.parse(m["b"])
    if older == newer:
        raise UsageError(f"{span} names one version twice; name two versions")
    return older, newer


Served = tuple[ModelState, Version | None, Version | None, int | None]


def _served(state: ModelState, env: str, *, required: bool) -> Served:
    """(state, what env served before, what it serves now, when that started)."""
    events = [(e, state.assignment_version(e)) for e in state.stage_events(env)]
    if not events or events[-1][1] is None:
        if required:
            raise UsageError(f"{state.name} has nothing in {env}; name a range vA..vB or another --env")
        return state, None, None, None
    current = events[-1][1]
    since = events[-1][0].time
    for event, version in reversed(events[:-1]):
        if version == current:
            since = event.time  # reassigned to the same version: it has served since then
            continue
        return state, version, current, since
    return state, None, current, since


def _needed(state: ModelState, older: Version | None, newer: Version | None) -> list[Version]:
    if newer is None:
        return []
    for v in (older, newer):
        if v is not None:
            state.version_event(v)  # UnknownVersion names the model and the fix
    # both ends (a rollback's newer is below the versions it takes away) and all between
    return [*([older] if older is not None else []), newer, *_between(state, older, newer)]


def _between(state: ModelState, older: Version | None, newer: Version) -> list[Version]:
    """The versions a move from `older` to `newer` brings in (or takes away, going down)."""
    if older is None:
        return [v for v in state.sorted_versions() if v <= newer]
    low, high = min(older, newer), max(older, newer)
    return [v for v in state.sorted_versions() if low < v <= high]


def _entry(
    cfg: config.Config,
    state: ModelState,
    older: Version | None,
    newer: Version,
    since: int | None,
    env: str,
    metas: dict[reads.Key, dict[str, Any] | None],
) -> dict[str, Any]:
    def meta(v: Version | None) -> dict[str, Any]:
        return (metas.get((state.name, v)) or {}) if v is not None else {}

    steps = _between(state, older, newer)
    changes: dict[str, list[dict[str, str]]] = {"major": [], "minor": [], "patch": []}
    before = [v for v in state.sorted_versions() if v < steps[0]] if steps else []
    prev: Version | None = before[-1] if before else None
    for v in steps:
        level, reason = versioning.change_level(meta(prev), meta(v)) if prev else ("major", "first version")
        changes.setdefault(level or "none", []).append({"version": str(v), "reason": reason})
        prev = v
    direction = "first" if older is None else ("upgrade" if newer > older else "rollback")
    return {
        "name": state.name,
        "environment": env if since is not None else None,
        "version": str(newer),
        "previous": str(older) if older else None,
        "direction": direction,
        "date": iso(since) if since is not None else meta(newer).get("created_at"),
        "summary": [
            {"version": str(v), "description": meta(v).get("description") or ""} for v in reversed(steps)
        ],
        "changes": changes,
        "metrics": _metrics(cfg, meta(older), meta(newer)) if older else [],
        "known_limitations": card.limitations(meta(newer)),
        "rollback": _rollback(state, env, older, newer, since is not None),
    }


def _metrics(cfg: config.Config, old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    a, b = _numbers(old.get("metrics")), _numbers(new.get("metrics"))
    rows = []
    for metric in sorted(set(a) | set(b)):
        x, y = a.get(metric), b.get(metric)
        direction = cfg.gate.rule_for(metric).direction
        row: dict[str, Any] = {"metric": metric, "previous": x, "current": y, "better": direction}
        if x is None or y is None:
            row.update(delta=None, relative=None, outcome="new" if x is None else "dropped")
        else:
            gain = (y - x) if direction == "higher" else (x - y)
            outcome = "same" if y == x else ("better" if gain > 0 else "worse")
            row.update(delta=y - x, relative=(y - x) / abs(x) if x else None, outcome=outcome)
        rows.append(row)
    return rows


def _numbers(data: Any) -> dict[str, float]:
    if not isinstance(data, dict):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def _rollback(
    state: ModelState, env: str, older: Version | None, newer: Version, serving: bool
) -> dict[str, Any]:
    cli_name = state.name.replace(":", "/")
    target = previous_good(state, env) if serving else older
    if target is None:
        nowhere = f"{env} served no earlier good version of {cli_name}: there is nothing to roll back to"
        return {"environment": env, "target": None, "command": None, "note": nowhere}
    served = {state.assignment_version(e) for e in state.stage_events(env)}
    note: str | None = None
    if not serving and target not in served:
        note = f"{env} has not served {target}: the command works once it has (a rollback only goes back)"
    command = f"gitmodel rollback {env} {cli_name} --to {target}"
    return {"environment": env, "target": str(target), "command": command, "note": note}


# --- Markdown ------------------------------------------------------------------------


def markdown(data: dict[str, Any], template_text: str | None = None, source: str = "default") -> str:
    pieces = template.parse(template_text if template_text is not None else template.DEFAULT, source)
    if not data["models"]:
        where = f" in namespace {data['namespace']}" if data["namespace"] else ""
        return f"Nothing is served in {text(data['environment'])}{where}.\n"
    sections = [template.fill(pieces, _values(entry), source) for entry in data["models"]]
    return "\n---\n\n".join(s.rstrip("\n") + "\n" for s in sections)


def read_template(repo: Path, path: Path | None) -> tuple[str | None, str]:
    """The template text and where it came from: --template, else the registry's file."""
    if path is None:  # the registry's, from the checkout: untrusted (untrusted.py)
        where = repo / TEMPLATE_PATH
        data = read_checkout_file(repo, TEMPLATE_PATH, TEMPLATE_PATH, template.MAX_TEMPLATE)
        if data is None:
            return None, "default"
        try:
            return data.decode("utf-8"), str(where)
        except UnicodeDecodeError as exc:
            raise template.TemplateError(str(where), f"cannot be read ({exc})") from None
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise template.TemplateError(str(path), f"cannot be read ({exc})") from None


def _values(e: dict[str, Any]) -> dict[str, str]:
    name, version, previous = text(e["name"]), text(e["version"]), text(e["previous"])
    where = f" ({text(e['environment'])})" if e["environment"] else ""
    if e["direction"] == "first":
        intro = f"{name} {version} is the first release{where}."
    elif e["direction"] == "rollback":
        intro = f"{name} went back from {previous} to {version}{where}."
    else:
        intro = f"{name} moves from {previous} to {version}{where}."
    if e["date"]:
        intro += f" Date: {text(e['date'])}."
    rb = e["rollback"]
    if rb["command"]:
        rollback = (
            f"If {version} misbehaves, {text(rb['environment'])} goes back to {text(rb['target'])} "
            f"with one command (a pointer move; hosts follow within seconds):\n\n    {rb['command']}"
        )
        if rb["note"]:
            rollback += f"\n\nNote: {text(rb['note'])}."
    else:
        rollback = text(rb["note"]) + "."
    return {
        "title": f"{name} {version}{where}",
        "model": name,
        "environment": text(e["environment"]),
        "version": version,
        "previous": previous,
        "date": text(e["date"]),
        "intro": intro,
        "summary": bullets(
            [f"**{text(s['version'])}**: {text(s['description'] or 'no description')}" for s in e["summary"]],
            "No versions in between.",
        ),
        "changes": _changes(e["changes"]),
        "metrics": _metric_table(e),
        "limitations": bullets([text(x) for x in e["known_limitations"]], "None recorded."),
        "rollback": rollback,
        "rollback_target": text(rb["target"]),
        "rollback_command": code(rb["command"]) if rb["command"] else "-",
    }


def _changes(changes: dict[str, list[dict[str, str]]]) -> str:
    rows = [
        [level, text(c["version"]), text(c["reason"])]
        for level in ("major", "minor", "patch", "none")
        for c in changes.get(level, [])
    ]
    return table(["Level", "Version", "Change"], rows) if rows else "No changes."


def _metric_table(e: dict[str, Any]) -> str:
    if not e["metrics"]:
        return "No earlier version to compare with." if not e["previous"] else "No metrics recorded."
    rows = []
    for m in e["metrics"]:
        change = "-"
        if m["delta"] is not None:
            change = f"{m['delta']:+.6g}" + (
                f" ({m['relative'] * 100:+.1f}%)" if m["relative"] is not None else ""
            )
        rows.append(
            [
                text(m["metric"]),
                text(m["previous"]),
                text(m["current"]),
                text(change),
                f"{m['outcome']} ({m['better']} is better)",
            ]
        )
    return table(["Metric", text(e["previous"]), text(e["version"]), "Change", "Outcome"], rows)
