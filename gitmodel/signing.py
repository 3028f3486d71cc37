"""Signed moves on the promoter's side: approvals, and who signed what for `history`.

Moves are signed by git itself (`git tag -s`, gitmodel/git/) whenever the user set
user.signingkey or tag.gpgSign: SSH keys with gpg.format=ssh, OpenPGP otherwise.

An approval is its own signed tag object pointing at the move's tag object (so it
approves exactly that signature, target and name), filed under
refs/gitmodel/approvals/MOVE-TAG/OID.  Not a tag under refs/tags: GTO and `dvc
artifacts` would read a new tag form as a foreign or malformed stage event, and the
server hook refuses tags outside the grammar; refs under refs/gitmodel/ ride along with
every `fetch_tags` and mean nothing to other tools.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodel import git
from gitmodel.errors import PolicyError, UsageError
from gitmodel.records import Act, format_message
from gitmodel.refs import parse_model, parse_stage
from gitmodel.registry import Event, Registry
from gitmodel.trust import APPROVAL_PREFIX, APPROVALS, Trust, TrustFileError
from gitmodel.trust import load as load_trust

TRUST_ENV = "GITMODEL_TRUST_FILE"
DEFAULT_TRUST = Path("/etc/gitmodel/trust.yaml")


@dataclass(frozen=True)
class Approval:
    model: str
    env: str
    tag: str  # the move approved
    version: str | None
    ref: str  # where the approval is filed
    pushed: bool


def approve(repo: Path, name: str, env: str, *, push: bool = False) -> Approval:
    """Sign an approval of what ENV points at now: one more trusted key for exactly that
    move (production's second key, or a key vouching for a move signed before signing
    was turned on or with a key since retired)."""
    model, stage = parse_model(name), parse_stage(env)
    if not git.signing_configured(repo):
        raise UsageError(
            "an approval must be signed: set git config user.signingkey (and gpg.format ssh for "
            "an SSH key) first; see docs/security.md"
        )
    if push:
        git.fetch_tags(repo)
    state = Registry.load_model(repo, model)
    events = state.stage_events(stage)
    if not events:
        raise UsageError(f"{model} has no {stage} move to approve; promote a version first")
    move = events[-1]
    version = state.assignment_version(move)
    target = git.out(["rev-parse", f"refs/tags/{move.tag}"], repo)
    summary = f"gitmodel: approve {move.tag} ({model} {version} to {stage})"
    record = {"action": Act.APPROVE, "tag": move.tag, "version": str(version), "actor": git.identity(repo)}
    oid = git.create_signed_object(repo, APPROVAL_PREFIX + move.tag, target, format_message(summary, record))
    _refuse_own_move(repo, move.tag, oid)
    ref = f"{APPROVALS}{move.tag}/{oid}"
    git.update_ref(repo, ref, oid, git.ZERO)
    if push:
        try:
            git.push(repo, [ref])
        except BaseException:
            git.run(["update-ref", "-d", ref, oid], repo, check=False)
            raise
    return Approval(model, stage, move.tag, str(version) if version else None, ref, push)


def _refuse_own_move(repo: Path, tag: str, approval: str) -> None:
    """An approval by the key that signed the move adds nothing: say so now, not on a host."""
    with _empty_signers() as signers:
        mine = git.verify_tag(repo, approval, signers)
        theirs = git.verify_tag(repo, f"refs/tags/{tag}", signers)
    if mine.key and mine.key == theirs.key:
        raise PolicyError(
            f"{tag} is signed by your own key ({mine.key}); an approval must come from a "
            "different key: ask another trusted person to approve it"
        )


@contextmanager
def _empty_signers() -> Iterator[Path]:
    # SSH verification needs an allowed-signers file; an empty one still yields the key
    # fingerprint of a cryptographically valid signature ("No principal matched").
    import tempfile

    with tempfile.TemporaryDirectory(prefix="gitmodel-sig-") as tmp:
        path = Path(tmp) / "allowed_signers"
        path.write_text("")
        yield path


def signatures(repo: Path, events: Iterable[Event]) -> dict[str, dict[str, Any]]:
    """{tag: signature summary} for the signed ones among `events`; unsigned tags cost
    nothing (no process), signed ones one `git verify-tag` each, a few at a time."""
    signed = [(e.tag, f"refs/tags/{e.tag}") for e in events if git.has_signature(e.message)]
    return verify_objects(repo, signed)


def verify_objects(repo: Path, signed: list[tuple[str, str]]) -> dict[str, dict[str, Any]]:
    """{name: signature summary} for signed tag objects given as (the name the object must
    carry, its ref): tags, and records filed under refs/gitmodel/ (lifecycle/events.py)."""
    if not signed:
        return {}
    from concurrent.futures import ThreadPoolExecutor

    trust = reading_trust()
    with _signers(repo, trust) as signers, ThreadPoolExecutor(max_workers=min(4, len(signed))) as pool:
        checks = list(pool.map(lambda pair: git.verify_tag(repo, pair[1], signers), signed))
    return {name: summary(name, sig, trust) for (name, _), sig in zip(signed, checks, strict=True)}


def summary(tag: str, sig: git.TagSignature, trust: Trust | None) -> dict[str, Any]:
    status = sig.status
    if status == "good" and sig.tag != tag:
        status = "bad"  # a signature copied from another move
    signer = sig.principal
    if trust is not None and status == "good":
        signer = trust.name_of(sig) or signer
    return {
        "status": status,
        "signer": signer if status == "good" else None,
        "key": sig.key,
        "format": sig.format,
    }


def reading_trust() -> Trust | None:
    """The trust file to name signers by when reading (None: there is none here)."""
    configured = os.environ.get(TRUST_ENV)
    path = Path(configured) if configured else DEFAULT_TRUST
    if not configured and not os.path.lexists(path):
        return None
    try:
        return load_trust(path)
    except TrustFileError:
        return None  # reading never fails on it; hosts refuse on it


@contextmanager
def _signers(repo: Path, trust: Trust | None) -> Iterator[Path | None]:
    if trust is not None:
        with trust.signers_file() as path:
            yield path
    elif git.config_get(repo, "gpg.ssh.allowedSignersFile"):
        yield None  # the user's own list of whom they trust
    else:
        with _empty_signers() as path:
            yield path
