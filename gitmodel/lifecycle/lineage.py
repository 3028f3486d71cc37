"""Lineage: a version's parent chain, and every version built on a dataset or base model.

`chain` reads one model's tags and its versions' model.yaml in one batch. `search`
answers across every model and namespace from one ref pass over the registration tags
(`refs/tags/*@*`: names and peeled commits, no annotations), one `git cat-file --batch`
of every version's model.yaml, and a second ref pass over the assignment tags of the
models that matched (where each match serves now). A YAML parse costs ~5 ms, so a
version's text is parsed only when it can match: the searched hash (or each word of the
base model) must occur in it literally, which any YAML spelling of the value does
unless it uses a backslash escape (those are parsed too). Texts in the plain block form
gitmodel writes, holding the line `base_model: M` for a plain-scalar M, match without a
parse: no multi-line construct can put that line at column 0 (see `_plain_line`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from gitmodel import git, versioning
from gitmodel.errors import InvalidVersion, UsageError
from gitmodel.lifecycle import reads
from gitmodel.queries import iso
from gitmodel.refs import Version, parse_model, to_tag
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

_PATTERNS = 50  # matched models up to which their tags are read by name pattern
_SAFE_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9._/-]*")
_NOT_STRINGS = {"true", "false", "null", "yes", "no", "on", "off", "y", "n"}
# Where a node may start (a line's start, after `: ` or `- `): an indicator there opens a
# quoted, block, flow, anchored, aliased or tagged node; a backslash or tab anywhere, a
# document marker or an explicit key: any of these and the text is parsed instead.
_UNSIMPLE = re.compile(r"\\|\t|^(?:---|\.\.\.)|(?:^ *|: +|- +)[\"|>{\[&*!%?]", re.MULTILINE)


def search(repo: Path, data_hash: str | None = None, base_model: str | None = None) -> dict[str, Any]:
    """Every version, in every model and namespace, trained on `data_hash` or built on `base_model`."""
    query = _Query(data_hash, base_model)
    registrations = git.read_tags(repo, "refs/tags/*@*", messages=False)
    states = build_models(registrations)
    pairs = [(s, v) for _, s in sorted(states.items()) for v in s.sorted_versions()]
    texts = reads.texts(repo, pairs)
    found: list[tuple[ModelState, Version, dict[str, Any] | None]] = []
    parsed = unreadable = 0
    for s, v in pairs:
        t = texts[(s.name, v)]
        if t is None or not query.maybe(t):
            continue
        if query.sure(t):
            found.append((s, v, None))
            continue
        parsed += 1
        meta = reads.parse(t, f"{s.name}@{v} model.yaml")
        if meta is None:
            unreadable += 1
        elif query.match(meta):
            found.append((s, v, meta))
    matched = _stages(repo, sorted({s.name for s, _, _ in found}), registrations)
    serving = {name: state.stages() for name, state in matched.items()}  # once per model
    rows = []
    for s, v, meta in found:
        now = serving.get(s.name, {})
        row: dict[str, Any] = {
            "name": s.name,
            "version": str(v),
            "base_model": meta.get("base_model") if meta else base_model,
            "deprecated": v in s.deprecated_versions,
            "serving": sorted(e for e, x in now.items() if x == v),
        }
        if data_hash is not None:  # a base-model match may be made without reading the rest
            row["data_hash"] = _hash_of(meta)
        rows.append(row)
    return {
        "query": {"data_hash": data_hash, "base_model": base_model},
        "versions": rows,
        "scanned": len(pairs),
        "parsed": parsed,
        "unreadable": unreadable,
    }


class _Query:
    """One search: a cheap test on the text (`maybe`, `sure`), then the exact one (`match`)."""

    def __init__(self, data_hash: str | None, base_model: str | None) -> None:
        if (data_hash is None) == (base_model is None):
            raise UsageError("give NAME@vX.Y.Z, --data-hash HASH or --base-model NAME (one of them)")
        self.hash = data_hash.strip().lower() if data_hash is not None else None
        self.hex = self.hash.rpartition(":")[2] if self.hash is not None else ""
        if self.hash is not None and len(self.hex) < 4:
            raise UsageError(f"--data-hash {data_hash!r} is too short; give at least 4 hex digits")
        self.base = base_model
        self.words = [w for w in re.split(r"[\s']+", base_model or "") if w]

    def maybe(self, text: str) -> bool:
        if "\\" in text:
            return True  # an escape can spell anything: parse it
        if self.hash is not None:
            return self.hex in text.lower()
        return all(w in text for w in self.words)

    def sure(self, text: str) -> bool:
        return self.base is not None and _plain_line(text, "base_model", self.base)

    def match(self, meta: dict[str, Any]) -> bool:
        if self.base is not None:
            return meta.get("base_model") == self.base
        found = _hash_of(meta)
        if found is None:
            return False
        return found == self.hash or (":" not in str(self.hash) and found.rpartition(":")[2] == self.hex)


def _hash_of(meta: dict[str, Any] | None) -> str | None:
    training = (meta or {}).get("training")
    value = training.get("data_hash") if isinstance(training, dict) else None
    return str(value).lower() if value is not None else None


def _stages(repo: Path, models: list[str], registrations: list[git.TagRecord]) -> dict[str, ModelState]:
    """Where the matched models serve now: their assignment tags on top of the registrations
    already read (a stage's version is found by its commit)."""
    if not models:
        return {}
    if len(models) > _PATTERNS:  # git matches every ref against every pattern: one pattern then
        moves = git.read_tags(repo, "refs/tags/*#*", messages=False)
    else:
        moves = git.read_tags(repo, *(f"refs/tags/{to_tag(m)}#*" for m in models), messages=False)
    wanted = {to_tag(m) for m in models}
    own = [r for r in registrations if r.name.partition("@")[0] in wanted]
    return build_models(own + moves)


def _plain_line(text: str, key: str, value: str) -> bool:
    """Whether `text` surely maps top-level `key` to the string `value`, without a parse.

    Only for texts where no node starts quoted (single quotes balanced on each line are
    allowed), as a block scalar, flow collection, anchor, alias, tag, directive or
    explicit key, with no escape, tab or document marker (`_UNSIMPLE`): there, a line
    starting at column 0 is a top-level key (a plain scalar's continuation lines are
    indented), and the loader refuses a duplicate key. `value` must be a plain scalar
    that YAML reads as that very string.
    """
    if not _SAFE_PLAIN.fullmatch(value) or value.lower() in _NOT_STRINGS:
        return False
    lines = text.split("\n")  # YAML's line breaks; splitlines() would also break at \u2028, \x85...
    try:
        at = lines.index(f"{key}: {value}")
    except ValueError:
        return False
    if _UNSIMPLE.search(text) or any(line.count("'") % 2 for line in lines):
        return False
    # An indented line after it would continue the plain scalar ("M more words").
    rest = [line for line in lines[at + 1 :] if line.strip()]
    return not rest or not rest[0][0].isspace()
