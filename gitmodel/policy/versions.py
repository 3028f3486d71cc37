"""Version tags NAME@vX.Y.Z in a push: is each one a sound, new, correctly bumped version?

- its commit's model.yaml passes the schema (`schema`) and describes that tag, the
  DVC pointers and the prompt templates beside it (`metadata-matches-tag`);
- the version is greater than every version the receiving side has (`version-order`);
  on the client that is the local tags minus the ones being pushed;
- the bump matches the change since the version just below it, which may be another
  version in the same push (`bump-level`).  Changed DVC pointers count as new bytes
  even if model.yaml's file hashes were left alone, so bytes cannot hide in a patch;
- where enabled, its bytes are on the DVC remote (`dvc-remote`, dvcremote.py).
Only the pushed models' own tags are read (one for-each-ref pattern each).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitmodel.errors import GitModelError
from gitmodel.policy import files
from gitmodel.policy.verdict import BUMP, DVC_REMOTE, MATCHES_TAG, SCHEMA, VERSION_ORDER, Violation
from gitmodel.refs import Ref, Version, model_dir

if TYPE_CHECKING:
    from gitmodel.policy.trees import Parsed


class Side(StrEnum):
    CLIENT = "client"  # pre-push: the pusher's clone, which has a work tree and DVC
    SERVER = "server"  # pre-receive: the bare remote, new objects still in quarantine


@dataclass(frozen=True)
class Created:
    """A gitmodel tag being created: its name, parsed name and the commit it marks."""

    tag: str
    ref: Ref
    commit: str
    message: str = ""  # the annotation (a record is a claim: only an override is read from it)

    @property
    def version(self) -> Version:
        assert self.ref.version is not None
        return self.ref.version

    @property
    def folder(self) -> str:
        return model_dir(self.ref.model)


@dataclass(frozen=True)
class Plan:
    new: Created
    known: list[Version]  # the receiving side's versions of the model
    prev: Version | None  # the version just below (known, or earlier in this push)
    prev_commit: str | None


def check_versions(
    repo: Path, created: list[Created], side: Side, parsed: Parsed | None = None
) -> list[Violation]:
    """`parsed` shares parsed metadata with other checks of the same run (a replay)."""
    from gitmodel.policy.trees import Parsed, version_files

    plans = _plan(repo, created)
    wanted = [(p.new.commit, p.new.folder) for p in plans]
    wanted += [(p.prev_commit, p.new.folder) for p in plans if p.prev_commit]
    tree = version_files(repo, wanted)
    parsed = parsed or Parsed()
    found: list[Violation] = []
    sound = []
    for p in plans:
        new = tree[(p.new.commit, p.new.folder)]
        old = tree[(p.prev_commit, p.new.folder)] if p.prev_commit else None
        problems = _check(p, new, old, parsed)
        found += problems
        if not problems:
            sound.append((p.new, new))
    if sound:
        found += _on_remote(repo, sound, side)
    return found


def _plan(repo: Path, created: list[Created]) -> list[Plan]:
    pushed = {c.tag for c in created}
    by_model: dict[str, list[Created]] = defaultdict(list)
    for c in created:
        by_model[c.ref.model].append(c)
    states = files.registered(repo, sorted(by_model))
    plans = []
    for model, items in by_model.items():
        state = states.get(model)
        events = state.versions.items() if state else []
        known = {v: e.commit for v, e in events if e.tag not in pushed}
        batch: dict[Version, str] = {}
        for c in sorted(items, key=lambda c: c.version):
            below = {**{v: k for v, k in known.items() if v < c.version}, **batch}
            prev = max(below) if below else None
            plans.append(Plan(c, sorted(known), prev, below[prev] if prev else None))
            batch[c.version] = c.commit
    return plans


def _check(
    p: Plan, new: files.VersionFiles, prev: files.VersionFiles | None, parsed: Parsed
) -> list[Violation]:
    from gitmodel import versioning

    c = p.new
    if new.metadata_text is None:
        why = (
            f"{new.metadata_path} is missing at {c.commit[:10]}; a version's commit holds its "
            "metadata: register versions with `gitmodel register`"
        )
        return [Violation(c.tag, SCHEMA, why)]
    try:
        meta = parsed.validate(new, f"{new.metadata_path} at {c.commit[:10]}")
        new.functional_checks(f" at {c.commit[:10]}")
        templates = new.templates(f" at {c.commit[:10]}")
    except GitModelError as exc:
        return [Violation(c.tag, SCHEMA, str(exc))]
    try:
        from gitmodel import prompts

        prompts.check_hashes(meta, templates, f"{new.metadata_path} at {c.commit[:10]}")
    except GitModelError as exc:
        return [Violation(c.tag, MATCHES_TAG, str(exc))]
    if meta.get("name") != c.ref.model or meta.get("version") != str(c.version):
        said = f"{meta.get('name')}@{meta.get('version')}"
        why = (
            f"{new.metadata_path} at {c.commit[:10]} describes {said}, not {c.ref.model}@{c.version}; "
            "tag the commit that registered this version"
        )
        return [Violation(c.tag, MATCHES_TAG, why)]
    md5, pointed = str(meta["artifact"]["dvc_md5"]), parsed.md5s(new)
    if md5 not in pointed:
        why = (
            f"model.yaml says the bytes are {md5} but the DVC pointers in {new.folder} name "
            f"{', '.join(sorted(pointed)) or 'nothing'}; register the bytes with `gitmodel register` so "
            "that metadata and pointers agree"
        )
        return [Violation(c.tag, MATCHES_TAG, why)]
    level, reason, compared = None, "", False
    if prev is not None:
        try:
            checks = f"{new.folder}/{files.CHECKS}"
            checks_changed = prev.texts.get(checks) != new.texts.get(checks)
            pointers_changed = parsed.md5s(prev) != parsed.md5s(new)
            level, reason = _level(parsed.metadata(prev), meta, pointers_changed, checks_changed)
            compared = True
        except GitModelError:
            pass  # an older version we cannot read is not compared; the order still holds
    if p.known and c.version <= max(p.known):
        try:
            versioning.check_version(c.ref.model, c.version, p.known, level, reason)
        except GitModelError as exc:
            return [Violation(c.tag, VERSION_ORDER, str(exc))]
    if compared and p.prev is not None:
        try:
            versioning.check_version(c.ref.model, c.version, [p.prev], level, reason)
        except GitModelError as exc:
            return [Violation(c.tag, BUMP, str(exc))]
    return []


def _level(
    old: dict[str, Any], new: dict[str, Any], pointers_changed: bool, checks_changed: bool
) -> tuple[str | None, str]:
    """The bump the change needs; the DVC pointers count as bytes even if the metadata hides it."""
    from gitmodel.versioning import change_level

    level, reason = change_level(old, new, checks_changed)
    if level in (None, "patch") and pointers_changed:
        return "minor", "artifact bytes changed (the DVC pointers name other objects)"
    return level, reason


def _on_remote(repo: Path, versions: list[tuple[Created, files.VersionFiles]], side: Side) -> list[Violation]:
    from gitmodel.policy import dvcremote

    enabled = dvcremote.client_enabled(repo) if side is Side.CLIENT else dvcremote.server_enabled(repo)
    if not enabled:
        return []
    found = []
    for c, vf in versions:
        pointers = list(vf.pointers().values())
        try:
            if side is Side.CLIENT:
                missing = dvcremote.missing_client(repo, pointers)
            else:
                missing = dvcremote.missing_server(repo, pointers)
        except GitModelError as exc:
            found.append(Violation(c.tag, DVC_REMOTE, f"cannot check the DVC remote: {exc}"))
            continue
        if missing:
            shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
            why = (
                f"{len(missing)} of its DVC objects are not on the DVC remote ({shown}); upload them with "
                "`dvc push` from the clone that registered it, then push again"
            )
            found.append(Violation(c.tag, DVC_REMOTE, why))
    return found
