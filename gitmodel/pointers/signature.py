"""Whether a pointer document's signature is one the checker's trust file accepts.

The signed part is a git tag object, so git checks it: the object is stored in a scratch
repository (the host's own clone is not written to) and `git verify-tag` judges it with
the trust file's keys, exactly as it judges a move (gitmodel/trust.py).  Any key that
may move the environment may publish its document; what the move itself needs (its own
signer, approvals) is checked on the move, from git, before anything is deployed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from gitmodel import git
from gitmodel.errors import GitModelError
from gitmodel.pointers.document import BadDocument, Document, signed_name
from gitmodel.trust import HOW, Trust


def check(doc: Document, trust: Trust, where: str) -> str:
    """The trust file's name for the key that signed `doc`, or BadDocument saying why not."""
    allowed = trust.allowed(doc.env)
    if allowed is None:
        raise BadDocument(where, f"{trust.path} lists no key that may move {doc.env} ({HOW})")
    with tempfile.TemporaryDirectory(prefix="gitmodel-pointer-") as tmp:
        scratch = Path(tmp)
        git.run(["init", "-q", "--bare", str(scratch)], scratch)
        try:
            oid = git.run_bytes(["hash-object", "-t", "tag", "-w", "--stdin"], scratch, doc.signed.encode())
        except GitModelError:
            raise BadDocument(where, "its signed part is not a git tag object") from None
        with trust.signers_file() as signers:
            sig = git.verify_tag(scratch, oid.decode().strip(), signers)
    if sig.status == "unsigned":
        raise BadDocument(where, "it is not signed")
    if sig.status == "bad":
        raise BadDocument(where, "its signature does not match its content (changed after signing)")
    if sig.status == "unknown-key":
        raise BadDocument(where, f"it is signed by {sig.key or 'a key'}, which {trust.path} does not list")
    if sig.status != "good":
        raise BadDocument(where, f"its signature cannot be checked ({sig.detail}); fix gpg/ssh-keygen here")
    if sig.tag != signed_name(doc.model, doc.env) or sig.object != doc.pointer.object:
        raise BadDocument(where, "its signature covers another model's, environment's or move's document")
    name = trust.name_of(sig)
    if name is None:
        raise BadDocument(
            where, f"it is signed by {sig.principal or sig.key}, which {trust.path} does not list"
        )
    if name not in allowed:
        raise BadDocument(where, f"it is signed by {name}, who may not move {doc.env} ({trust.path})")
    return name
