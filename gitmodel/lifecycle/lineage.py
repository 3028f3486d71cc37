"""Lineage: a version's parent chain, and every version built on a dataset or base model.

`chain` reads one model's tags and its versions' model.yaml in one batch. `search`
answers across every model and namespace from one ref pass (`git show-ref -d`: every
tag's name and the commit it peels to, no tag object opened) and each version's
base_model and training.data_hash, which lineageindex.py keeps by commit: only versions
registered since the last search are read from git. The same refs say where each
match serves now.
"""

from __future__ import annotations

import gc
import re
from pathlib import Path
from typing import Any

from gitmodel import git, lineageindex, versioning
from gitmodel.errors import InvalidVersion, UsageError
from gitmodel.lifecycle import reads
from gitmodel.queries import iso
from gitmodel.refs import Action, Version, parse_model, parse_tags, to_tag
from gitmodel.registry import ModelState, Registry, build_models

_SPEC = re.compile(r"^(?P<name>[^@#]+)(?:@(?P<version>[^@#]+))?$")


def chain(repo: Path, spec: str) -> dict[str, Any]:
    """NAME@vX back to its first ancestor: what changed at each step, where each served."""
    m = _SPEC.match(spec)
    if not m:
        raise UsageError(f"cannot read {spec!r}: write NAME or NAME@vX.Y.Z")
    state = Registry.load_model(repo, parse_model(m["name"]))
    start = Version.parse(m["version"]) if m["version"] else state.latest()
    if start is None:
        raise UsageError(f"{state.name} has no registered version")
    state.version_event(start)
    metas = reads.metadata(repo, [(state, v) for v in state.sorted_versions()])
    served = served_intervals(state)
    now = state.stages()
    steps: list[dict[str, Any]] = []
    seen: set[Version] = set()
    version: Version | None = start
    note = None
    while version is not None:
        seen.add(version)
        meta = metas.get((state.name, version)) or {}
        parent, why = _parent(state, version, meta, seen)
        note = note or why
        level, reason = (None, "first version")
        if parent is not None:
            level, reason = versioning.change_level(metas.get((state.name, parent)) or {}, meta)
        training = meta.get("training")
        training = training if isinstance(training, dict) else {}
        steps.append(
            {
                "version": str(version),
                "parent": str(parent) if parent else None,
                "level": level,
                "change": reason,
                "description": meta.get("description"),
                "base_model": meta.get("base_model"),
                "data_hash": training.get("data_hash"),
                "created_at": meta.get("created_at"),
                "created_by": meta.get("created_by"),
                "deprecated": version in state.deprecated_versions,
                "serving": sorted(e for e, v in now.items() if v == version),
                "served": served.get(version, []),
            }
        )
        version = parent
    return {"name": state.name, "version": str(start), "chain": steps, "note": note}


def _parent(
    state: ModelState, version: Version, meta: dict[str, Any], seen: set[Version]
) -> tuple[Version | None, str | None]:
    raw = meta.get("parent_version")
    if not raw:
        return None, None
    try:
        parent = Version.parse(str(raw))
    except InvalidVersion:
        return None, f"{version} names parent {raw!r}, which is not a version; the chain stops there"
    if parent not in state.versions or parent >= version or parent in seen:
        return (
            None,
            f"{version} names parent {parent}, which is not an earlier registered version; the chain stops",
        )
    return parent, None


def served_intervals(state: ModelState) -> dict[Version, list[dict[str, Any]]]:
    """For each version, every span an environment pointed at it: from, until (None: now)."""
    out: dict[Version, list[dict[str, Any]]] = {}
    by_stage: dict[str, list[Any]] = {}
    for e in state.assignments:  # counter order
        assert e.ref.stage is not None
        by_stage.setdefault(e.ref.stage, []).append(e)
    for stage, events in sorted(by_stage.items()):
        for i, e in enumerate(events):
            v = state.assignment_version(e)
            if v is None:
                continue
            until = events[i + 1].time if i + 1 < len(events) else None
            if i > 0 and state.assignment_version(events[i - 1]) == v:
                continue  # the same version assigned again: one span
            j = i + 1
            while j < len(events) and state.assignment_version(events[j]) == v:
                j += 1
            until = events[j].time if j < len(events) else None
            out.setdefault(v, []).append(
                {"environment": stage, "from": iso(e.time), "until": iso(until) if until else None}
            )
    return out


# --- across the registry --------------------------------------------------------------


def search(
    repo: Path, data_hash: str | None = None, base_model: str | None = None, *, cached: bool = True
) -> dict[str, Any]:
    """Every version, in every model and namespace, trained on `data_hash` or built on `base_model`.

    `cached=False` reads every version's model.yaml from git instead of the index: the
    answer is the same, only slower."""
    query = _Query(data_hash, base_model)
    was_enabled = gc.isenabled()
    gc.disable()  # ~100k small tuples and no cycles (see registry.build_models): 0.5 -> 0.37 s
    try:
        return _search(repo, query, cached)
    finally:
        if was_enabled:
            gc.enable()


def _search(repo: Path, query: _Query, cached: bool) -> dict[str, Any]:
    tags = [t for t in git.peeled_tags(git.show_tags(repo)) if t.peeled is not None]  # annotated
    versions, deprecated = _registered([t for t in tags if "@" in t.name])
    specs = [reads.spec(commit, model) for model, _, commit in versions]
    facts, work = lineageindex.facts(repo, specs, cached=cached)
    found = [
        (model, version, f)
        for (model, version, _), f in zip(versions, facts, strict=True)
        if f.readable and query.match(f)
    ]
    serving = _serving(tags, {model for model, _, _ in found})
    rows = []
    for model, version, f in found:
        row: dict[str, Any] = {
            "name": model,
            "version": str(version),
            "base_model": f.base_model,
            "deprecated": (model, version) in deprecated,
            "serving": serving.get((model, version), []),
        }
        if query.hash is not None:
            row["data_hash"] = f.data_hash
        rows.append(row)
    return {
        "query": {"data_hash": query.given, "base_model": query.base},
        "versions": rows,
        "scanned": len(versions),
        "read": work.read,
        "parsed": work.parsed,
        "unreadable": sum(not f.readable for f in facts),
    }


def _registered(tags: list[git.PeeledTag]) -> tuple[list[tuple[str, Version, str]], set[tuple[str, Version]]]:
    """(model, version, commit) of every registered version, in order, and the deprecated
    (model, version)s."""
    commits: dict[tuple[str, Version], str] = {}
    deprecated: set[tuple[str, Version]] = set()
    for tag, ref in zip(tags, parse_tags([t.name for t in tags]), strict=True):
        if ref is None or ref.version is None:
            continue
        if ref.action is Action.REGISTER:
            commits[(ref.model, ref.version)] = str(tag.peeled)
        elif ref.action is Action.DEREGISTER:
            deprecated.add((ref.model, ref.version))
    return [(m, v, c) for (m, v), c in sorted(commits.items())], deprecated


class _Query:
    """One search: which versions' facts answer it."""

    def __init__(self, data_hash: str | None, base_model: str | None) -> None:
        if (data_hash is None) == (base_model is None):
            raise UsageError("give NAME@vX.Y.Z, --data-hash HASH or --base-model NAME (one of them)")
        self.given = data_hash
        self.hash = data_hash.strip().lower() if data_hash is not None else None
        self.hex = self.hash.rpartition(":")[2] if self.hash is not None else ""
        if self.hash is not None and len(self.hex) < 4:
            raise UsageError(f"--data-hash {data_hash!r} is too short; give at least 4 hex digits")
        self.base = base_model

    def match(self, facts: lineageindex.Facts) -> bool:
        if self.base is not None:
            return isinstance(facts.base_model, str) and facts.base_model == self.base
        found = facts.data_hash
        if found is None:
            return False
        # A bare hex hash matches under any algorithm prefix; no prefix matching of digits.
        return found == self.hash or (":" not in str(self.hash) and found.rpartition(":")[2] == self.hex)


def _serving(tags: list[git.PeeledTag], models: set[str]) -> dict[tuple[str, Version], list[str]]:
    """The environments each version of `models` serves in now, from the same tags (their
    commits, as peeled).

    registry.ModelState.stage_version answers, on a state built from only what it looks
    at: each stage's assignments with the highest counter (it takes the last of those)
    and the registrations at their commits (a commit holding two versions names neither).
    At 105k tags that is ~2k tags instead of all of them.
    """
    if not models:
        return {}
    wanted = {to_tag(m) for m in models}
    own = [t for t in tags if t.name.partition("#")[0].partition("@")[0] in wanted]  # model part
    refs = parse_tags([t.name for t in own])
    newest: dict[tuple[str, str], int] = {}
    for ref in refs:
        if ref is not None and ref.stage is not None:
            key = (ref.model, ref.stage)
            newest[key] = max(newest.get(key, 0), ref.counter or 0)
    moves = [
        t
        for t, ref in zip(own, refs, strict=True)
        if ref is not None and ref.stage is not None and (ref.counter or 0) == newest[(ref.model, ref.stage)]
    ]
    targets = {t.peeled for t in moves}
    registered = [
        t
        for t, ref in zip(own, refs, strict=True)
        if ref is not None and ref.action is Action.REGISTER and t.peeled in targets
    ]
    records = [git.TagRecord(t.name, str(t.peeled), "", "", 0, "") for t in [*registered, *moves]]
    serving: dict[tuple[str, Version], list[str]] = {}
    for name, state in build_models(records).items():
        for env in sorted({e.ref.stage for e in state.assignments if e.ref.stage is not None}):
            version = state.stage_version(env)
            if version is not None:
                serving.setdefault((name, version), []).append(env)
    return serving
