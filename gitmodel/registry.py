"""Registry state built in memory from one `git for-each-ref` pass.

Nothing here opens a version's commit: names, targets, taggers and annotation
records are enough to answer list, history and "what does production serve".
Assignment events are ordered by their `#N` counter, not by tag time (GTO's
one-second tag times misorder events made within the same second).
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import cast

from gitmodel import git, records
from gitmodel.errors import UnknownModel, UnknownVersion
from gitmodel.refs import Action, Ref, Version, parse_tag, parse_tags, to_tag


@dataclass
class Event:
    """One tag: a registration, an assignment, a deregistration..."""

    ref: Ref
    tag: str
    commit: str
    actor: str
    time: int
    message: str

    @cached_property
    def record(self) -> dict[str, object]:
        # Parsed on first use: a listing at 100k tags needs almost none of them.
        return records.parse(self.message)

    @property
    def version(self) -> Version | None:
        return self.ref.version

    @property
    def summary(self) -> str:
        first = self.message.strip().splitlines()
        return first[0] if first else ""


@dataclass
class ModelState:
    name: str
    versions: dict[Version, Event] = field(default_factory=dict)
    assignments: list[Event] = field(default_factory=list)
    # `gitmodel deprecate`: GTO's deregistration tags NAME@vX.Y.Z! (GTO's word stays in refs)
    deprecated_versions: dict[Version, Event] = field(default_factory=dict)
    deprecated: Event | None = None  # the whole model: GTO's NAME@deprecated
    _commits: dict[str, list[Version]] | None = field(default=None, repr=False, compare=False)

    def sorted_versions(self) -> list[Version]:
        return sorted(self.versions)

    def latest(self) -> Version | None:
        live = [v for v in self.versions if v not in self.deprecated_versions]
        return max(live) if live else None

    def version_event(self, version: Version) -> Event:
        try:
            return self.versions[version]
        except KeyError:
            raise UnknownVersion(self.name, str(version)) from None

    def newest_time(self) -> int:
        """The latest tagger date among the model's tags (a new move is dated after it)."""
        events = [*self.versions.values(), *self.assignments, *self.deprecated_versions.values()]
        return max((e.time for e in events), default=0)

    def next_counter(self) -> int:
        return max((e.ref.counter or 0 for e in self.assignments), default=0) + 1

    def assignment_version(self, event: Event) -> Version | None:
        """The version an assignment names: the one registered version at its commit.

        A commit holding two versions names neither (None, like an unassignment): the
        record's `version` is a claim of whoever pushed, and GTO refuses such a registry
        outright ("Multiple versions are not allowed on the same Git commit"); the host's
        policy check refuses the pointer as ambiguous (gitmodel/policy/host.py).
        """
        if event.ref.action is Action.UNASSIGN:
            return None
        return self.version_at(event.commit)

    def version_at(self, commit: str) -> Version | None:
        """The one registered version at `commit` (None: none, or two, which names neither)."""
        at_commit = self._by_commit().get(commit, [])
        return at_commit[0] if len(at_commit) == 1 else None

    def _by_commit(self) -> dict[str, list[Version]]:
        if self._commits is None:
            self._commits = {}
            for v, e in self.versions.items():
                self._commits.setdefault(e.commit, []).append(v)
        return self._commits

    def stage_events(self, stage: str | None = None) -> list[Event]:
        return [e for e in self.assignments if stage is None or e.ref.stage == stage]

    def stage_version(self, stage: str) -> Version | None:
        """What the stage serves now: its newest assignment by counter."""
        newest = next((e for e in reversed(self.assignments) if e.ref.stage == stage), None)
        return self.assignment_version(newest) if newest else None

    def newest_assignments(self) -> dict[str, Event]:
        """Each stage's newest assignment (the last in `assignments`, which is in `#N`
        order), stages in the order they were first assigned."""
        # An assignment always has a stage (parse_tag): no str() per event, 100k times.
        return cast("dict[str, Event]", {e.ref.stage: e for e in self.assignments})

    def stages(self) -> dict[str, Version | None]:
        """What each stage serves now. Only the newest assignments are resolved: at 100k
        tags resolving every one cost `list` ~0.1 s of CPU for answers it overwrote."""
        return {stage: self.assignment_version(e) for stage, e in self.newest_assignments().items()}

    def timeline(self) -> list[Event]:
        """Registrations and moves in the order they happened.

        Assignments are ordered among themselves by counter; registrations by version.
        The two streams are merged by time, counters breaking ties.
        """
        regs = sorted(
            [*self.versions.values(), *self.deprecated_versions.values()],
            key=lambda e: (e.time, e.version.key if e.version else (0, 0, 0)),
        )
        moves = list(self.assignments)
        if self.deprecated:
            regs.append(self.deprecated)
        merged: list[Event] = []
        i = j = 0
        while i < len(regs) or j < len(moves):
            if j >= len(moves) or (i < len(regs) and regs[i].time <= moves[j].time):
                merged.append(regs[i])
                i += 1
            else:
                merged.append(moves[j])
                j += 1
        return merged


@dataclass
class Registry:
    repo: Path
    models: dict[str, ModelState]

    @classmethod
    def load(cls, repo: Path, messages: bool = True) -> Registry:
        """Every model's state; without `messages`, events carry no annotation or record
        (enough for listings: versions, stage pointers, actors and times)."""
        return cls(repo, build_models(git.read_tags(repo, messages=messages)))

    @classmethod
    def find_model(cls, repo: Path, name: str) -> ModelState | None:
        """One model's state, reading only its own tags (fast at any registry size)."""
        base = to_tag(name)
        return build_models(git.read_tags(repo, f"refs/tags/{base}@*", f"refs/tags/{base}#*")).get(name)

    @classmethod
    def load_model(cls, repo: Path, name: str) -> ModelState:
        state = cls.find_model(repo, name)
        if state is None:
            known = {ref.model for ref in map(parse_tag, git.tag_list(repo)) if ref is not None}
            raise UnknownModel(name, sorted(known))
        return state

    def model(self, name: str) -> ModelState:
        try:
            return self.models[name]
        except KeyError:
            raise UnknownModel(name, sorted(self.models)) from None


def build_models(records: list[git.TagRecord]) -> dict[str, ModelState]:
    # Hundreds of thousands of small objects and no cycles: the cyclic GC would only
    # rescan them again and again (measured: 3.9 s -> 2.4 s at 105k tags).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _build_models(records)
    finally:
        if was_enabled:
            gc.enable()


def _build_models(records: list[git.TagRecord]) -> dict[str, ModelState]:
    models: dict[str, ModelState] = {}
    for rec, ref in zip(records, parse_tags([r.name for r in records]), strict=True):
        if ref is None:
            continue
        event = Event(
            ref=ref,
            tag=rec.name,
            commit=rec.commit,
            actor=f"{rec.tagger} {rec.email}".strip(),
            time=rec.time,
            message=rec.message,
        )
        state = models.setdefault(ref.model, ModelState(ref.model))
        if ref.action is Action.REGISTER:
            assert ref.version is not None
            state.versions[ref.version] = event
        elif ref.action is Action.DEREGISTER:
            assert ref.version is not None
            state.deprecated_versions[ref.version] = event
        elif ref.action is Action.DEPRECATE:
            state.deprecated = event
        else:
            state.assignments.append(event)
    for state in models.values():
        state.assignments.sort(key=lambda e: e.ref.counter or 0)
    # A model known only from stray assignment tags has no versions; keep it visible
    # but never crash on it.
    return models
