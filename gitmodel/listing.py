"""What `gitmodel list` shows, read from the refs alone: fast at 100k tags.

A listing needs, per model, its versions and what each environment serves: the
environment's newest assignment (by counter) and the one version registered at that
assignment's commit. `git show-ref -d` gives every tag's name and the commit it finally
points at without reading a tag object (packed refs carry the peeled ids); then only
the tag objects that can decide an answer are read: each environment's newest
assignment and the versions on its commit. The answer is Registry's to the letter
(registry.ModelState.stages): a version and an assignment match on the object their
tags point at one level down, so a tag of a tag never stands for its commit.

In a repository with missing objects, where the full read fails, the listing still
shows what the refs say: a tag git cannot peel is skipped like a lightweight one.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from pathlib import Path

from gitmodel import git
from gitmodel.refs import Action, Version, parse_tags


@dataclass
class Summary:
    """One model's line of a listing."""

    name: str
    versions: dict[Version, git.PeeledTag] = field(default_factory=dict)
    retired: set[Version] = field(default_factory=set)  # deregistered (NAME@vX.Y.Z!)
    deprecated: bool = False  # NAME@deprecated
    # stage -> its newest assignment (counter, tag, an unassignment?); ties: the later name
    newest: dict[str, tuple[int, git.PeeledTag, bool]] = field(default_factory=dict)
    stages: dict[str, Version | None] = field(default_factory=dict)  # filled by `summaries`

    def latest(self) -> Version | None:
        live = [v for v in self.versions if v not in self.retired]
        return max(live) if live else None


def summaries(repo: Path) -> dict[str, Summary]:
    """Every model's summary, by name."""
    tags = git.peeled_tags(repo)
    was_enabled = gc.isenabled()
    gc.disable()  # ~100k small objects and no cycles (see registry.build_models)
    try:
        models = _group(tags)
    finally:
        if was_enabled:
            gc.enable()
    _resolve(repo, models)
    return models


def _group(tags: list[git.PeeledTag]) -> dict[str, Summary]:
    models: dict[str, Summary] = {}
    for tag, ref in zip(tags, parse_tags([t.name for t in tags]), strict=True):
        if ref is None or tag.peeled is None:  # not ours, or not annotated (Registry skips those too)
            continue
        state = models.get(ref.model)
        if state is None:
            state = models[ref.model] = Summary(ref.model)
        action = ref.action
        if action is Action.REGISTER:
            assert ref.version is not None
            state.versions[ref.version] = tag
        elif action is Action.DEREGISTER:
            assert ref.version is not None
            state.retired.add(ref.version)
        elif action is Action.DEPRECATE:
            state.deprecated = True
        else:
            assert ref.stage is not None
            counter = ref.counter or 0
            held = state.newest.get(ref.stage)
            if held is None or counter >= held[0]:  # refname order: the later of a tie wins
                state.newest[ref.stage] = (counter, tag, action is Action.UNASSIGN)
    return models


def _resolve(repo: Path, models: dict[str, Summary]) -> None:
    """Fill each summary's stages, reading only the tag objects that can decide them."""
    wanted: dict[str, None] = {}
    candidates: dict[tuple[str, str], list[Version]] = {}
    for state in models.values():
        by_commit: dict[str, list[Version]] = {}
        for version, tag in state.versions.items():
            assert tag.peeled is not None
            by_commit.setdefault(tag.peeled, []).append(version)
        for stage, (_, tag, unassign) in state.newest.items():
            assert tag.peeled is not None
            found = [] if unassign else by_commit.get(tag.peeled, [])
            candidates[(state.name, stage)] = found
            if found:  # a version can match only if both tags end at the same commit
                wanted[tag.oid] = None
                wanted.update((state.versions[v].oid, None) for v in found)
    targets = git.tag_targets(repo, list(wanted)) if wanted else {}
    for state in models.values():
        for stage, (_, tag, _) in state.newest.items():
            target = targets.get(tag.oid)
            hits = [
                v for v in candidates[(state.name, stage)] if targets.get(state.versions[v].oid) == target
            ]
            state.stages[stage] = hits[0] if target is not None and len(hits) == 1 else None
