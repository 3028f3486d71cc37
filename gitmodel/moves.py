"""Writing registry tags: created locally, then pushed to origin as one atomic unit.

`#N` is one counter per model shared by all environments, so two clones can pick the
same `N` for different tag names (`support#staging#3`, `support#production#3`) and a
plain remote would accept both.  Every push that carries a counter tag therefore also
moves `refs/gitmodel/seq/MODEL` with `--force-with-lease` expecting the value fetched
before the counter was chosen: if anyone moved the model in between, origin refuses
the whole push.  GTO ignores refs outside refs/tags.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitmodel import git
from gitmodel.errors import ConflictError, PolicyError
from gitmodel.records import format_message
from gitmodel.refs import Action, Ref, Version, to_tag, version_tag
from gitmodel.registry import Registry

SEQ_PREFIX = "refs/gitmodel/seq/"


@dataclass(frozen=True)
class NewTag:
    ref: Ref
    commit: str
    summary: str
    record: dict[str, Any] = field(default_factory=dict)
    body: str = ""


def load(root: Path, push: bool, model: str | None = None) -> Registry:
    """Registry state (only `model`'s when given); with push, refreshed from origin first
    so counters are current."""
    if push:
        git.fetch_tags(root)
    if model is None:
        return Registry.load(root)
    return Registry(root, {model: Registry.load_model(root, model)})


def write_tags(root: Path, tags: Sequence[NewTag], push: bool) -> list[str]:
    """Create `tags` (all or none) and, with `push`, land them on origin atomically."""
    names: list[str] = []
    sign = git.signing_configured(root)  # moves are signed whenever the user has a key
    try:
        for new in tags:
            name = new.ref.tag()
            git.create_tag(
                root, name, new.commit, format_message(new.summary, new.record, new.body), sign=sign
            )
            names.append(name)
        if push:
            _push(root, tags, names)
    except ConflictError:
        _delete(root, names)
        if not push or not names:
            raise
        # Only now, with our local tags gone, does a fetch show what origin has.
        raise ConflictError(_what_changed(root, tags[0].ref.model, names[-1])) from None
    except BaseException:
        _delete(root, names)
        raise
    return names


def _delete(root: Path, names: list[str]) -> None:
    for name in names:
        git.delete_tag(root, name)


def _push(root: Path, tags: Sequence[NewTag], names: list[str]) -> None:
    _require_versions_on_origin(root, tags)
    refspecs = [f"refs/tags/{n}" for n in names]
    leases: dict[str, str] = {}
    model = tags[0].ref.model
    seq = SEQ_PREFIX + to_tag(model)
    counted = [n for n, t in zip(names, tags, strict=True) if t.ref.counter is not None]
    last_object = git.ref_value(root, f"refs/tags/{counted[-1]}") if counted else None
    if last_object:
        leases[seq] = git.ref_value(root, seq) or ""
        refspecs.append(f"{last_object}:{seq}")
    git.push(root, refspecs, leases=leases)
    if last_object:
        git.run(["update-ref", seq, last_object], root, check=False)  # mirror; next fetch fixes it


def _require_versions_on_origin(root: Path, tags: Sequence[NewTag]) -> None:
    """An environment on origin must never point at a version origin does not have."""
    wanted = {
        f"refs/tags/{version_tag(t.ref.model, Version.parse(str(t.record['version'])))}"
        for t in tags
        if t.ref.action is Action.ASSIGN and isinstance(t.record.get("version"), str)
    }
    if not wanted:
        return
    missing = sorted(wanted - git.remote_refs(root, sorted(wanted)))
    if missing:
        names = ", ".join(m.removeprefix("refs/tags/") for m in missing)
        raise PolicyError(
            f"origin does not have {names}: push the version first "
            f"(`git push origin HEAD {names}` after `dvc push`, or register it with --push)"
        )


def _what_changed(root: Path, model: str, tag: str) -> str:
    try:
        git.fetch_tags(root)
        state = Registry.load_model(root, model)
    except Exception:  # the conflict is the message; details are a bonus
        return f"origin refused {tag}: someone else moved {model} first; retry"
    if not state.assignments:
        return f"origin refused {tag}: someone else changed {model} first; retry"
    latest = state.assignments[-1]
    env = latest.ref.stage or ""
    return (
        f"origin refused {tag}: {model} was moved meanwhile ({latest.tag} by {latest.actor}); "
        f"{env} now serves {state.stage_version(env)}; "
        f"check `gitmodel history {model}` and retry"
    )
