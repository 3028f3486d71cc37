"""What a registry search needs from each version's model.yaml, kept by commit.

`lineage --data-hash` and `--base-model` look at every version's model.yaml. Reading them
from git costs a tree walk each (`git cat-file --batch` of COMMIT:models/NAME/model.yaml:
~3 s at 50,000 versions), and a parse where the text is not in gitmodel's plain form.
But COMMIT:PATH names one text forever (the commit id is the hash of its tree), so what
the search takes from it never changes either. The index, <git common dir>/gitmodel/
lineage-index, keeps for each such name whether the text reads as a mapping, its
base_model and its training.data_hash; a search reads from git only the names it lacks.

The stance:
- the index is as trusted as the refs and hooks beside it in .git; the sha256 of its
  body detects a truncated or damaged file, not a forger;
- a file that is truncated, altered, or of another format is rebuilt; it is written whole
  (temp file, then rename), only when the search learnt something, and holds exactly
  the versions registered then; a repository that cannot be written is read without it;
- values come from model.yaml, which anyone who can push wrote: they are stored as JSON
  (every control character escaped) and only when short (MAX_VALUE); a version whose
  value is longer, or not a string, is read from git on every search instead;
- the answer is always what reading every text gives (tests/test_lineage_index.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import NamedTuple

from gitmodel import git
from gitmodel.lifecycle import plainform, reads

HEADER = b"gitmodel lineage-index 1 "
MAX_VALUE = 512


class Facts(NamedTuple):
    """What a search takes from one version's model.yaml."""

    readable: bool  # present, and read as a mapping
    base_model: object  # its value: a string, None when absent, or what YAML made of it
    data_hash: str | None  # training.data_hash as a string, lowered


class Work(NamedTuple):
    read: int  # texts read from git by this search (the rest came from the index)
    parsed: int  # of those, texts not in the plain form: parsed as YAML


UNREADABLE = Facts(False, None, None)


def path_of(repo: Path) -> Path:
    return git.git_dir(repo) / "gitmodel" / "lineage-index"


def facts(repo: Path, specs: list[str], *, cached: bool = True) -> tuple[list[Facts], Work]:
    """The facts of each COMMIT:PATH in `specs`, from the index where it has them."""
    index = path_of(repo)
    held = load(index) if cached else {}
    missing = list(dict.fromkeys(s for s in specs if s not in held))
    learnt: dict[str, Facts] = {}
    parsed = 0
    for spec, raw in zip(missing, git.read_blobs(repo, missing), strict=True):
        text = None if raw is None else raw.decode("utf-8", errors="replace")
        found, was_parsed = of_text(text, spec)
        learnt[spec] = found
        parsed += was_parsed
    answer = [held.get(s) or learnt[s] for s in specs]
    wanted = set(specs)
    if cached and (learnt or len(held) != len(wanted)):
        keep = {s: f for s, f in held.items() if s in wanted}  # a version no longer registered goes
        keep.update((s, f) for s, f in learnt.items() if _storable(f))
        if keep.keys() != held.keys():
            save(index, keep)
    return answer, Work(len(missing), parsed)


def of_text(text: str | None, source: str) -> tuple[Facts, bool]:
    """(the facts of a model.yaml text, whether it needed a YAML parse)."""
    if text is None:
        return UNREADABLE, False
    plain = plainform.read(text)
    if plain is not None:
        return Facts(True, *plain), False
    meta = reads.parse(text, source)
    if meta is None:
        return UNREADABLE, True
    training = meta.get("training")
    value = training.get("data_hash") if isinstance(training, dict) else None
    return Facts(True, meta.get("base_model"), None if value is None else str(value).lower()), True


def _storable(f: Facts) -> bool:
    base, data = f.base_model, f.data_hash
    return (base is None or (type(base) is str and len(base) <= MAX_VALUE)) and (
        data is None or len(data) <= MAX_VALUE
    )


def load(index: Path) -> dict[str, Facts]:
    """The facts held, by COMMIT:PATH; empty when the file is missing, damaged or of
    another format."""
    try:
        data = index.read_bytes()
    except OSError:
        return {}
    head, _, body = data.partition(b"\n")
    if head != HEADER + hashlib.sha256(body).hexdigest().encode():
        return {}
    try:
        specs, flags, bases, hashes = json.loads(body)
        columns_ok = (
            isinstance(flags, str)
            and all(isinstance(c, list) for c in (specs, bases, hashes))
            and len(specs) == len(flags) == len(bases) == len(hashes)
            and set(map(type, specs)) <= {str}
            and set(flags) <= {"0", "1"}
            and _values_ok(bases)
            and _values_ok(hashes)
        )
    except (ValueError, TypeError):  # ValueError: not JSON, or not four columns
        return {}
    if not columns_ok:
        return {}
    return dict(
        zip(specs, map(Facts._make, zip(map("1".__eq__, flags), bases, hashes, strict=True)), strict=True)
    )


def _values_ok(values: list[object]) -> bool:
    """Strings of at most MAX_VALUE characters, or None (map() keeps the loop in C)."""
    strings = [v for v in values if v is not None]
    return set(map(type, strings)) <= {str} and max(map(len, strings), default=0) <= MAX_VALUE  # type: ignore[arg-type]


def save(index: Path, held: dict[str, Facts]) -> None:
    specs = sorted(held)
    rows = [held[s] for s in specs]
    columns = [
        specs,
        "".join("1" if f.readable else "0" for f in rows),
        [f.base_model for f in rows],
        [f.data_hash for f in rows],
    ]
    body = json.dumps(columns, ensure_ascii=True, separators=(",", ":")).encode()
    write_whole(index, HEADER + hashlib.sha256(body).hexdigest().encode() + b"\n" + body)


def write_whole(index: Path, data: bytes) -> None:
    """Replace `index` with `data` in one rename (readers see the old file or the new one);
    a repository that cannot be written is left as it is."""
    with contextlib.suppress(OSError):  # a read-only clone: searches work, only slower
        index.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{index.name}-", dir=index.parent)
        try:
            os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide it from the clone's other users
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, index)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
