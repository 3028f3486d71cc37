"""Deprecation timelines and what an archived or due version refuses.

`gitmodel deprecate NAME vX --on DATE` files a `deprecate-on` record (events.py): until
DATE the version is served and promoted as before and `list` shows the date; from DATE
on it reads as deprecated, promote and rollback refuse it, and the next `gitmodel gc`
writes GTO's deregistration tag, after which the policy refuses it everywhere.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from gitmodel import git
from gitmodel.errors import PolicyError, UsageError
from gitmodel.lifecycle import events, status
from gitmodel.lifecycle.events import Lifecycle
from gitmodel.records import Act
from gitmodel.refs import Version, parse_model
from gitmodel.registry import ModelState, Registry


@dataclass(frozen=True)
class Scheduled:
    model: str
    version: str
    on: str
    ref: str


def schedule(repo: Path, name: str, version: str, on: str, *, reason: str | None = None) -> Scheduled:
    """File the schedule, and push it when there is an origin, so every clone and host
    sees it (a fetch keeps a record origin never had: git/remote.py)."""
    model, target = parse_model(name), Version.parse(version)
    push = git.has_remote(repo)
    day = parse_date(on)
    if day <= status.today():
        raise UsageError(
            f"--on {on} is not in the future; deprecate now with `gitmodel deprecate {model} {target}`"
        )
    if push:
        git.fetch_tags(repo)
    state = Registry.load_model(repo, model)
    state.version_event(target)
    if target in state.deprecated_versions:
        raise PolicyError(f"{model} {target} is already deprecated")
    already = events.of(repo, model).deprecations.get(target)
    if already is not None:
        raise PolicyError(
            f"{model} {target} is already scheduled for deprecation on {already}; a schedule stands"
        )
    record = {"action": Act.DEPRECATE_ON, "version": str(target), "on": day.isoformat(), "reason": reason}
    summary = f"gitmodel: deprecate {model} {target} on {day.isoformat()}"
    ref = events.write(repo, model, state.versions[target].commit, summary, record, push=push)
    return Scheduled(model, str(target), day.isoformat(), ref)


def parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"cannot read date {text!r}: write YYYY-MM-DD, e.g. 2027-03-31") from None


def refuse(
    repo: Path,
    state: ModelState,
    version: Version,
    doing: str,
    life: Lifecycle | None = None,
    *,
    archived_too: bool = True,
) -> None:
    """Refuse a version whose scheduled deprecation is due, or (ARCHIVED_TOO) whose bytes are archived."""
    life = events.of(repo, state.name) if life is None else life
    on = life.deprecations.get(version)
    if on is not None and life.due(version, status.today()):
        raise PolicyError(
            f"{state.name} {version} is deprecated since {on} (scheduled) and cannot be {doing}; "
            "pick another version"
        )
    if archived_too and version in life.archived:
        raise archived(state.name, version)


def archived(model: str, version: Version) -> PolicyError:
    return PolicyError(
        f"{model} {version} is archived (its bytes are on the cold DVC remote); "
        f"`gitmodel restore {model}@{version}` first, then retry"
    )


def refuse_archived(repo: Path, state: ModelState, version: Version) -> None:
    """A host about to download an archived version: say how to bring its bytes back."""
    if version in events.of(repo, state.name).archived:
        raise archived(state.name, version)
