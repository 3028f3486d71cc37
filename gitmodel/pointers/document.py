"""A pointer document: what one environment of one model points at, signed, as JSON.

    {"gitmodel-pointer": 1, "model": "support", "env": "production",
     "version": "v1.1.0", "tag": "support#production#7", "object": TAG-OBJECT-ID,
     "commit": COMMIT-ID, "canary": null | {version, tag, object, commit},
     "seq": 7, "signer": "Alice <alice@example.com>", "published": "2026-...Z",
     "signed": "object TAG-OBJECT-ID\\ntype tag\\ntag pointer/support/production\\n..."}

`signed` is a git tag object, signed with `git tag -s` by the publisher's key (the
key and scheme the moves themselves use), named `pointer/MODEL/ENV` and pointing at the
move's own tag object; its message is every other field as one JSON line.  A host
re-stores it in a scratch repository and asks `git verify-tag`, so the signature check
is git's, against the host's trust file (signature.py).  The fields outside `signed`
are a readable copy and must equal the signed ones.

`object` is the tag record's content hash: the id of the annotated tag git holds for
the move, which covers its target commit, name, record and signature.  `seq` is the
model's `#N` of the newest move the document describes (the counter is one per model),
so a replayed older document is recognised without any crypto.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from gitmodel.errors import GitModelError, PolicyError
from gitmodel.refs import Action, parse_model, parse_stage, parse_tag, to_tag
from gitmodel.registry import Event, ModelState
from gitmodel.rollout.canary_state import canary_stage

FORMAT = 1
FORMAT_KEY = "gitmodel-pointer"
PREFIX = "gitmodel/pointers"
_OID = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_FIELDS = ("model", "env", "version", "tag", "object", "commit", "canary", "seq", "signer", "published")


def key(model: str, env: str) -> str:
    """Where the document of `model` in `env` lies under a remote (names already validated)."""
    return f"{PREFIX}/{parse_stage(env)}/{to_tag(parse_model(model))}.json"


def signed_name(model: str, env: str) -> str:
    """The name written inside the signed tag object: binds the signature to model and env."""
    return f"pointer/{to_tag(model)}/{env}"


class BadDocument(PolicyError):
    """A document that is not a well-formed, self-consistent pointer document."""

    def __init__(self, where: str, why: str) -> None:
        super().__init__(f"refusing the pointer document {where}: {why}")
        self.where = where
        self.why = why


@dataclass(frozen=True)
class Move:
    """One move a document names: the tag, its object id, its commit and version."""

    tag: str
    object: str
    commit: str
    version: str | None

    @property
    def counter(self) -> int:
        ref = parse_tag(self.tag)
        return (ref.counter or 0) if ref else 0

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "tag": self.tag, "object": self.object, "commit": self.commit}


@dataclass(frozen=True)
class Document:
    model: str
    env: str
    pointer: Move
    canary: Move | None
    seq: int
    signer: str
    published: str
    signed: str = ""  # the signed git tag object (raw text); "" before signing

    def body(self) -> dict[str, Any]:
        """Every field but the signature: what the signed object's message holds."""
        return {
            "model": self.model,
            "env": self.env,
            **self.pointer.to_json(),
            "canary": self.canary.to_json() if self.canary else None,
            "seq": self.seq,
            "signer": self.signer,
            "published": self.published,
        }

    def message(self) -> str:
        return json.dumps(self.body(), sort_keys=True, separators=(",", ":")) + "\n"

    def encode(self) -> bytes:
        doc = {FORMAT_KEY: FORMAT, **self.body(), "signed": self.signed}
        return (json.dumps(doc, indent=1, sort_keys=False) + "\n").encode()


def build(
    state: ModelState, env: str, objects: dict[str, str], signer: str, published: str
) -> Document | None:
    """The document of `state`'s model in `env` (None: the environment never had a move).

    `objects` maps tag names to their tag object ids (git's for-each-ref %(objectname)).
    """
    events = state.stage_events(env)
    if not events:
        return None
    pointer = _move(state, events[-1], objects)
    canaries = state.stage_events(canary_stage(env))
    canary = _move(state, canaries[-1], objects) if canaries else None
    seq = max(m.counter for m in (pointer, canary) if m is not None)
    return Document(state.name, env, pointer, canary, seq, signer, published)


def _move(state: ModelState, event: Event, objects: dict[str, str]) -> Move:
    version = state.assignment_version(event) if event.ref.action is Action.ASSIGN else None
    return Move(event.tag, objects[event.tag], event.commit, str(version) if version else None)


def parse(body: bytes, model: str, env: str, where: str) -> Document:
    """A document read from a store, checked for form and for the model/env it was asked for.

    Only form: the signature is signature.py's, the comparison with git the host's.
    """
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # nested past the parser's depth
        raise BadDocument(where, "it is not JSON") from None
    if not isinstance(data, dict) or data.get(FORMAT_KEY) != FORMAT:
        raise BadDocument(where, f"it is not a {FORMAT_KEY} document of format {FORMAT}")
    signed = data.get("signed")
    if not isinstance(signed, str) or not signed:
        raise BadDocument(where, "it is not signed")
    headers, inner = split_signed(signed, where)
    if {k: data.get(k) for k in _FIELDS} != inner:
        raise BadDocument(where, "its fields differ from the ones its signature covers")
    doc = _document(inner, signed, where)
    if (doc.model, doc.env) != (model, env):
        raise BadDocument(where, f"it is the document of {doc.model} in {doc.env}, not of {model} in {env}")
    if headers.get("tag") != signed_name(model, env) or headers.get("type") != "tag":
        raise BadDocument(where, "its signed object is not this model's and environment's pointer")
    if headers.get("object") != doc.pointer.object:
        raise BadDocument(where, "its signed object points at another move than the one it names")
    return doc


def split_signed(signed: str, where: str) -> tuple[dict[str, str], dict[str, Any]]:
    """(headers, JSON message) of a signed tag object's text."""
    head, sep, rest = signed.partition("\n\n")
    if not sep:
        raise BadDocument(where, "its signed object is not a git tag object")
    headers: dict[str, str] = {}
    for line in head.splitlines():
        name, _, value = line.partition(" ")
        headers.setdefault(name, value)
    message = rest.split("-----BEGIN ", 1)[0]
    if "-----BEGIN " not in rest:
        raise BadDocument(where, "it is not signed")
    try:
        inner = json.loads(message)
    except (ValueError, RecursionError):
        raise BadDocument(where, "its signed message is not JSON") from None
    if not isinstance(inner, dict):
        raise BadDocument(where, "its signed message is not a JSON object")
    return headers, inner


def _document(data: dict[str, Any], signed: str, where: str) -> Document:
    try:
        model, env = parse_model(str(data["model"])), parse_stage(str(data["env"]))
        pointer = _parse_move(data, model, (env,), where)
        canary = data.get("canary")
        can = _parse_move(canary, model, (canary_stage(env),), where) if canary is not None else None
        seq = data["seq"]
        if isinstance(seq, bool) or not isinstance(seq, int):
            raise BadDocument(where, "seq is not a number")
        if seq != max(m.counter for m in (pointer, can) if m is not None):
            raise BadDocument(where, "seq is not the counter of the newest move it names")
        signer, published = data["signer"], data["published"]
        if not isinstance(signer, str) or not isinstance(published, str):
            raise BadDocument(where, "signer and published must be text")
    except (KeyError, TypeError):
        raise BadDocument(where, "a field is missing") from None
    except BadDocument:
        raise
    except GitModelError as exc:  # a name the rules of refs.py refuse
        raise BadDocument(where, exc.message) from None
    return Document(model, env, pointer, can, seq, signer, published, signed)


def _parse_move(data: Any, model: str, stages: tuple[str, ...], where: str) -> Move:
    if not isinstance(data, dict):
        raise BadDocument(where, "a move is not an object")
    tag, obj, commit, version = (data.get(k) for k in ("tag", "object", "commit", "version"))
    ref = parse_tag(tag) if isinstance(tag, str) else None
    if ref is None or ref.model != model or ref.stage not in stages or ref.counter is None:
        raise BadDocument(where, f"{tag!r} is not a move of {model} in {stages[0]}")
    for name, oid in (("object", obj), ("commit", commit)):
        if not isinstance(oid, str) or not _OID.match(oid):
            raise BadDocument(where, f"{name} of {tag} is not an object id")
    if version is not None and not isinstance(version, str):
        raise BadDocument(where, f"version of {tag} is not text")
    assert isinstance(tag, str) and isinstance(obj, str) and isinstance(commit, str)
    return Move(tag, obj, commit, version)
