"""The one door for paths, names and hashes that come from repo data (docs/security.md).

Whoever can push to origin or write to the DVC remote writes model.yaml, .dvc
pointers and DVC's .dir manifests.  Nothing read from them becomes a path, a file
name or a cache location without passing here first, and this module accepts only
what gitmodel itself writes:

- a path is relative, POSIX, normalised (no '', '.' or '..' parts), without
  backslashes, control characters or bidi marks, and of bounded length;
- an artifact is one name, not one of the names gitmodel or DVC reserve;
- a DVC md5 is 32 lowercase hex digits (plus '.dir' for a folder), a file digest
  'sha256:' and 64 of them;
- a folder lists each path once, and no path is both a file and a folder.
Everything else is refused with one line naming the field (exit 1).  `join` is the
only way to turn such a path into a filesystem path.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from gitmodel.errors import PolicyError
from gitmodel.hostlayout import CHECKS, MANIFEST, PROMPTS

MAX_PATH_BYTES = 1024
MAX_NAME_BYTES = 255  # ext4's limit for one name
# Names an artifact may not take: what the host writes beside it in versions/vX.Y.Z/
# (gitmodel's manifest, the checks' copy), and what the model folder in git holds beside
# it (metadata, checks, pointers, DVC's and git's own files).
RESERVED_NAMES = frozenset(
    {
        MANIFEST,
        CHECKS,
        PROMPTS,
        "model.yaml",
        "checks.yaml",
        "prompts",  # the version's prompt templates (gitmodel/prompts.py)
        "dvc.yaml",
        "dvc.lock",
        "gitmodel.yaml",
        ".gitignore",
        ".dvcignore",
        ".gitattributes",
        ".dvc",
        ".git",
    }
)
RESERVED_SUFFIX = ".dvc"
KINDS = ("file", "directory")

# One name: no '/', '\\', NUL, C0/C1 control characters or DEL, and no bidi marks or
# line separators (they make a name display as another: "evil\u202efsg.gguf").
_NAME = re.compile(r"[^/\\\x00-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069]+")
# A whole sound path in one match (the common case: a 10,000-file folder is checked
# ~20,000 times per deploy); anything it rejects gets the part-by-part diagnosis.
_PART = rf"(?!\.\.?(?:/|\Z))[^/\\\x00-\x1f\x7f-\x9f]{{1,{MAX_NAME_BYTES}}}"
_SOUND = re.compile(rf"{_PART}(?:/{_PART})*")
_MD5 = re.compile(r"[0-9a-f]{32}")
_SHA256 = re.compile(r"sha256:[0-9a-f]{64}")
_SHOWN = 80


HAND_EDITED = (
    "gitmodel writes no such value, so the registry was edited by hand: register the "
    "version again with `gitmodel register`"
)


class UntrustedData(PolicyError):
    """A path, name or hash from repo data that the contract does not allow."""

    def __init__(self, field: str, value: object, rule: str, fix: str = HAND_EDITED) -> None:
        super().__init__(f"{field} {_show(value)} is refused: {rule}; {fix}")
        self.field = field
        self.value = value
        self.rule = rule


def _show(value: object) -> str:
    # repr escapes control characters, so the refusal stays one line and inert.
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def relpath(value: object, field: str) -> str:
    """A relative, normalised POSIX path; returned unchanged when it is one."""
    # ASCII: characters are bytes, so the pattern's length bounds are byte bounds.
    if (
        isinstance(value, str)
        and len(value) <= MAX_PATH_BYTES
        and value.isascii()
        and _SOUND.fullmatch(value)
    ):
        return value
    if not isinstance(value, str):
        raise UntrustedData(field, value, "a path must be a string")
    if not value:
        raise UntrustedData(field, value, "a path must not be empty")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise UntrustedData(field, value, f"a path must be at most {MAX_PATH_BYTES} bytes")
    if value.startswith("/"):
        raise UntrustedData(field, value, "a path must be relative, not absolute")
    for part in value.split("/"):
        _part(part, value, field)
    return value


def _part(part: str, value: str, field: str) -> None:
    if part in ("", ".", ".."):
        shown = repr(part) if part else "an empty part ('//' or a trailing '/')"
        raise UntrustedData(field, value, f"{shown} is not allowed in a path")
    if not _NAME.fullmatch(part):
        raise UntrustedData(
            field, value, "backslashes, control characters and bidi marks are not allowed in a path"
        )
    if len(part.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise UntrustedData(field, value, f"a name must be at most {MAX_NAME_BYTES} bytes")


def name(value: object, field: str) -> str:
    """One file or folder name (a path of one part)."""
    text = relpath(value, field)
    if "/" in text:
        raise UntrustedData(field, value, "must be one name, without '/'")
    return text


def artifact_name(value: object, field: str) -> str:
    """The artifact's name: one name that gitmodel, git and DVC do not use themselves."""
    text = name(value, field)
    if text in RESERVED_NAMES or text.endswith(RESERVED_SUFFIX):
        raise UntrustedData(field, value, "that name is reserved for gitmodel's, git's or DVC's own files")
    return text


def dvc_md5(value: object, field: str, *, folder: bool | None = None) -> str:
    """DVC's md5: 32 lowercase hex digits, '.dir' after them for a folder.

    folder=True/False demands one form; None accepts either.
    """
    if not isinstance(value, str):
        raise UntrustedData(field, value, "an md5 must be a string")
    is_dir = value.endswith(".dir")
    digits = value[:-4] if is_dir else value
    if not _MD5.fullmatch(digits):
        raise UntrustedData(
            field, value, "an md5 is 32 lowercase hex digits ('.dir' after them for a folder)"
        )
    if folder is not None and is_dir != folder:
        rule = "a folder's md5 ends in '.dir'" if folder else "a file's md5 has no '.dir'"
        raise UntrustedData(field, value, rule)
    return value


def sha256(value: object, field: str) -> str:
    if not isinstance(value, str) or not _SHA256.fullmatch(value):
        raise UntrustedData(field, value, "a digest is 'sha256:' and 64 lowercase hex digits")
    return value


def distinct(paths: list[str], field: str) -> None:
    """Each path once, and none both a file and a folder (`a` beside `a/b`)."""
    seen: set[str] = set()
    for path in paths:
        if path in seen:
            raise UntrustedData(field, path, "the same path is listed twice")
        seen.add(path)
    for path in paths:
        cut = path.find("/")
        while cut != -1:
            if path[:cut] in seen:
                raise UntrustedData(field, path, f"{path[:cut]!r} is listed as a file and used as a folder")
            cut = path.find("/", cut + 1)


def dir_entries(entries: object, field: str) -> dict[str, str]:
    """A DVC .dir manifest (a JSON list of {relpath, md5}) as relpath -> file md5."""
    if not isinstance(entries, list):
        raise UntrustedData(field, type(entries).__name__, "a folder manifest is a list of entries")
    paths: list[str] = []
    md5s: list[str] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise UntrustedData(f"{field}[{i}]", entry, "an entry is an object with relpath and md5")
        paths.append(relpath(entry.get("relpath"), f"{field}[{i}].relpath"))
        md5s.append(dvc_md5(entry.get("md5"), f"{field}[{i}].md5", folder=False))
    distinct(paths, f"{field} relpath")
    return dict(zip(paths, md5s, strict=True))


def artifact_files(files: object, field: str) -> dict[str, str]:
    """model.yaml's artifact.files: relative path -> 'sha256:...', no path twice or nested."""
    if not isinstance(files, Mapping) or not files:
        raise UntrustedData(field, files, "must map each file's path to its 'sha256:...' digest")
    checked = {relpath(k, f"{field} key"): sha256(v, f"{field}[{k!r}]") for k, v in files.items()}
    distinct(list(checked), f"{field} key")
    return checked


def version_artifact(meta: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The path, kind, md5 and files of model.yaml's artifact, each through the door.

    `where` names the document (e.g. "support@v1.2.0 model.yaml"); returns the checked
    fields: path, kind, dvc_md5, files (size is the schema's business).
    """
    art = meta.get("artifact")
    if not isinstance(art, Mapping):
        raise UntrustedData(f"{where} artifact", art, "must be a mapping with path, kind, dvc_md5 and files")
    kind = art.get("kind", "file")
    if kind not in KINDS:
        raise UntrustedData(f"{where} artifact.kind", kind, "must be 'file' or 'directory'")
    path = artifact_name(art.get("path"), f"{where} artifact.path")
    md5 = dvc_md5(art.get("dvc_md5"), f"{where} artifact.dvc_md5", folder=kind == "directory")
    files = artifact_files(art.get("files"), f"{where} artifact.files")
    if kind == "file" and list(files) != [path]:
        raise UntrustedData(f"{where} artifact.files", list(files), f"a file artifact lists itself, {path!r}")
    return {"path": path, "kind": kind, "dvc_md5": md5, "files": files}


def pointer_out(data: object, where: str) -> tuple[str, str]:
    """The first out of a parsed .dvc pointer: (its artifact name, its md5)."""
    outs = data.get("outs") if isinstance(data, Mapping) else None
    if not isinstance(outs, list) or not outs or not isinstance(outs[0], Mapping):
        raise UntrustedData(f"{where} outs", outs, "a DVC pointer has a list of outs")
    out = outs[0]
    return artifact_name(out.get("path"), f"{where} outs[0].path"), dvc_md5(
        out.get("md5"), f"{where} outs[0].md5"
    )


def join(base: Path, rel: str, field: str) -> Path:
    """`base / rel` for a path from repo data: the only way such a path meets the filesystem."""
    return base.joinpath(relpath(rel, field))


LINKED = "replace it with a plain file in the repo (git rm it and commit the file itself)"

# Git checks out a committed symbolic link as one, anywhere in the tree, and the server
# hook judges only model folders and gitmodel.yaml.  Followed, such a link makes gitmodel
# read a file of this machine (a private key, a token) into what it commits and pushes,
# or write through it (a shell profile).  So files of a checkout are read and written
# here, never through a link.


def _folders(base: Path, rel: str, field: str, *, whole: bool = False) -> bool:
    """Whether REL's folders (and REL itself, when WHOLE) are real folders below BASE;
    False when one is missing or a file, a refusal when one is a symbolic link."""
    parts = relpath(rel, field).split("/")
    path = base
    for part in parts if whole else parts[:-1]:
        path = path / part
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return False
        if stat.S_ISLNK(info.st_mode):
            raise UntrustedData(field, f"{part} -> {os.readlink(path)}", f"{part} is a symbolic link", LINKED)
        if not stat.S_ISDIR(info.st_mode):
            return False
    return True


def checkout_folder(base: Path, rel: str, field: str) -> None:
    """Refuse a folder BASE/REL of a checkout that is, or lies below, a symbolic link."""
    _folders(base, rel, field, whole=True)


def read_checkout_file(base: Path, rel: str, field: str, limit: int) -> bytes | None:
    """The bytes of the plain file BASE/REL in a checkout of the repo; None when absent.

    No part of REL below BASE may be a link, the file must be a plain file (a FIFO would
    hang the reader), and at most LIMIT bytes.
    """
    if not _folders(base, rel, field):
        return None
    path = base / rel
    try:
        # O_NOFOLLOW: a link there is someone else's file; O_NONBLOCK: a FIFO must not hang us.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UntrustedData(field, f"-> {os.readlink(path)}", "it is a symbolic link", LINKED) from None
        raise UntrustedData(field, rel, f"it cannot be read ({exc.strerror})", LINKED) from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise UntrustedData(field, rel, "it is not a plain file", LINKED)
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise UntrustedData(field, rel, f"it is over {limit} bytes", "make it smaller")
    return data


def write_checkout_file(base: Path, rel: str, field: str, data: bytes) -> None:
    """Replace BASE/REL with DATA, never writing through a link.

    A fresh temp file (a random name, O_EXCL and O_NOFOLLOW: no name the repo could have
    planted a link at) is renamed over REL, which replaces a link there rather than its
    target; a link among REL's folders is refused.
    """
    if not _folders(base, rel, field):
        raise UntrustedData(field, rel, "its folder is missing or not a folder", LINKED)
    path = base / rel
    tmp = path.with_name(f".{path.name}.{os.urandom(8).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# --- the time budget of a check that reads untrusted data (the server hook) ----------


class OverBudget(PolicyError):
    def __init__(self, what: str, seconds: float) -> None:
        super().__init__(
            f"{what} took longer than its {seconds:g} s budget and was stopped; nothing was "
            "accepted: push fewer or smaller changes, or raise the budget on the server"
        )
        self.what = what
        self.seconds = seconds


@contextlib.contextmanager
def time_budget(seconds: float, what: str) -> Iterator[None]:
    """Raise OverBudget inside the block once it has run `seconds` (wall clock).

    A SIGALRM timer, so even one slow call is interrupted; in a thread other than the
    main one (where signals cannot be used) the block runs unbounded.
    """
    import signal  # here, not at the top: the commit hook reads through this module and
    import threading  # never needs a budget (each import is start-up time of every hook)

    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(_signum: int, _frame: object) -> None:
        raise OverBudget(what, seconds)

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
