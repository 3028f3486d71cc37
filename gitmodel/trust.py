"""Who may move which environment: the trust file, and the one check of a signed move.

The trust file lives on the machine that checks (a host's /etc/gitmodel/trust.yaml, a
CI secret, the git server's own disk), never in the registry: whoever can push to the
registry could otherwise trust themselves.

    keys:                        # name: public key; the name is what `history` shows
      alice: ssh-ed25519 AAAAC3Nza... alice@laptop
      bob: ssh-ed25519 AAAAC3Nza... bob@laptop
      carol: openpgp:DF422D39C58F60D3CDC38C7F9457CF292C00D2E8   # in the checker's gpg keyring
    environments:                # the keys that may move each environment
      staging: [alice, bob, carol]
      production: [alice, bob]
    approvals:                   # optional: a production pointer needs 2 different keys,
      production: 2              # the move's signer and an approval by another one

`ENV-canary` (a canary of ENV) is governed by ENV's entry unless it has its own.
An approval is a tag object signed by another allowed key that points at the move's
own tag object, filed under refs/gitmodel/approvals/MOVE-TAG/ (gitmodel/signing.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodel import git
from gitmodel.errors import PolicyError
from gitmodel.refs import parse_tag

APPROVALS = "refs/gitmodel/approvals/"
APPROVAL_PREFIX = "approval/"  # the name written inside an approval's tag object
_SECTIONS = ("keys", "environments", "approvals")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")
_STAGE = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
_OPENPGP = re.compile(r"^openpgp:([0-9A-Fa-f]{40}|[0-9A-Fa-f]{64})$")
_SSH_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
HOW = "see docs/security.md, Signed moves and the host trust file"


class TrustFileError(PolicyError):
    """The trust file is missing, unreadable or malformed: nothing can be trusted."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(f"trust file {path} {why}; this host refuses to deploy until it is fixed ({HOW})")
        self.path = path


class UntrustedMove(PolicyError):
    """A move whose signature the trust file does not accept."""

    def __init__(self, tag: str, why: str) -> None:
        super().__init__(f"refusing {tag}: {why}")
        self.tag = tag
        self.why = why


@dataclass(frozen=True)
class Trust:
    path: Path
    keys: dict[str, str]  # name -> "TYPE BASE64" (SSH) or "openpgp:FINGERPRINT"
    environments: dict[str, tuple[str, ...]]
    approvals: dict[str, int]

    def allowed(self, env: str) -> tuple[str, ...] | None:
        """The key names that may move `env` (None: the file does not list it)."""
        if env in self.environments:
            return self.environments[env]
        base = env.removesuffix("-canary")
        return self.environments.get(base) if base != env else None

    def required(self, env: str) -> int:
        """How many different keys a pointer of `env` needs (its signer included)."""
        if env in self.approvals or env in self.environments:
            return self.approvals.get(env, 1)
        return self.approvals.get(env.removesuffix("-canary"), 1)

    def name_of(self, sig: git.TagSignature) -> str | None:
        """The trust file's name for a good signature's key."""
        if sig.status != "good":
            return None
        if sig.format == "ssh":  # the principal is the name we wrote into allowed-signers
            return sig.principal if sig.principal in self.keys else None
        fpr = (sig.key or "").upper()
        return next((n for n, k in self.keys.items() if k.upper() == f"OPENPGP:{fpr}"), None)

    def allowed_signers(self) -> str:
        """ssh-keygen's allowed-signers text: every SSH key, for git signatures only."""
        return "".join(
            f'{name} namespaces="git" {key}\n'
            for name, key in self.keys.items()
            if not key.startswith("openpgp:")
        )

    @contextmanager
    def signers_file(self) -> Iterator[Path]:
        """A private temporary allowed-signers file for one batch of `git verify-tag`."""
        import tempfile

        with tempfile.TemporaryDirectory(prefix="gitmodel-trust-") as tmp:
            path = Path(tmp) / "allowed_signers"
            path.write_text(self.allowed_signers())
            yield path


@dataclass(frozen=True)
class SignedMove:
    """A move the trust file accepts: who signed it and who approved it."""

    tag: str
    signer: str | None  # None: the move's own signature does not count, approvals carry it
    key: str | None
    approvers: tuple[str, ...] = ()


def load(path: Path) -> Trust:
    """Read and validate a trust file; any problem is a TrustFileError (never "trust all")."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TrustFileError(path, "does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise TrustFileError(path, f"cannot be read ({why})") from None
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise TrustFileError(path, f"is not valid YAML ({where}{problem})") from None
    return parse(path, data)


def parse(path: Path, data: Any) -> Trust:
    if not isinstance(data, Mapping):
        raise TrustFileError(path, "must be a mapping with keys: and environments:")
    unknown = sorted(str(k) for k in data if k not in _SECTIONS)
    if unknown:
        raise TrustFileError(path, f"has an unknown section {unknown[0]!r} (use {', '.join(_SECTIONS)})")
    keys = _keys(path, data.get("keys"))
    envs = _environments(path, data.get("environments"), keys)
    approvals = _approvals(path, data.get("approvals") or {}, envs)
    return Trust(path, keys, envs, approvals)


def _keys(path: Path, raw: Any) -> dict[str, str]:
    if not isinstance(raw, Mapping) or not raw:
        raise TrustFileError(path, "needs keys: a mapping of names to public keys")
    keys: dict[str, str] = {}
    seen: dict[str, str] = {}
    for name, value in raw.items():
        name = str(name)
        if not _NAME.match(name):
            raise TrustFileError(path, f"key name {name!r} is not a plain name (letters, digits, . _ @ + -)")
        key = _key(path, name, value)
        if key.upper() in seen:
            raise TrustFileError(path, f"keys {seen[key.upper()]} and {name} are the same key")
        seen[key.upper()] = name
        keys[name] = key
    return keys


def _key(path: Path, name: str, value: Any) -> str:
    text = str(value).strip() if isinstance(value, str) else ""
    m = _OPENPGP.match(text)
    if m:
        return f"openpgp:{m[1].upper()}"
    parts = text.split()
    if len(parts) >= 2 and parts[0] in _SSH_TYPES:
        import base64
        import binascii

        try:
            blob = base64.b64decode(parts[1], validate=True)
        except (binascii.Error, ValueError):
            blob = b""
        # An SSH public key blob starts with its own type name, length-prefixed.
        if blob[4 : 4 + len(parts[0])] == parts[0].encode():
            return f"{parts[0]} {parts[1]}"
    raise TrustFileError(
        path, f"keys.{name} is not a public key (paste a .pub line, or write openpgp:FINGERPRINT)"
    )


def _environments(path: Path, raw: Any, keys: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, Mapping) or not raw:
        raise TrustFileError(path, "needs environments: a mapping of environments to key names")
    envs: dict[str, tuple[str, ...]] = {}
    for env, names in raw.items():
        env = str(env)
        if not _STAGE.match(env):
            raise TrustFileError(path, f"environment {env!r} is not an environment name")
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list) or not names:
            raise TrustFileError(path, f"environments.{env} must list key names")
        for n in names:
            if str(n) not in keys:
                raise TrustFileError(path, f"environments.{env} names {n!r}, which keys: does not define")
        envs[env] = tuple(dict.fromkeys(str(n) for n in names))
    return envs


def _approvals(path: Path, raw: Any, envs: Mapping[str, tuple[str, ...]]) -> dict[str, int]:
    if not isinstance(raw, Mapping):
        raise TrustFileError(path, "approvals: must map environments to a number of keys")
    out: dict[str, int] = {}
    for env, count in raw.items():
        env = str(env)
        if env not in envs:
            raise TrustFileError(path, f"approvals.{env} names an environment environments: does not list")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise TrustFileError(path, f"approvals.{env} must be a whole number of keys (1 or more)")
        if count > len(envs[env]):
            raise TrustFileError(
                path, f"approvals.{env} asks for {count} keys but only {len(envs[env])} may move it"
            )
        out[env] = count
    return out


def check_move(repo: Path, tag: str, env: str, trust: Trust) -> SignedMove:
    """Accept `tag` (an assignment of `env`) only if the trust file does; else UntrustedMove.

    A move counts the different allowed keys that vouch for its exact tag object: its
    own signature and the approvals filed for it.  It needs `approvals: {ENV: N}` of
    them (1 by default).  A signature covers the whole tag object (target commit, tag
    name, message) and an approval points at the object's id, so a valid signature
    copied onto another target fails, and a tag filed under another ref name (an old
    move replayed as a new one) is caught by the name written inside it.
    """
    allowed = trust.allowed(env)
    if allowed is None:
        raise UntrustedMove(tag, f"{trust.path} lists no key that may move {env}; add {env} to it ({HOW})")
    need = trust.required(env)
    with trust.signers_file() as signers:
        sig = git.verify_tag(repo, f"refs/tags/{tag}", signers)
        if sig.object and sig.tag != tag:
            raise UntrustedMove(tag, f"it is a copy of the tag {sig.tag} filed under another name")
        signer, refusal = _signer(tag, env, trust, allowed, sig)
        if signer is not None and need == 1:
            return SignedMove(tag, signer, sig.key)  # the usual case: no approvals read
        approvers = _approvers(repo, tag, trust, allowed, signer, sig.key, signers)
    if (signer is not None) + len(approvers) >= need:
        return SignedMove(tag, signer, sig.key, approvers)
    if refusal is not None and not approvers:
        raise refusal
    raise UntrustedMove(tag, _short_of(tag, env, need, signer, refusal, approvers, allowed))


def _signer(
    tag: str, env: str, trust: Trust, allowed: tuple[str, ...], sig: git.TagSignature
) -> tuple[str | None, UntrustedMove | None]:
    """The allowed key that signed the move, or why its signature does not count."""
    try:
        return _accept(tag, env, trust, allowed, sig), None
    except UntrustedMove as refusal:
        return None, refusal


def _accept(tag: str, env: str, trust: Trust, allowed: tuple[str, ...], sig: git.TagSignature) -> str:
    who = ", ".join(allowed)
    if sig.status == "unsigned":
        raise UntrustedMove(tag, f"it is not signed and {trust.path} requires {env} moves signed by {who}")
    if sig.status == "bad":
        raise UntrustedMove(
            tag,
            "its signature does not match the tag (its target or text changed after signing); "
            f"move {env} again with a signed promote or rollback",
        )
    if sig.status == "unknown-key":
        raise UntrustedMove(tag, f"signed by {sig.key or 'a key'}, which {trust.path} does not list ({HOW})")
    if sig.status != "good":
        raise UntrustedMove(
            tag, f"its signature cannot be checked ({sig.detail}); fix gpg/ssh-keygen on this host"
        )
    name = trust.name_of(sig)
    if name is None:
        raise UntrustedMove(
            tag, f"signed by {sig.principal or sig.key}, which {trust.path} does not list ({HOW})"
        )
    if name not in allowed:
        raise UntrustedMove(tag, f"signed by {name}, who may not move {env} ({trust.path} allows {who})")
    return name


def _approvers(
    repo: Path,
    tag: str,
    trust: Trust,
    allowed: tuple[str, ...],
    signer: str | None,
    signer_key: str | None,
    signers: Path,
) -> tuple[str, ...]:
    """Allowed keys other than the move's signer that approved exactly this tag object."""
    move = git.ref_value(repo, f"refs/tags/{tag}")
    names: list[str] = []
    for ref in git.refs_under(repo, f"{APPROVALS}{tag}/"):
        sig = git.verify_tag(repo, ref, signers)
        name = trust.name_of(sig)
        if (
            sig.type == "tag"
            and sig.object == move
            and sig.tag == APPROVAL_PREFIX + tag
            and name in allowed
            and name != signer
            and sig.key != signer_key
        ):
            names.append(name)
    return tuple(dict.fromkeys(names))


def _short_of(
    tag: str,
    env: str,
    need: int,
    signer: str | None,
    refusal: UntrustedMove | None,
    approvers: tuple[str, ...],
    allowed: tuple[str, ...],
) -> str:
    ref = parse_tag(tag)
    model = ref.model.replace(":", "/") if ref else "NAME"
    others = ", ".join(a for a in allowed if a != signer and a not in approvers)
    if signer is not None:
        by = ", ".join(approvers) if approvers else f"no key other than {signer}'s"
        have = f"it is signed by {signer}, approved by {by}"
    else:
        why = refusal.why if refusal is not None else "its signature does not count"
        have = f"{why}; approved by {', '.join(approvers)} only"
    return (
        f"{env} needs {need} different trusted keys and {have}; "
        f"ask {others or 'another trusted key holder'} to run `gitmodel approve {model} {env} --push`"
    )
