"""Functional checks: a few known prompts a version must answer as expected before it takes traffic.

The file is `models/NAME/checks.yaml` beside model.yaml (`NS/models/NAME/checks.yaml` for a
namespaced model).  `gitmodel register` commits it with the version, so it is part of the
version: immutable like model.yaml, and changing it is a new version (a patch bump when
nothing else changed).  docs/checks.md is the user's guide:

    max_tokens: 16                   # optional: tokens generated per prompt (1-256, default 16)
    checks:                          # 1 to 20 prompts (5-10 is the advice)
      - prompt: "The capital of France is"
        contains: " Paris"
      - prompt: "Hello"
        exact: " world"              # the whole completion (greedy decoding: temperature 0)
        max_tokens: 2
      - prompt: "Q: 2+2=\\nA:"
        regex: "^\\\\s*4\\\\b"            # RE2 syntax, searched (anchor it with ^ and $)
        min_length: 1                # characters of the completion
        max_length: 40

Every rule of a check must hold.  Whoever can push writes this file, so it is read within
bounds: at most 64 KiB, 20 checks, 4,000 characters per prompt or expected text, 500 per
regex; an unknown key is refused (a misspelt rule would otherwise check nothing).  Regexes
are RE2 (google-re2), whose matching time is linear in the text for every pattern.  Python's
`re` backtracks: `(a+)+$` on 25 characters took 2.1 s here and `.*.*.*x` on 1,000 took 72 s,
and no cheap test of a pattern refuses the second kind without refusing ordinary patterns;
RE2 matched both on 100,000 characters in 0.2 ms.  What RE2 cannot express (backreferences,
lookaround) is refused when the file is read, so a pattern never fails later on a host.

One parser (`parse`) serves every reader: `gitmodel register` (the work tree), the commit and
push policy (the index, a version's commit), the host (`at_commit`; materialise copies the
file verbatim to versions/vX.Y.Z/gitmodel-checks.yaml and records its sha256 in the
manifest) and the gateway (`for_version` re-reads that copy and checks the digest).

Running them against a server (`run`, its `CheckResult`) is gitmodel/checkrun.py.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitmodel import hostlayout, yamlio
from gitmodel.errors import PolicyError

FILENAME = "checks.yaml"  # in the model's folder in git
COPY = hostlayout.CHECKS  # the verbatim copy in a version directory on a host
MAX_BYTES = 64 * 1024
MAX_CHECKS = 20
MAX_TEXT = 4000
MAX_PATTERN = 500
MAX_TOKENS = 256
DEFAULT_TOKENS = 16
MAX_ANSWER = 64 * 1024  # characters of an answer judged; 256 tokens are far fewer
_RE2_MEMORY = 8 << 20  # RE2's own bound on a compiled pattern's memory
RULES = ("exact", "contains", "regex", "min_length", "max_length")
KEYS = ("prompt", "max_tokens", *RULES)
FIX = "write it as docs/checks.md shows"
_SHOWN = 60


class ChecksError(PolicyError):
    """A checks file that breaks the format: one line naming the file, the check and the field."""

    def __init__(self, source: str, what: str, rule: str) -> None:
        super().__init__(f"{source}: {what} is refused: {rule}; {FIX}")
        self.source = source
        self.what = what
        self.rule = rule


def show(value: object) -> str:
    """A value for a one-line message: repr (control characters escaped), cut short."""
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


@dataclass(frozen=True)
class Check:
    prompt: str
    max_tokens: int
    exact: str | None = None
    contains: str | None = None
    regex: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    compiled: Any = field(default=None, compare=False, repr=False)  # the RE2 pattern

    def judge(self, text: str) -> str | None:
        """None when every rule holds for the completion `text`, else why not."""
        text = text[:MAX_ANSWER]
        if self.exact is not None and text != self.exact:
            return f"expected exactly {show(self.exact)}, got {show(text)}"
        if self.contains is not None and self.contains not in text:
            return f"expected {show(self.contains)} in the answer, got {show(text)}"
        if self.compiled is not None and self.compiled.search(text) is None:
            return f"the answer {show(text)} does not match the regex {show(self.regex)}"
        if self.min_length is not None and len(text) < self.min_length:
            return f"the answer has {len(text)} characters, fewer than min_length {self.min_length}"
        if self.max_length is not None and len(text) > self.max_length:
            return f"the answer has {len(text)} characters, more than max_length {self.max_length}"
        return None


@dataclass(frozen=True)
class Checks:
    source: str  # where it was read, for messages
    items: tuple[Check, ...]
    text: str  # the file as written: copied verbatim to the host

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.text.encode("utf-8")).hexdigest()


# --- reading ---------------------------------------------------------------------------


def parse(text: str, source: str) -> Checks:
    """The checks in TEXT, every field judged; ChecksError (or a YAML error) naming SOURCE."""
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise ChecksError(source, "the file", "it is not UTF-8 text") from None
    if size > MAX_BYTES:
        raise ChecksError(source, f"the file ({size} bytes)", f"a checks file is at most {MAX_BYTES} bytes")
    data = yamlio.plain(yamlio.loads(text, source))
    if not isinstance(data, dict):
        raise ChecksError(source, "the document", "it must be a mapping with a `checks:` list")
    unknown = sorted(str(k) for k in data if k not in ("checks", "max_tokens"))
    if unknown:
        raise ChecksError(source, f"key {show(unknown[0])}", "a checks file has `checks:` and `max_tokens:`")
    default = _tokens(data.get("max_tokens", DEFAULT_TOKENS), source, "max_tokens")
    items = data.get("checks")
    if not isinstance(items, list) or not items or len(items) > MAX_CHECKS:
        got = f"{len(items)} entries" if isinstance(items, list) else type(items).__name__
        raise ChecksError(source, f"checks ({got})", f"it must be a list of 1 to {MAX_CHECKS} checks")
    found = tuple(_check(item, n, default, source) for n, item in enumerate(items, 1))
    return Checks(source, found, text)


def _check(item: object, n: int, default: int, source: str) -> Check:
    where = f"check {n}"
    if not isinstance(item, dict):
        raise ChecksError(source, f"{where} ({show(item)})", "each check is a mapping: a prompt and rules")
    unknown = sorted(str(k) for k in item if k not in KEYS)
    if unknown:
        raise ChecksError(source, f"{where} key {show(unknown[0])}", f"the rules are {', '.join(RULES)}")
    if not any(rule in item for rule in RULES):
        raise ChecksError(source, where, f"it has no rule; give one or more of {', '.join(RULES)}")
    pattern = _text(item, "regex", source, where, MAX_PATTERN, empty=False)
    low, high = _length(item, "min_length", source, where), _length(item, "max_length", source, where)
    if low is not None and high is not None and low > high:
        raise ChecksError(source, f"{where} min_length {low}", f"it is above max_length {high}")
    prompt = _text(item, "prompt", source, where, MAX_TEXT, empty=False)
    if prompt is None:
        raise ChecksError(source, where, "it has no prompt")
    return Check(
        prompt=prompt,
        max_tokens=_tokens(item.get("max_tokens", default), source, f"{where} max_tokens"),
        exact=_text(item, "exact", source, where, MAX_TEXT, empty=True),
        contains=_text(item, "contains", source, where, MAX_TEXT, empty=False),
        regex=pattern,
        min_length=low,
        max_length=high,
        compiled=None if pattern is None else _compile(pattern, source, f"{where} regex"),
    )


def _text(item: dict[str, Any], key: str, source: str, where: str, limit: int, *, empty: bool) -> str | None:
    if key not in item:
        return None
    value = item[key]
    if not isinstance(value, str):
        raise ChecksError(source, f"{where} {key} {show(value)}", "it must be a string (quote it)")
    if not value and not empty:
        raise ChecksError(source, f"{where} {key}", "it must not be empty")
    if len(value) > limit:
        raise ChecksError(source, f"{where} {key} ({len(value)} characters)", f"at most {limit} are allowed")
    return str(value)


def whole(value: object, low: int, high: int) -> int | None:
    """VALUE when it is a whole number (not a bool) from LOW to HIGH, else None."""
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value
    return None


def _tokens(value: object, source: str, what: str) -> int:
    tokens = whole(value, 1, MAX_TOKENS)
    if tokens is None:
        raise ChecksError(
            source, f"{what} {show(value)}", f"it must be a whole number from 1 to {MAX_TOKENS}"
        )
    return tokens


def _length(item: dict[str, Any], key: str, source: str, where: str) -> int | None:
    if key not in item:
        return None
    length = whole(item[key], 0, MAX_ANSWER)
    if length is None:
        raise ChecksError(
            source, f"{where} {key} {show(item[key])}", f"it must be a whole number from 0 to {MAX_ANSWER}"
        )
    return length


def _compile(pattern: str, source: str, what: str) -> Any:
    import re2  # lazily: only a file with a regex pays for it

    options = re2.Options()
    options.log_errors = False  # RE2 would write its diagnosis to stderr; ours is the error
    options.max_mem = _RE2_MEMORY
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        why = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else exc
        raise ChecksError(source, f"{what} {show(pattern)}", f"RE2 cannot compile it ({why})") from None


def read_file(path: Path, source: str | None = None) -> Checks | None:
    """The checks file at PATH (None when there is none); a link, a non-file or a huge file is refused."""
    where = source or str(path)
    try:
        # O_NOFOLLOW: a link in the file's place is someone else's file; O_NONBLOCK: a FIFO
        # there must not hang the reader.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ChecksError(where, "the file", "it is a symbolic link; make it a plain file") from None
        raise ChecksError(where, "the file", f"it cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ChecksError(where, "the path", "it is not a plain file")
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ChecksError(where, "the file", f"a checks file is at most {MAX_BYTES} bytes")
    return parse(_decode(data, where), where)


def _decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ChecksError(where, "the file", "it is not UTF-8 text") from None


def at_commit(repo: Path, commit: str, folder: str, where: str) -> Checks | None:
    """The checks file of the model folder FOLDER at COMMIT (None: the version has none)."""
    source = f"{where} {folder}/{FILENAME}"
    text = text_at(repo, commit, folder, source)
    return None if text is None else parse(text, source)


def text_at(repo: Path, commit: str, folder: str, source: str = FILENAME) -> str | None:
    """The checks file's text at COMMIT as git holds it, bounded (None: there is none)."""
    from gitmodel import git

    spec = f"{commit}:{folder}/{FILENAME}"
    (info,) = git.object_info(repo, [spec])
    if info is None:
        return None
    if info.type != "blob":
        raise ChecksError(source, "the path", f"it is a {info.type}, not a file")
    if info.size > MAX_BYTES:
        raise ChecksError(
            source, f"the file ({info.size} bytes)", f"a checks file is at most {MAX_BYTES} bytes"
        )
    (data,) = git.read_blobs(repo, [spec])
    return None if data is None else _decode(data, source)


def for_version(version_dir: Path) -> Checks | None:
    """The checks a host copied into VERSION_DIR when it built it (None: the version has none).

    The manifest names the copy's sha256: a copy that does not match it is refused.
    """
    digest = hostlayout.read_manifest(version_dir).get("checks")
    if digest is None:
        return None
    path = version_dir / COPY
    found = read_file(path)
    if found is None:
        raise ChecksError(str(path), "the file", "the manifest names it but it is missing; redeploy")
    if found.digest != digest:
        raise ChecksError(str(path), f"its sha256 {found.digest[:19]}…", f"the manifest says {digest[:19]}…")
    return found
