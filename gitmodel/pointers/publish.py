"""Writing pointer documents: after each pushed move, and on demand (`gitmodel publish`).

A document is signed with the publisher's git signing key (`git tag -s`, as moves are)
and written to each DVC remote gitmodel.yaml's `pointers.remotes` names (the default
remote when it names none).  A store that holds a document with a higher `seq` is left
alone: two clones publishing in the opposite order of their pushes must not move the
document backwards.  A document already describing the same moves is not rewritten, so
hosts' conditional GETs keep answering "not modified".

After a move, publishing is best effort: the move is on origin and stays there; a
failure is logged as a warning naming the repair (`gitmodel publish`), and hosts still
find the move at their next look at git (`agent --pointers --git-every`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gitmodel import config, dvc, git, objstore
from gitmodel.errors import GitModelError, NoDvcRemote, UsageError
from gitmodel.pointers import document
from gitmodel.pointers.document import Document
from gitmodel.refs import Action, parse_model, parse_tag
from gitmodel.registry import Registry
from gitmodel.rollout.canary_state import is_canary_stage

log = logging.getLogger("gitmodel.pointers")

PUBLISHED, UNCHANGED, NEWER_THERE, NOT_ON_ORIGIN, FAILED = (
    "published",
    "unchanged",
    "newer-there",
    "not-on-origin",
    "failed",
)


@dataclass(frozen=True)
class Published:
    """What happened to one document at one remote."""

    model: str
    env: str
    remote: str
    url: str
    tag: str
    version: str | None
    seq: int
    outcome: str
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "env": self.env,
            "remote": self.remote,
            "url": self.url,
            "tag": self.tag,
            "version": self.version,
            "seq": self.seq,
            "outcome": self.outcome,
            "detail": self.detail or None,
        }


def stores(repo: Path, names: Sequence[str], *, host: bool | None = None) -> list[objstore.Store]:
    """The stores of the DVC remotes `names` (none: the default remote).  On a host (True;
    None: when this machine has a host file, e.g. publishing after `rollback --root`) the
    remote as a host may take it (dvc/config.py): never an endpoint or credentials setting
    the tracked .dvc/config chose."""
    if host is None:
        from gitmodel import localconfig

        host = localconfig.host_file().exists
    found: list[objstore.Store] = []
    wanted: list[str | None] = [*names] or [None]
    for name in wanted:
        remote = dvc.remote_config(repo, name, host=host)
        if remote is None:
            if name is None:
                raise NoDvcRemote(str(repo), "add one with `dvc remote add -d NAME URL` to publish pointers")
            raise UsageError(
                f"DVC remote {name!r} (gitmodel.yaml pointers.remotes, or --remote) is not defined in "
                f"{repo}/.dvc/config; add it with `dvc remote add {name} URL` or fix the name"
            )
        found.append(objstore.open_store(remote[0], remote[1], repo / ".dvc"))
    return found


def publish(
    repo: Path,
    name: str | None = None,
    env: str | None = None,
    *,
    remotes: Sequence[str] | None = None,
    fetch: bool = True,
) -> list[Published]:
    """(Re)publish the documents of `name` (every model) in `env` (every environment) as
    origin has them: moves this clone made that origin lacks are not published."""
    require_key(repo)
    conf = config.load(repo)
    envs = [conf.check_env(env)] if env else list(conf.environments)
    if fetch:
        git.fetch_tags(repo)
    reg = Registry.load(repo)
    models = [parse_model(name)] if name else sorted(reg.models)
    docs = [d for m in models for e in envs if (d := _build(repo, reg, m, e)) is not None]
    targets = stores(repo, remotes if remotes is not None else conf.pointers.remotes)
    origin: set[str] | None = None
    if fetch and docs and git.has_remote(repo):
        origin = git.remote_refs(repo, sorted({f"refs/tags/{t}" for d in docs for t in _tags(d)}))
    results: list[Published] = []
    for doc in docs:
        absent = [t for t in _tags(doc) if origin is not None and f"refs/tags/{t}" not in origin]
        if absent:
            results += [_result(doc, s, NOT_ON_ORIGIN, f"origin lacks {absent[0]}; push it") for s in targets]
            continue
        results += write(repo, doc, targets)
    return results


def after_move(repo: Path, tags: Sequence[str]) -> list[Published]:
    """Publish the environments the just-pushed `tags` moved, when gitmodel.yaml's
    `pointers.publish` is on.  Never raises: the move is on origin whatever happens here."""
    try:
        conf = config.load(repo)
    except GitModelError:
        return []  # the move's own command reads it too, and says what is wrong with it
    if not conf.pointers.publish:
        return []
    try:
        moved = sorted(
            {
                (r.model, r.stage.removesuffix("-canary") if is_canary_stage(r.stage) else r.stage)
                for t in tags
                if (r := parse_tag(t)) and r.stage and r.action in (Action.ASSIGN, Action.UNASSIGN)
            }
        )
        if not moved:
            return []
        require_key(repo)
        targets = stores(repo, conf.pointers.remotes)
        reg = Registry(repo, {m: Registry.load_model(repo, m) for m in {m for m, _ in moved}})
        results = []
        for model, env in moved:
            doc = _build(repo, reg, model, env)
            if doc is not None and env in conf.environments:
                results += write(repo, doc, targets)
    except GitModelError as exc:
        log.warning("%s", _not_published(", ".join(tags), exc.message))
        return []
    except Exception as exc:  # a bug here must not turn a landed move into a failure
        log.warning("%s", _not_published(", ".join(tags), f"{type(exc).__name__}: {exc}"))
        return []
    for done in results:
        if done.outcome == FAILED:
            log.warning("%s", _not_published(f"{done.model} {done.env}", done.detail, done.remote))
    return results


def _not_published(what: str, why: str, remote: str | None = None) -> str:
    where = f" to DVC remote {remote}" if remote else ""
    return (
        f"{what} is on origin, but its pointer document was not published{where}: {why}; "
        "hosts polling documents see the move at their next look at git; "
        "`gitmodel publish` repairs it"
    )


def require_key(repo: Path) -> None:
    if not git.signing_configured(repo):
        raise UsageError(
            "pointer documents are signed and this clone has no signing key: set git config "
            "user.signingkey (and gpg.format ssh for an SSH key); see docs/security.md"
        )


def _build(repo: Path, reg: Registry, model: str, env: str) -> Document | None:
    state = reg.models.get(model)
    if state is None:
        raise UsageError(f"{model} is not registered here; check the name with `gitmodel list`")
    events = state.stage_events(env)
    canaries = state.stage_events(f"{env}-canary")
    wanted = [e[-1].tag for e in (events, canaries) if e]
    objects = {tag: git.ref_value(repo, f"refs/tags/{tag}") or "" for tag in wanted}
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return document.build(state, env, objects, git.identity(repo), now)


def _tags(doc: Document) -> list[str]:
    return [doc.pointer.tag, *([doc.canary.tag] if doc.canary else [])]


def write(repo: Path, doc: Document, targets: Sequence[objstore.Store]) -> list[Published]:
    """Sign `doc` once and write it to every store that does not hold it or a newer one."""
    oid = git.create_signed_object(
        repo, document.signed_name(doc.model, doc.env), doc.pointer.object, doc.message()
    )
    signed = replace(doc, signed=git.run_bytes(["cat-file", "tag", oid], repo).decode())
    key = document.key(doc.model, doc.env)
    results = []
    for store in targets:
        try:
            there = store.get(key)
            held = _held(there.body) if there.status == objstore.CHANGED else None
            if held is not None and held[0] > doc.seq:
                results.append(
                    _result(doc, store, NEWER_THERE, f"it holds #{held[0]}, newer than #{doc.seq}")
                )
                continue
            if held is not None and held[1] == _objects(doc):
                results.append(_result(doc, store, UNCHANGED))
                continue
            store.put(key, signed.encode())
            results.append(_result(doc, store, PUBLISHED))
        except GitModelError as exc:
            results.append(_result(doc, store, FAILED, exc.message))
    return results


def _held(body: bytes | None) -> tuple[int, tuple[str | None, ...]] | None:
    """(seq, move objects) of the document a store holds; None: none readable (overwrite it)."""
    try:
        data = json.loads(body or b"")
        seq = data["seq"]
        canary = data.get("canary") or {}
        if isinstance(seq, int) and not isinstance(seq, bool):
            return seq, (data.get("object"), canary.get("object"))
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        pass
    return None


def _objects(doc: Document) -> tuple[str | None, ...]:
    return (doc.pointer.object, doc.canary.object if doc.canary else None)


def _result(doc: Document, store: objstore.Store, outcome: str, detail: str = "") -> Published:
    return Published(
        doc.model,
        doc.env,
        store.name,
        f"{store.url}/{document.key(doc.model, doc.env)}",
        doc.pointer.tag,
        doc.pointer.version,
        doc.seq,
        outcome,
        detail,
    )
