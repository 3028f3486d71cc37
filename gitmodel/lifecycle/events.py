"""Lifecycle records: archive, restore, scheduled deprecation and drill, one tag object each.

They are filed under refs/gitmodel/lifecycle/MODEL/N (N counts per model), not under
refs/tags: GTO, `dvc artifacts get` and the server hook read every tag in a model's
namespace as a registration or a stage move, and these are neither. Refs under
refs/gitmodel/ ride along with every fetch (git/remote.py), and `git` refuses a
second writer of the same N (a conflict: retry).

The records are claims (records.py): they say where a version's bytes were put and
when a deprecation is due; a host still verifies every byte it is given, and the tags'
structure still decides every move.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from gitmodel import git, records
from gitmodel.errors import GitModelError
from gitmodel.records import Act
from gitmodel.refs import Version, parse_model, to_tag

PREFIX = "refs/gitmodel/lifecycle/"


@dataclass(frozen=True)
class LifeEvent:
    model: str
    seq: int
    ref: str
    commit: str
    actor: str
    time: int
    message: str

    @cached_property
    def record(self) -> dict[str, object]:
        return records.parse(self.message)

    @property
    def action(self) -> str:
        return str(self.record.get("action") or "")

    @property
    def version(self) -> Version | None:
        try:
            return Version.parse(str(self.record.get("version")))
        except GitModelError:
            return None


@dataclass(frozen=True)
class Lifecycle:
    """One model's lifecycle records, interpreted in order."""

    events: tuple[LifeEvent, ...] = ()

    @cached_property
    def archived(self) -> dict[Version, LifeEvent]:
        """Versions whose bytes are in cold storage now: archived and not restored since."""
        out: dict[Version, LifeEvent] = {}
        for e in self.events:
            if e.version is None:
                continue
            if e.action == Act.ARCHIVE:
                out[e.version] = e
            elif e.action == Act.RESTORE:
                out.pop(e.version, None)
        return out

    @cached_property
    def deprecations(self) -> dict[Version, str]:
        """Scheduled deprecations: version -> the date (YYYY-MM-DD) it takes effect."""
        out: dict[Version, str] = {}
        for e in self.events:
            on = e.record.get("on")
            if e.action == Act.DEPRECATE_ON and e.version is not None and isinstance(on, str):
                out.setdefault(e.version, on)  # the first schedule stands, like a tag
        return out

    def due(self, version: Version, today: dt.date) -> bool:
        on = self.deprecations.get(version)
        return on is not None and on <= today.isoformat()

    @property
    def drills(self) -> list[LifeEvent]:
        return [e for e in self.events if e.action == Act.DRILL]


def read(repo: Path, model: str | None = None) -> dict[str, Lifecycle]:
    """Every model's lifecycle records (only `model`'s when given): one for-each-ref pass."""
    pattern = PREFIX + to_tag(model) if model else PREFIX.rstrip("/")
    found: dict[str, list[LifeEvent]] = {}
    for rec in git.read_tags(repo, pattern):
        # strip=2 leaves lifecycle/MODEL/N
        parts = rec.name.split("/")
        if len(parts) != 3 or not parts[2].isdigit():
            continue
        try:
            name = parse_model(parts[1].replace("=", ":"))
        except GitModelError:
            continue  # a foreign ref below our prefix: ignored, never a crash
        event = LifeEvent(
            name,
            int(parts[2]),
            PREFIX + "/".join(parts[1:]),
            rec.commit,
            f"{rec.tagger} {rec.email}".strip(),
            rec.time,
            rec.message,
        )
        found.setdefault(name, []).append(event)
    return {m: Lifecycle(tuple(sorted(es, key=lambda e: e.seq))) for m, es in found.items()}


def of(repo: Path, model: str) -> Lifecycle:
    return read(repo, model).get(model, Lifecycle())


def object_name(model: str, seq: int) -> str:
    """The name inside record N's tag object (what its signature covers)."""
    return f"gitmodel-lifecycle-{to_tag(model)}-{seq}"


def write(
    repo: Path, model: str, commit: str, summary: str, record: dict[str, Any], *, push: bool = False
) -> str:
    """File one record for `model` at `commit` (refs/gitmodel/lifecycle/MODEL/N); with
    `push`, fetched first (so N is current) and sent to origin, or taken back.

    Callers push whenever there is an origin, so other clones and hosts see the record; a
    fetch keeps one origin never had and drops only what origin deleted (git/remote.py)."""
    if push:
        git.fetch_tags(repo)
    base = PREFIX + to_tag(model) + "/"
    taken = [r.removeprefix(base) for r in git.refs_under(repo, base)]
    n = max((int(t) for t in taken if t.isdigit()), default=0) + 1
    ref = f"{base}{n}"
    message = records.format_message(summary, {**record, "actor": git.identity(repo)})
    name = object_name(model, n)  # the object's own name; no tag keeps it
    oid = git.file_tag_object(repo, ref, name, commit, message, sign=git.signing_configured(repo))
    if push:
        try:
            git.push(repo, [ref])
        except BaseException:
            git.run(["update-ref", "-d", ref, oid], repo, check=False)
            raise
    return ref
