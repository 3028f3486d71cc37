"""refs/gitmodel/lifecycle/MODEL/N: lifecycle records are written once, and only as gitmodel writes them.

Every clone and host fetches these refs (git/remote.py) and reads them: a scheduled
deprecation refuses promotes and rollbacks to its version, `history` and `audit` list
them all. So the hook judges a pushed one (`lifecycle-records`):
- the ref is MODEL/N, MODEL a model name in tag form and N a positive integer;
- it is created, never moved or deleted (like a tag: the admin's way round is
  `git update-ref -d` in the server's repository, which runs no hook);
- it names an annotated tag object, sized before it is read, named
  `events.object_name(MODEL, N)` and pointing straight at the commit of the version
  its record names (registered already, or pushed with it);
- its record is a flat JSON object (scalars only: no nesting to blow up a reader) with
  a lifecycle action and the fields that action's writer always sets.

`verify --all` judges every record the repository holds by the same rules (hosted Git
runs no pre-receive; CI is the hook there).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from pathlib import Path

from gitmodel import git
from gitmodel.errors import GitModelError
from gitmodel.lifecycle.events import PREFIX, object_name
from gitmodel.policy.files import MAX_YAML
from gitmodel.policy.stdin import RefUpdate
from gitmodel.policy.verdict import LIFECYCLE, Violation
from gitmodel.records import PREFIX as RECORD
from gitmodel.records import Act
from gitmodel.refs import Action, Version, parse_model, parse_stage, parse_tag, to_tag

MAX_VALUE = 4096  # characters in one record value: a reason, a remote URL
_SEQ = re.compile(r"^[1-9]\d{0,8}$")
_NUMBER = (int, float)
_SCALAR = (str, int, float, bool, type(None))
# What each action's writer always sets, beyond `action` and `version` (retention.py,
# timeline.py, host/drill.py); other fields may come and go between releases.
_NEEDS: dict[str, dict[str, tuple[type, ...]]] = {
    Act.ARCHIVE: {"cold_remote": (str,), "objects": (int,)},
    Act.RESTORE: {"cold_remote": (str,)},
    Act.DEPRECATE_ON: {"on": (str,)},
    Act.DRILL: {"env": (str,), "seconds": _NUMBER, "passed": (bool,)},
}
Commits = dict[tuple[str, Version], str]  # (model, version) -> the commit its version tag marks


def pushed(repo: Path, updates: list[RefUpdate], versions: Commits) -> list[Violation]:
    """Judge the pushed refs/gitmodel/lifecycle/* updates (`versions`: the version tags in the push)."""
    found: list[Violation] = []
    created: list[tuple[str, str, str, int]] = []
    for u in updates:
        if not u.ref.startswith(PREFIX):
            continue
        if u.is_delete or u.is_move:
            did = "deleting" if u.is_delete else f"moving it from {u.old[:10]} to {u.new[:10]}"
            why = (
                f"{did} is refused: lifecycle records are history and are written once; file a new "
                "record (`gitmodel restore`, `gitmodel deprecate`), or have the server's admin remove "
                f"a forged one (`git update-ref -d {u.ref}` in the server's repository)"
            )
            found.append(Violation(u.ref, LIFECYCLE, why))
        elif u.is_create:
            named = _name(u.ref)
            if isinstance(named, Violation):
                found.append(named)
            else:
                created.append((u.ref, u.new, *named))
    if created:
        known = registered(repo, {m for _, _, m, _ in created})
        found += judge(repo, created, {**known, **versions})
    return found


def held(repo: Path, versions: Commits) -> list[Violation]:
    """Every record the repository holds, judged as on arrival (`verify --all`)."""
    listed = git.out(["for-each-ref", "--format=%(refname) %(objectname)", PREFIX.rstrip("/")], repo)
    found: list[Violation] = []
    items: list[tuple[str, str, str, int]] = []
    for ref, oid in (line.split(" ", 1) for line in listed.splitlines() if " " in line):
        named = _name(ref)
        if isinstance(named, Violation):
            found.append(named)
        else:
            items.append((ref, oid, *named))
    return found + judge(repo, items, versions)


def registered(repo: Path, models: Iterable[str]) -> Commits:
    """The registered versions of `models` and their commits (tag names and peeled ids only)."""
    patterns = [f"refs/tags/{to_tag(m)}@v*" for m in sorted(models)]
    out: Commits = {}
    for rec in git.read_tags(repo, *patterns, messages=False) if patterns else []:
        ref = parse_tag(rec.name)
        if ref is not None and ref.action is Action.REGISTER and ref.version is not None:
            out[(ref.model, ref.version)] = rec.commit
    return out


def judge(repo: Path, items: list[tuple[str, str, str, int]], versions: Commits) -> list[Violation]:
    """Each (ref, object, model, N): the object is sized (one --batch-check), then the
    ones within the limit are read (one --batch) and their record judged."""
    infos = git.object_info(repo, [oid for _, oid, _, _ in items])
    small = [oid for (_, oid, _, _), info in zip(items, infos, strict=True) if info and info.size <= MAX_YAML]
    bodies = dict(zip(small, git.read_blobs(repo, small), strict=True))
    found = []
    for (ref, oid, model, n), info in zip(items, infos, strict=True):
        why: str | None
        if info is None:
            why = f"object {oid[:10]} is missing; push it again"
        elif info.type != "tag":
            why = f"it names a {info.type}, not an annotated tag object; let gitmodel write the record"
        elif info.size > MAX_YAML:
            why = f"its tag object is {info.size} bytes, over the {MAX_YAML} a record may hold (not read)"
        else:
            why = _object(bodies.get(oid) or b"", model, n, versions)
        if why:
            found.append(Violation(ref, LIFECYCLE, why))
    return found


def _name(ref: str) -> tuple[str, int] | Violation:
    """(model, N) of refs/gitmodel/lifecycle/MODEL/N."""
    part, _, seq = ref[len(PREFIX) :].partition("/")
    try:
        model = parse_model(part.replace("=", ":"))
    except GitModelError:
        model = ""
    if model and to_tag(model) == part and _SEQ.match(seq):
        return model, int(seq)
    why = "records are filed as refs/gitmodel/lifecycle/MODEL/N (N = 1, 2, ...); let gitmodel write them"
    return Violation(ref, LIFECYCLE, why)


def _object(body: bytes, model: str, n: int, versions: Commits) -> str | None:
    """Why a tag object is not record N of `model` as gitmodel writes it (None: it is)."""
    head, _, text = body.partition(b"\n\n")
    fields = dict(line.split(b" ", 1) for line in head.split(b"\n") if b" " in line)
    want = object_name(model, n)
    if fields.get(b"tag", b"").decode(errors="replace") != want:
        return f"its tag object must be named {want}; let gitmodel write the record"
    if fields.get(b"type") != b"commit":
        return "its tag object must point straight at a commit (the version's)"
    record = _record(text.decode("utf-8", errors="replace"))
    if isinstance(record, str):
        return record
    version = Version.parse(str(record["version"]))
    commit = versions.get((model, version))
    if commit is None:
        return f"it names {model} {version}, which is not registered; register the version first"
    if fields.get(b"object", b"").decode(errors="replace") != commit:
        return f"it must point at {version}'s commit {commit[:10]}, where its version tag is"
    return None


def _record(message: str) -> dict[str, object] | str:
    """The record line of a lifecycle tag, or why it is not one."""
    lines = [line for line in message.splitlines() if line.startswith(RECORD)]
    if not lines:
        return f"its message has no `{RECORD.strip()}` line; let gitmodel write the record"
    text = lines[-1][len(RECORD) :]
    try:
        record = json.loads(text)
    except (ValueError, RecursionError):  # nested past the parser's depth: a bomb
        return "its record is not JSON (or is nested past any reader's depth)"
    if not isinstance(record, dict):
        return "its record must be a JSON object"
    for key, value in record.items():
        if not isinstance(value, _SCALAR):
            return f"its record's {str(key)[:40]!r} is nested; a record holds plain values only"
        if isinstance(value, str) and len(value) > MAX_VALUE:
            return f"its record's {str(key)[:40]!r} is over {MAX_VALUE} characters"
    action = record.get("action")
    if action not in _NEEDS:
        known = ", ".join(_NEEDS)
        return f"its record's action {str(action)[:40]!r} is not a lifecycle action ({known})"
    needs: dict[str, tuple[type, ...]] = {"version": (str,), **_NEEDS[str(action)]}
    for key, types in needs.items():
        value = record.get(key)
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            return f"its {action} record lacks {key!r} (or it is not a {types[0].__name__})"
    return _values(str(action), record)


def _values(action: str, record: dict[str, object]) -> dict[str, object] | str:
    try:
        Version.parse(str(record["version"]))
        if action == Act.DEPRECATE_ON:
            dt.date.fromisoformat(str(record["on"]))
        if action == Act.DRILL:
            parse_stage(str(record["env"]))
            if record.get("to") is not None:
                Version.parse(str(record["to"]))
    except (GitModelError, ValueError) as exc:
        return f"its {action} record has a bad value: {str(exc)[:200]}"
    return record
