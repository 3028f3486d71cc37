"""Tags: the one-pass read of every tag with its record, and creating and deleting tags."""

from __future__ import annotations

import os
import re
import time
from itertools import repeat
from pathlib import Path
from typing import NamedTuple

from gitmodel.errors import ConflictError, GitFailed
from gitmodel.git.process import out, run
from gitmodel.git.signing import check_signed, signing_failed

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


class TagRecord(NamedTuple):
    """One annotated tag as a read gives it (a tuple: reads at 100k tags make 100k)."""

    name: str
    commit: str
    tagger: str
    email: str
    time: int
    message: str


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


_SHOW_REF = re.compile(r"^([0-9a-f]+) refs/tags/(.*)\n(?:([0-9a-f]+) refs/tags/.*\^\{\}\n)?", re.MULTILINE)


class PeeledTag(NamedTuple):
    """A tag as `git show-ref -d` gives it: no tag object read."""

    name: str  # without refs/tags/
    oid: str  # the object the ref names: a tag object, or a commit for a lightweight tag
    peeled: str | None  # what an annotated tag finally points at; None: not annotated, or unpeelable


def show_tags(repo: Path) -> str:
    """`git show-ref -d --tags`: every tag's object id and, for an annotated one, the id it
    finally points at ("" when there is no tag).  Packed refs store the peeled ids, so
    at 100k tags this reads one file, not 100k tag objects as `%(*objectname)` does."""
    proc = run(["show-ref", "-d", "--tags"], repo, check=False)
    if proc.returncode == 1 and not proc.stdout and not proc.stderr.strip():
        return ""  # no tag at all
    if proc.returncode != 0:
        raise GitFailed(["show-ref", "-d", "--tags"], proc.stderr)
    return proc.stdout


def peeled_tags(shown: str) -> list[PeeledTag]:
    """`show_tags`' output as tags in refname order."""
    # An annotated tag's line is followed by its peeled id's ("NAME^{}"; a refname holds no "^").
    # tuple.__new__ straight from C: PeeledTag's own __new__ is a Python call, 100k times.
    found = ((name, oid, peeled or None) for oid, name, peeled in _SHOW_REF.findall(shown))
    return list(map(tuple.__new__, repeat(PeeledTag), found))


def tag_list(repo: Path) -> list[str]:
    """Tag names only: no tag object is read, so this is cheap even at 100k tags."""
    return out(["for-each-ref", "--format=%(refname:strip=2)", "refs/tags"], repo).splitlines()


def tag_names(repo: Path) -> set[str]:
    """Names of every local tag, lightweight ones included."""
    return set(out(["for-each-ref", "--format=%(refname:strip=2)", "refs/tags"], repo).splitlines())


def create_tag(
    repo: Path, name: str, target: str, message: str, *, sign: bool = False, after: int | None = None
) -> int | None:
    """Create an annotated tag (signed with the user's key when `sign`); git itself
    refuses a name that exists.  With `after` (a Unix time), the tagger date is at least
    one second later, and is returned: GTO and `dvc artifacts get --stage` order a
    model's tags by this one-second date, so two moves in the same second must not tie."""
    env, when = (None, None) if after is None else _date_after(repo, after)
    proc = run(
        ["tag", "-s" if sign else "-a", "-F", "-", name, target], repo, env=env, stdin=message, check=False
    )
    if proc.returncode != 0:
        if "already exists" in proc.stderr:
            raise ConflictError(f"tag {name} already exists; refresh with `git fetch --tags` and retry")
        if sign:
            raise signing_failed(name, proc.stderr)
        raise GitFailed(["tag", name], proc.stderr)
    if sign:
        check_signed(repo, name, message)
    return when


def _date_after(repo: Path, after: int) -> tuple[dict[str, str], int]:
    """(the environment that dates a tag, its date): git's own date (the clock, or the
    caller's GIT_COMMITTER_DATE, as `git var` resolves it) when later than `after`, else
    one second after `after`.  Always set explicitly, so the date returned is the tag's
    even when the clock ticks between here and `git tag`."""
    if "GIT_COMMITTER_DATE" in os.environ:  # any format git reads: git resolves it
        ident = out(["var", "GIT_COMMITTER_IDENT"], repo)
        when, _, zone = ident[ident.rindex(">") + 1 :].strip().partition(" ")
        now = int(when)
    else:  # git's date is then the clock, which we read as git would (one git process less)
        now = int(time.time())
        zone = _zone(now)
    date = max(now, after + 1)
    return {"GIT_COMMITTER_DATE": f"{date} {zone or '+0000'}"}, date


def _zone(when: int) -> str:
    """The local UTC offset at `when` as git writes it (+HHMM), from the same TZ git reads."""
    offset = time.localtime(when).tm_gmtoff // 60
    hours, minutes = divmod(abs(offset), 60)
    return f"{'-' if offset < 0 else '+'}{hours:02d}{minutes:02d}"


def delete_tag(repo: Path, name: str) -> None:
    run(["tag", "-d", name], repo, check=False)


def refs_under(repo: Path, prefix: str) -> list[str]:
    """Full names of the refs below `prefix` (a folder such as refs/gitmodel/approvals/X)."""
    return out(["for-each-ref", "--format=%(refname)", prefix.rstrip("/")], repo).splitlines()


def file_tag_object(repo: Path, ref: str, name: str, target: str, message: str, *, sign: bool = False) -> str:
    """An annotated tag object `name` for commit `target`, filed under `ref` (outside refs/tags).

    git's own compare-and-swap refuses a `ref` that exists (a conflict, safe to retry
    with the next name).  Signed objects go through `git tag -s` (signing.py: `name`
    exists under refs/tags only while it is signed); unsigned ones through `git mktag`,
    which writes the object without touching refs/tags.
    """
    from gitmodel.git.signing import create_signed_object

    if sign:
        oid = create_signed_object(repo, name, target, message)
    else:
        ident = out(["var", "GIT_COMMITTER_IDENT"], repo)
        body = f"object {target}\ntype commit\ntag {name}\ntagger {ident}\n\n{message}"
        oid = out(["mktag"], repo, stdin=body)
    proc = run(["update-ref", ref, oid, "0" * 40], repo, check=False)
    if proc.returncode != 0:
        raise ConflictError(f"{ref} was written by another command meanwhile; retry")
    return oid
