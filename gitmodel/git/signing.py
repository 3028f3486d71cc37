"""Signed tags: git's own `tag -s` and `verify-tag`, SSH or OpenPGP, and git's verdict parsed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from gitmodel.errors import ConflictError
from gitmodel.git.process import last_line, out, run

_TRUE = ("true", "yes", "on", "1")


@dataclass(frozen=True)
class TagSignature:
    """git's verdict on one tag object, with the headers the signature covers."""

    tag: str  # the name written inside the tag object (not the ref it sits under)
    object: str
    type: str
    status: str  # good | unknown-key | bad | unsigned | error
    key: str | None  # SSH "SHA256:..." fingerprint or OpenPGP primary-key fingerprint
    principal: str | None  # SSH allowed-signers principal or OpenPGP user id
    format: str | None  # ssh | openpgp
    detail: str  # git's own line when not good


_SIGNATURE_STARTS = ("\n-----BEGIN SSH SIGNATURE-----\n", "\n-----BEGIN PGP SIGNATURE-----\n")


def has_signature(message: str) -> bool:
    """Whether a tag's %(contents) (as read_tags gives it) ends in a signature block."""
    text = "\n" + message
    return any(start in text for start in _SIGNATURE_STARTS)


def signing_configured(repo: Path) -> bool:
    """Whether the user asked git to sign: user.signingkey is set or tag.gpgSign is on."""
    proc = run(["config", "--get-regexp", r"^(user\.signingkey|tag\.gpgsign)$"], repo, check=False)
    for line in proc.stdout.splitlines():
        key, _, value = line.partition(" ")
        if key == "user.signingkey" and value.strip():
            return True
        if key == "tag.gpgsign" and value.strip().lower() in _TRUE:
            return True
    return False


def create_signed_object(repo: Path, name: str, target: str, message: str) -> str:
    """A signed tag object named `name` pointing at `target` (any object, a tag too),
    referenced by no tag: its caller files it under its own ref.

    git signs only through `git tag`, so the object is made under refs/tags/NAME and
    that ref removed at once; a concurrent `create_signed_object` of the same name
    meets git's "already exists" (a conflict, safe to retry).
    """
    ref = f"refs/tags/{name}"
    proc = run(
        ["-c", "advice.nestedTag=false", "tag", "-s", "-F", "-", name, target],
        repo,
        stdin=message,
        check=False,
    )
    if proc.returncode != 0:
        if "already exists" in proc.stderr:
            raise ConflictError(f"tag {name} is being written by another command; retry")
        raise signing_failed(name, proc.stderr)
    oid = out(["rev-parse", ref], repo)
    try:
        check_signed(repo, name, message)
    finally:
        run(["update-ref", "-d", ref, oid], repo, check=False)
    return oid


def check_signed(repo: Path, name: str, message: str) -> None:
    """git 2.39 writes the tag even when ssh-keygen fails, with ssh-keygen's error text
    where the signature belongs (and exits 0): take such a tag back and say so."""
    body = out(["for-each-ref", "--format=%(contents)", f"refs/tags/{name}"], repo)
    rest = body[len(message.rstrip("\n")) :].strip() if body.startswith(message.rstrip("\n")) else body
    if rest.startswith("-----BEGIN ") and rest.endswith(" SIGNATURE-----"):
        return
    run(["tag", "-d", name], repo, check=False)
    raise signing_failed(name, rest.splitlines()[0] if rest else "no signature was written")


def verify_tag(repo: Path, ref: str, allowed_signers: Path | None) -> TagSignature:
    """Check `ref`'s signature with `git verify-tag`; SSH keys are looked up in
    `allowed_signers` (passed with -c, so neither the user's config nor ours changes)."""
    config = ["-c", f"gpg.ssh.allowedSignersFile={allowed_signers}"] if allowed_signers else []
    proc = run([*config, "verify-tag", "-v", "--raw", ref], repo, check=False)
    headers = _tag_headers(proc.stdout)
    status, key, principal, fmt, detail = _verdict(proc.returncode, proc.stderr)
    if not headers.get("object"):  # no such tag object: nothing was verified
        status, detail = "error", last_line(proc.stderr)
    return TagSignature(
        headers.get("tag", ""),
        headers.get("object", ""),
        headers.get("type", ""),
        status,
        key,
        principal,
        fmt,
        detail,
    )


def _tag_headers(text: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in text.splitlines():
        if not line:
            break  # the message starts after the first blank line
        key, _, value = line.partition(" ")
        headers.setdefault(key, value)
    return headers


_SSH_GOOD = re.compile(r'^Good "git" signature (?:for (?P<who>.+) )?with \S+ key (?P<key>\S+)$')


def _verdict(code: int, stderr: str) -> tuple[str, str | None, str | None, str | None, str]:
    """(status, key, principal, format, detail) from verify-tag's stderr.

    OpenPGP speaks gpg's --status-fd lines (`[GNUPG:] VALIDSIG ...`); SSH speaks
    ssh-keygen's sentences.  "no signature found" is git's own word for unsigned.
    """
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    if any(ln == "error: no signature found" for ln in lines):
        return "unsigned", None, None, None, "no signature found"
    status = {
        ln.split()[1]: ln.split()[2:] for ln in lines if ln.startswith("[GNUPG:] ") and len(ln.split()) > 1
    }
    if status:
        uid = " ".join(status["GOODSIG"][1:]) if "GOODSIG" in status else None
        if "VALIDSIG" in status and code == 0:
            fields = status["VALIDSIG"]
            return "good", fields[-1].upper(), uid, "openpgp", ""
        if "ERRSIG" in status or "NO_PUBKEY" in status:
            keyid = (status.get("ERRSIG") or status.get("NO_PUBKEY") or [""])[0].upper() or None
            return "unknown-key", keyid, None, "openpgp", "key not in this keyring"
        word = next((w for w in ("BADSIG", "EXPKEYSIG", "REVKEYSIG", "EXPSIG") if w in status), "BADSIG")
        return "bad", None, uid, "openpgp", word
    for ln in lines:
        m = _SSH_GOOD.match(ln)
        if m:
            if m["who"] and code == 0:
                return "good", m["key"], m["who"], "ssh", ""
            return "unknown-key", m["key"], None, "ssh", "no principal matched"
    if any("Could not verify signature" in ln or "verification failed" in ln for ln in lines):
        return "bad", None, None, "ssh", last_line(stderr)
    return "error", None, None, None, last_line(stderr)


def signing_failed(name: str, stderr: str) -> Exception:
    from gitmodel.errors import UsageError

    return UsageError(
        f"could not sign tag {name}: {last_line(stderr)}; fix the key git signs with "
        "(`git config user.signingkey`, gpg.format) or unset it to write unsigned tags"
    )
