"""The only module that runs git.

Plumbing is run directly with subprocess: each read is one process, and importing
GitPython (~120 ms) would cost more than the reads themselves (shared/FACTS.md).
Ref changes rely on git's own compare-and-swap: `git tag` refuses an existing name,
`git update-ref` takes the expected old value, `git push --atomic` lands all or none.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess  # noqa: TID251 - this module is the one door to git
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gitmodel.errors import ConflictError, GitFailed, NotARegistry, RemoteUnreachable

ZERO = "0" * 40

# Network calls (fetch, push, ls-remote) end after this many seconds: an origin that
# accepts the connection and never answers must not hang a deploy or the agent.
TIMEOUT_ENV = "GITMODEL_GIT_TIMEOUT"
DEFAULT_TIMEOUT = 30.0
# Two fetches into one clone race on ref locks; the loser retries instead of reporting
# an outage (origin is fine).
_LOCK_RETRIES = 5
_LOCK_SIGNS = ("cannot lock ref", ".lock': File exists", "unable to update local ref")

# One for-each-ref pass gives every tag's name, target and annotation.
_FIELDS = [
    "%(refname:strip=2)",
    "%(objecttype)",
    "%(*objectname)",
    "%(taggername)",
    "%(taggeremail)",
    "%(taggerdate:unix)",
    "%(contents)",
]
_FORMAT = "%00".join(_FIELDS) + "%00"
# The same fields with an empty annotation: a listing needs no records (5x less output).
_FORMAT_NO_BODY = "%00".join(_FIELDS[:-1]) + "%00%00"


@dataclass(frozen=True)
class TagRecord:
    name: str
    commit: str
    tagger: str
    email: str
    time: int
    message: str


def run(
    args: Sequence[str],
    cwd: Path | str,
    *,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    check: bool = True,
    timeout: float | None = None,
    remote: str = "origin",
) -> subprocess.CompletedProcess[str]:
    """Run git; with `timeout`, a git that has not finished by then is killed with every
    process it started (ssh, remote helpers) and RemoteUnreachable names `remote`."""
    full_env = None if env is None else {**os.environ, **env}
    # Its own process group, so that a timeout (or Ctrl-C) ends git's helpers too.
    proc = subprocess.Popen(
        ["git", *args],
        cwd=cwd,
        env=full_env,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=timeout is not None,
    )
    try:
        stdout, stderr = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise RemoteUnreachable(
            f"{remote} did not answer within {timeout:g} s (git {args[0]}); nothing was changed here: "
            f"check the remote and your network, or allow longer with {TIMEOUT_ENV}=SECONDS"
        ) from None
    except BaseException:
        _kill_group(proc)
        raise
    done = subprocess.CompletedProcess(["git", *args], proc.returncode, stdout, stderr)
    if check and done.returncode != 0:
        raise GitFailed(list(args), stderr)
    return done


def _kill_group(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.communicate()


def network_timeout() -> float:
    """Seconds a fetch, push or ls-remote may take: GITMODEL_GIT_TIMEOUT, else 30."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value != value or value == float("inf"):
        from gitmodel.errors import UsageError

        raise UsageError(f"{TIMEOUT_ENV}={raw!r} is not a number of seconds; set it to e.g. 30")
    return value


def _network(args: Sequence[str], repo: Path, remote: str) -> subprocess.CompletedProcess[str]:
    return run(args, repo, check=False, timeout=network_timeout(), remote=remote)


def out(args: Sequence[str], cwd: Path | str, **kw: object) -> str:
    return run(args, cwd, **kw).stdout.strip()  # type: ignore[arg-type]


def toplevel(cwd: Path | str) -> Path:
    proc = run(["rev-parse", "--show-toplevel"], cwd, check=False)
    if proc.returncode != 0:
        raise NotARegistry(f"{Path(cwd).resolve()} is not inside a git repository; run `git init` first")
    return Path(proc.stdout.strip())


def git_dir(repo: Path) -> Path:
    """The common git directory (shared by worktrees)."""
    return (repo / out(["rev-parse", "--git-common-dir"], repo)).resolve()


def read_tags(repo: Path, *patterns: str, messages: bool = True) -> list[TagRecord]:
    """Annotated tags matching `patterns` (all tags when none) with peeled commit and
    annotation (empty without `messages`); lightweight tags skipped.  Patterns are
    for-each-ref's (`refs/tags/x@*`)."""
    fmt = _FORMAT if messages else _FORMAT_NO_BODY
    raw = run(["for-each-ref", f"--format={fmt}", *(patterns or ["refs/tags"])], repo).stdout
    fields = raw.split("\0")
    records = []
    width = len(_FIELDS)
    for i in range(0, len(fields) - width + 1, width):
        name, otype, peeled, tagger, email, when, body = fields[i : i + width]
        if otype != "tag" or not peeled:
            continue
        records.append(TagRecord(name.lstrip("\n"), peeled, tagger, email, int(when or 0), body))
    return records


def tag_list(repo: Path) -> list[str]:
    """Tag names only: no tag object is read, so this is cheap even at 100k tags."""
    return out(["for-each-ref", "--format=%(refname:strip=2)", "refs/tags"], repo).splitlines()


def show(repo: Path, rev: str, path: str) -> str | None:
    proc = run(["show", f"{rev}:{path}"], repo, check=False)
    return proc.stdout if proc.returncode == 0 else None


def head(repo: Path) -> str | None:
    proc = run(["rev-parse", "--verify", "-q", "HEAD"], repo, check=False)
    return proc.stdout.strip() or None


def branch(repo: Path) -> str | None:
    proc = run(["symbolic-ref", "--short", "-q", "HEAD"], repo, check=False)
    return proc.stdout.strip() or None


def identity(repo: Path) -> str:
    """`Name <email>` of whoever git would record as committer here."""
    proc = run(["var", "GIT_COMMITTER_IDENT"], repo, check=False)
    if proc.returncode != 0:
        raise GitFailed(
            ["var", "GIT_COMMITTER_IDENT"], proc.stderr + "\nset git config user.name and user.email"
        )
    ident = proc.stdout.strip()
    return ident[: ident.rindex(">") + 1] if ">" in ident else ident


def add(repo: Path, paths: Sequence[str]) -> None:
    run(["add", "--", *paths], repo)


def commit(repo: Path, message: str, paths: Sequence[str]) -> str:
    """Commit exactly `paths` (other staged changes stay staged) and return the new id."""
    run(["add", "-A", "--", *paths], repo)
    run(["commit", "-q", "--no-verify", "-F", "-", "--only", "--", *paths], repo, stdin=message)
    return out(["rev-parse", "HEAD"], repo)


def create_tag(repo: Path, name: str, target: str, message: str, *, sign: bool = False) -> None:
    """Create an annotated tag (signed with the user's key when `sign`); git itself
    refuses a name that exists."""
    proc = run(["tag", "-s" if sign else "-a", "-F", "-", name, target], repo, stdin=message, check=False)
    if proc.returncode != 0:
        if "already exists" in proc.stderr:
            raise ConflictError(f"tag {name} already exists; refresh with `git fetch --tags` and retry")
        if sign:
            raise _signing_failed(name, proc.stderr)
        raise GitFailed(["tag", name], proc.stderr)
    if sign:
        _check_signed(repo, name, message)


def is_ancestor(repo: Path, older: str, newer: str) -> bool:
    return run(["merge-base", "--is-ancestor", older, newer], repo, check=False).returncode == 0


def delete_tag(repo: Path, name: str) -> None:
    run(["tag", "-d", name], repo, check=False)


def update_ref(repo: Path, ref: str, new: str, old: str) -> None:
    run(["update-ref", ref, new, old], repo)


def ref_value(repo: Path, ref: str) -> str | None:
    proc = run(["rev-parse", "--verify", "-q", ref], repo, check=False)
    return proc.stdout.strip() or None


def has_remote(repo: Path, remote: str = "origin") -> bool:
    return run(["remote", "get-url", remote], repo, check=False).returncode == 0


def push(
    repo: Path,
    refspecs: Sequence[str],
    remote: str = "origin",
    leases: Mapping[str, str] | None = None,
) -> None:
    """Push all refspecs atomically; a rejected ref is a conflict, a dead remote exit 4.

    `leases` maps a remote ref to the value it must still have ("" = must not exist):
    git's own compare-and-swap, checked by the remote inside the atomic push.
    """
    lease_args = [f"--force-with-lease={ref}:{old}" for ref, old in (leases or {}).items()]
    proc = _network(["push", "--atomic", "--porcelain", *lease_args, remote, *refspecs], repo, remote)
    if proc.returncode == 0:
        return
    # --porcelain prints one status line per ref; "!" marks a refused one.  No status
    # lines at all means we never got to talk to the remote.
    refused = [ln for ln in proc.stdout.splitlines() if ln.startswith("!")]
    text = proc.stdout + proc.stderr
    if "hook declined" in text or "pre-receive hook" in text:
        raise _hook_refusal(text)
    if refused:
        detail = next((ln for ln in refused if "atomic push failed" not in ln), refused[0])
        raise ConflictError(
            f"origin refused the push ({detail[1:].strip()}); someone else changed it first: "
            "run `git pull --rebase` (or `git fetch --tags`) and retry"
        )
    raise RemoteUnreachable(
        f"could not push to {remote}: {_last_line(proc.stderr)}; check the remote and your network"
    )


def fetch_tags(repo: Path, remote: str = "origin") -> None:
    """Fetch every tag and gitmodel's own refs (refs/gitmodel/*, mirrored as they are).

    Not quiet: with -q git says nothing about a tag it refused to clobber.
    """
    args = ["fetch", "--tags", remote, "+refs/gitmodel/*:refs/gitmodel/*"]
    for attempt in range(_LOCK_RETRIES + 1):
        proc = _network(args, repo, remote)
        if proc.returncode == 0:
            return
        if not any(sign in proc.stderr for sign in _LOCK_SIGNS) or attempt == _LOCK_RETRIES:
            break
        # Another fetch into this clone holds a ref lock; it is nearly done.
        time.sleep(0.05 * 2**attempt)
    if any(sign in proc.stderr for sign in _LOCK_SIGNS):
        held = re.search(r"Unable to create '([^']+\.lock)': File exists", proc.stderr)
        what = f"{held.group(1)} is held" if held else "a ref kept changing under it"
        raise ConflictError(
            f"could not update this clone's refs from {remote}: {what} (another git is running in "
            "this clone, or one was killed); retry, and remove the .lock file if no git runs here"
        )
    clobbered = [ln for ln in proc.stderr.splitlines() if "would clobber existing tag" in ln]
    if clobbered:
        tag = clobbered[0].split("->")[-1].split("(")[0].strip()
        raise ConflictError(
            f"origin's tag {tag} differs from this clone's (a move made here that never reached "
            f"origin lost to another): drop yours with `git tag -d {tag}` and redo the move"
        )
    raise RemoteUnreachable(f"could not fetch from {remote}: {_last_line(proc.stderr)}")


def _last_line(text: str) -> str:
    """git's own diagnosis: its `fatal:` line when there is one, else the last line."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    fatal = [ln for ln in lines if ln.startswith("fatal:")]
    return (fatal or lines or ["no output"])[-1 if not fatal else 0]


def _hook_refusal(text: str) -> Exception:
    from gitmodel.errors import PolicyError

    msgs = [ln.removeprefix("remote:").strip() for ln in text.splitlines() if ln.startswith("remote:")]
    detail = "; ".join(m for m in msgs if m) or _last_line(text)
    return PolicyError(f"origin's hooks refused the push: {detail}")


def restore_paths(repo: Path, rev: str | None, paths: Sequence[str]) -> None:
    """Put `paths` back as they were at `rev` in index and work tree; remove ones it lacked."""
    for path in paths:
        existed = (
            rev is not None and run(["cat-file", "-e", f"{rev}:{path}"], repo, check=False).returncode == 0
        )
        if existed:
            run(["checkout", "-q", str(rev), "--", path], repo)
        else:
            run(["rm", "-q", "-r", "--cached", "--ignore-unmatch", "--", path], repo)
            target = repo / path
            if target.is_file() or target.is_symlink():
                target.unlink()


def reset_head(repo: Path, old: str | None, new: str) -> None:
    """Move HEAD's branch back from `new` to `old` (only if it still points at `new`)."""
    ref = out(["symbolic-ref", "-q", "HEAD"], repo) or "HEAD"
    if old is None:
        run(["update-ref", "-d", ref, new], repo)
    else:
        update_ref(repo, ref, old, new)


# --- Hooks: batch reads for the policy hooks (gitmodel/hooks) ---------------------
# A hook runs on every commit and push, so each helper below is one git process
# however many objects or paths it is asked about.


@dataclass(frozen=True)
class ObjectInfo:
    oid: str
    type: str
    size: int


@dataclass(frozen=True)
class StagedChange:
    status: str  # A, M, D, T (renames are reported as D + A)
    path: str
    mode: str  # the staged mode ("000000" when deleted)
    oid: str  # the staged blob (ZERO when deleted)


def run_bytes(args: Sequence[str], cwd: Path | str, stdin: bytes = b"") -> bytes:
    """Run git with binary stdin/stdout (blob contents need exact byte counts)."""
    proc = subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, check=False)
    if proc.returncode != 0:
        raise GitFailed(list(args), proc.stderr.decode(errors="replace"))
    return proc.stdout


def object_info(repo: Path, specs: Sequence[str]) -> list[ObjectInfo | None]:
    """Type and size of many objects (`oid`, `rev:path`, `oid^{commit}`); None if missing."""
    if not specs:
        return []
    text = "".join(f"{s}\n" for s in specs)
    lines = run(["cat-file", "--batch-check"], repo, stdin=text).stdout.splitlines()
    result: list[ObjectInfo | None] = []
    for line in lines:
        parts = line.split(" ")
        if len(parts) == 3 and parts[2].isdigit():
            result.append(ObjectInfo(parts[0], parts[1], int(parts[2])))
        else:  # "<spec> missing" or "<spec> ambiguous"
            result.append(None)
    return result


def read_blobs(repo: Path, specs: Sequence[str]) -> list[bytes | None]:
    """Contents of many objects in one `cat-file --batch`; None for a missing one."""
    if not specs:
        return []
    data = run_bytes(["cat-file", "--batch"], repo, "".join(f"{s}\n" for s in specs).encode())
    result: list[bytes | None] = []
    pos = 0
    for _ in specs:
        end = data.index(b"\n", pos)
        header = data[pos:end].split(b" ")
        pos = end + 1
        if len(header) == 3 and header[2].isdigit():
            size = int(header[2])
            result.append(data[pos : pos + size])
            pos += size + 1  # the contents are followed by a newline
        else:
            result.append(None)
    return result


def staged_changes(repo: Path) -> list[StagedChange]:
    """What the next commit changes: the index against HEAD (an empty tree before the first)."""
    base = head(repo)
    if base is None:
        base = out(["hash-object", "-t", "tree", "--stdin"], repo, stdin="")
    raw = run(["diff-index", "--cached", "--raw", "-z", "--no-renames", base], repo).stdout
    fields = raw.split("\0")
    changes = []
    for i in range(0, len(fields) - 1, 2):
        meta, path = fields[i], fields[i + 1]
        _old_mode, new_mode, _old, new, status = meta.lstrip(":").split(" ")
        changes.append(StagedChange(status[:1], path, new_mode, new))
    return changes


def index_entries(repo: Path, folders: Sequence[str]) -> dict[str, str]:
    """Staged blob id of every file under `folders` (paths relative to the repo)."""
    raw = run(["ls-files", "-s", "-z", "--", *folders], repo).stdout
    entries = {}
    for item in filter(None, raw.split("\0")):
        meta, path = item.split("\t", 1)
        entries[path] = meta.split(" ")[1]
    return entries


def tree_entries(repo: Path, rev: str, folder: str) -> dict[str, str]:
    """Blob id of every file directly in `folder` at `rev` (empty if it has no such folder)."""
    proc = run(["ls-tree", "-z", rev, "--", folder.rstrip("/") + "/"], repo, check=False)
    entries = {}
    for item in filter(None, proc.stdout.split("\0")):
        meta, path = item.split("\t", 1)
        _mode, otype, oid = meta.split(" ")
        if otype == "blob":
            entries[path] = oid
    return entries


def git_path(repo: Path, name: str) -> Path:
    """Where git keeps `name` for this repo: honours core.hooksPath and worktrees."""
    return (Path(repo) / out(["rev-parse", "--git-path", name], repo)).absolute()


def symbolic_head(repo: Path) -> str | None:
    """The full ref HEAD names (e.g. refs/heads/main), also in a bare repository."""
    proc = run(["symbolic-ref", "-q", "HEAD"], repo, check=False)
    return proc.stdout.strip() or None


def config_get(repo: Path, key: str) -> str | None:
    proc = run(["config", "--get", key], repo, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def config_set(repo: Path, key: str, value: str | None) -> None:
    """Set a key in the repository's own config (None unsets it)."""
    if value is None:
        run(["config", "--unset-all", key], repo, check=False)
    else:
        run(["config", key, value], repo)


def ls_remote_tags(repo: Path, remote: str = "origin") -> set[str]:
    """Names of the tags `remote` has: one round trip, no objects transferred."""
    proc = _network(["ls-remote", "--tags", "--refs", remote], repo, remote)
    if proc.returncode != 0:
        raise RemoteUnreachable(f"could not list the tags of {remote}: {_last_line(proc.stderr)}")
    return {
        line.split("\t", 1)[1].removeprefix("refs/tags/") for line in proc.stdout.splitlines() if "\t" in line
    }


def tag_names(repo: Path) -> set[str]:
    """Names of every local tag, lightweight ones included."""
    return set(out(["for-each-ref", "--format=%(refname:strip=2)", "refs/tags"], repo).splitlines())


def remote_refs(repo: Path, refs: Sequence[str], remote: str = "origin") -> set[str]:
    """Which of `refs` (full names) `remote` has: one round trip, no objects transferred."""
    proc = _network(["ls-remote", remote, *refs], repo, remote)
    if proc.returncode != 0:
        raise RemoteUnreachable(f"could not read the refs of {remote}: {_last_line(proc.stderr)}")
    return {line.split("\t", 1)[1] for line in proc.stdout.splitlines() if "\t" in line}


# --- Signing: git's own `tag -s` and `verify-tag`, SSH or OpenPGP ------------------
# Whatever key and format the user configured (user.signingkey, gpg.format) is git's
# business; gitmodel only asks for a signature and reads git's verdict.

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
        raise _signing_failed(name, proc.stderr)
    oid = out(["rev-parse", ref], repo)
    try:
        _check_signed(repo, name, message)
    finally:
        run(["update-ref", "-d", ref, oid], repo, check=False)
    return oid


def _check_signed(repo: Path, name: str, message: str) -> None:
    """git 2.39 writes the tag even when ssh-keygen fails, with ssh-keygen's error text
    where the signature belongs (and exits 0): take such a tag back and say so."""
    body = out(["for-each-ref", "--format=%(contents)", f"refs/tags/{name}"], repo)
    rest = body[len(message.rstrip("\n")) :].strip() if body.startswith(message.rstrip("\n")) else body
    if rest.startswith("-----BEGIN ") and rest.endswith(" SIGNATURE-----"):
        return
    run(["tag", "-d", name], repo, check=False)
    raise _signing_failed(name, rest.splitlines()[0] if rest else "no signature was written")


def refs_under(repo: Path, prefix: str) -> list[str]:
    """Full names of the refs below `prefix` (a folder such as refs/gitmodel/approvals/X)."""
    return out(["for-each-ref", "--format=%(refname)", prefix.rstrip("/")], repo).splitlines()


def verify_tag(repo: Path, ref: str, allowed_signers: Path | None) -> TagSignature:
    """Check `ref`'s signature with `git verify-tag`; SSH keys are looked up in
    `allowed_signers` (passed with -c, so neither the user's config nor ours changes)."""
    config = ["-c", f"gpg.ssh.allowedSignersFile={allowed_signers}"] if allowed_signers else []
    proc = run([*config, "verify-tag", "-v", "--raw", ref], repo, check=False)
    headers = _tag_headers(proc.stdout)
    status, key, principal, fmt, detail = _verdict(proc.returncode, proc.stderr)
    if not headers.get("object"):  # no such tag object: nothing was verified
        status, detail = "error", _last_line(proc.stderr)
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
        return "bad", None, None, "ssh", _last_line(stderr)
    return "error", None, None, None, _last_line(stderr)


def _signing_failed(name: str, stderr: str) -> Exception:
    from gitmodel.errors import UsageError

    return UsageError(
        f"could not sign tag {name}: {_last_line(stderr)}; fix the key git signs with "
        "(`git config user.signingkey`, gpg.format) or unset it to write unsigned tags"
    )


def remote_ref_values(repo: Path, patterns: Sequence[str], remote: str = "origin") -> dict[str, str]:
    """Full ref name -> object id for the refs of `remote` matching `patterns` (one round trip)."""
    proc = _network(["ls-remote", "--refs", remote, *patterns], repo, remote)
    if proc.returncode != 0:
        raise RemoteUnreachable(f"could not read the refs of {remote}: {_last_line(proc.stderr)}")
    pairs = (line.split("\t", 1) for line in proc.stdout.splitlines() if "\t" in line)
    return {name: oid for oid, name in pairs}
