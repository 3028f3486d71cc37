"""Prompt templates: files of the version, hashed into its metadata, and the compatibility matrix.

A version's templates are the files `models/NAME/prompts/TEMPLATE.txt` beside model.yaml
(`NS/models/NAME/prompts/...` for a namespaced model).  `gitmodel register` commits them
with the version and writes each one's sha256 into model.yaml:

    prompts: {support: "sha256:9f86d0…", summary: "sha256:60303a…"}

so the text, not only the name, is part of the version: immutable like model.yaml (the
commit and push policy refuse an edit in place), and a change of text alone is a patch
(versioning.py compares these hashes).  Whoever can push writes the files, so one parser
(`parse`) judges them wherever they are read (register, pre-commit, pre-push,
pre-receive, `verify`, the host): at most MAX_TEMPLATES files of at most MAX_BYTES UTF-8
bytes, each a plain file named TEMPLATE.txt directly in prompts/; a symlink, a folder, a
submodule or any other name is refused.  The text itself is opaque to gitmodel.

The matrix is gitmodel.yaml's `compatibility:` section (parsed here, read through
config.py), docs/usage.md "Prompt templates and compatibility":

    compatibility:
      support:                                # a model (acme/support when namespaced)
        - versions: ">=1.0.0, <2.0.0"         # comparisons, all must hold; absent or "*": every version
          prompts: ["support@sha256:9f86d0…", summary]   # NAME (any text) or NAME@sha256:… (that text)
          embeddings: [bge-small-en-v1.5]     # absent: any embedding model

A model without an entry is not constrained.  For one with an entry, a version is
compatible when one rule whose `versions` hold it allows every template the version
carries and the embedding model in use (the version's `embedding_model:` at promote, the
host file's `embedding_model:` on a host).  `check` refuses otherwise, naming the pair
and the rule.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodel import validate as v
from gitmodel.errors import GitModelError, PolicyError
from gitmodel.refs import Version

FOLDER = "prompts"  # in the model's folder in git
SUFFIX = ".txt"
MAX_BYTES = 64 * 1024
MAX_TEMPLATES = 32
MAX_NAME = 64
# What names a template: lowercase letters, digits, '.', '_' and '-' (`support-v3.2`).
NAME = re.compile(rf"^[a-z0-9][a-z0-9._-]{{0,{MAX_NAME - 1}}}$")
FIX = "keep each template a plain UTF-8 file prompts/NAME.txt (docs/usage.md)"
REGULAR = ("100644", "100755")  # git's modes of a plain file


class PromptError(PolicyError):
    """A template folder that breaks the format: one line naming the file and the rule."""

    def __init__(self, source: str, what: str, rule: str) -> None:
        super().__init__(f"{source}: {what} is refused: {rule}; {FIX}")


def _show(value: object) -> str:
    text = repr(value)  # control characters escaped: the refusal stays one inert line
    return text if len(text) <= 60 else text[:59] + "…"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Templates:
    source: str  # where they were read, for messages
    texts: Mapping[str, bytes]  # template name -> the file's bytes

    def hashes(self) -> dict[str, str]:
        return {name: digest(data) for name, data in sorted(self.texts.items())}


# --- reading the files -------------------------------------------------------------------


def template_name(filename: str, source: str) -> str:
    """`support.txt` -> `support`; any other kind of name is refused."""
    stem = filename[: -len(SUFFIX)] if filename.endswith(SUFFIX) else None
    if stem is None or not NAME.match(stem) or ".." in stem:
        raise PromptError(
            source,
            f"{FOLDER}/{_show(filename)}",
            f"a template is NAME{SUFFIX}, NAME being lowercase letters, digits, '.', '_' or '-' "
            f"(at most {MAX_NAME})",
        )
    return stem


def parse(files: Mapping[str, bytes | str], source: str) -> Templates:
    """Templates from FILENAME -> contents (a mode string in place of bytes: not a plain file)."""
    if len(files) > MAX_TEMPLATES:
        raise PromptError(source, f"{FOLDER}/ ({len(files)} entries)", f"at most {MAX_TEMPLATES} templates")
    texts = {}
    for filename, data in sorted(files.items()):
        where = f"{FOLDER}/{_show(filename)}"
        if isinstance(data, str):
            raise PromptError(source, where, f"it is {data}, not a plain file")
        name = template_name(filename, source)
        if len(data) > MAX_BYTES:
            raise PromptError(source, f"{where} ({len(data)} bytes)", f"at most {MAX_BYTES} bytes")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise PromptError(source, where, "it is not UTF-8 text") from None
        texts[name] = data
    return Templates(source, texts)


def kind_of_mode(mode: str) -> str | None:
    """None for a plain file's git mode, else what the entry is (for the refusal)."""
    if mode in REGULAR:
        return None
    return {"120000": "a symbolic link", "160000": "a submodule", "040000": "a folder"}.get(
        mode.rjust(6, "0"), f"an entry of mode {mode}"
    )


def read_dir(folder: Path, source: str) -> Templates | None:
    """The work tree's MODEL_FOLDER/prompts (None: no such folder); links and non-files refused."""
    path = folder / FOLDER
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISDIR(info.st_mode):
        raise PromptError(source, FOLDER, "it is not a plain folder (a symbolic link or a file)")
    names = sorted(os.listdir(path))
    if len(names) > MAX_TEMPLATES:
        raise PromptError(source, f"{FOLDER}/ ({len(names)} entries)", f"at most {MAX_TEMPLATES} templates")
    files: dict[str, bytes | str] = {}
    for filename in names:
        files[filename] = _read(path / filename, f"{FOLDER}/{filename}", source)
    return parse(files, source) if files else None


def _read(path: Path, where: str, source: str) -> bytes | str:
    """A plain file's bytes (bounded), or what else it is."""
    try:
        # O_NOFOLLOW: a link there is someone else's file; O_NONBLOCK: a FIFO must not hang us.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link"
        if exc.errno == errno.EISDIR:
            return "a folder"
        raise PromptError(source, where, f"it cannot be read ({exc.strerror})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        return "a folder" if stat.S_ISDIR(mode) else "not a plain file"
    with os.fdopen(fd, "rb") as fh:
        return fh.read(MAX_BYTES + 1)


def check_hashes(meta: Mapping[str, Any], found: Templates | None, source: str) -> None:
    """model.yaml's `prompts:` must name exactly the template files, each with its sha256."""
    said = meta.get("prompts") or {}
    actual = found.hashes() if found else {}
    if said == actual:
        return
    for name in sorted(set(said) | set(actual)):
        if said.get(name) != actual.get(name):
            have = actual.get(name, "no file")
            raise PolicyError(
                f"{source}: prompts.{name} says {said.get(name, 'nothing')} but {FOLDER}/{name}{SUFFIX} is "
                f"{have}; register templates with `gitmodel register`, which hashes them"
            )


def at_commit(repo: Path, commit: str, folder: str, where: str) -> Templates | None:
    """The templates of model folder FOLDER at COMMIT, read from git objects (None: none)."""
    from gitmodel import git

    listing = git.tree_listing(repo, commit, f"{folder}/{FOLDER}")
    if not listing:
        return None
    source = f"{where} {folder}"
    if len(listing) > MAX_TEMPLATES:
        raise PromptError(source, f"{FOLDER}/ ({len(listing)} entries)", f"at most {MAX_TEMPLATES} templates")
    files: dict[str, bytes | str] = {}
    plain: list[tuple[str, str]] = []
    for path, mode, oid in listing:
        name = path.rsplit("/", 1)[-1]
        kind = kind_of_mode(mode)
        if kind is not None:
            files[name] = kind
        else:
            plain.append((name, oid))
    infos = git.object_info(repo, [oid for _, oid in plain])
    for (name, _), info in zip(plain, infos, strict=True):
        if info is not None and info.size > MAX_BYTES:
            raise PromptError(source, f"{FOLDER}/{name} ({info.size} bytes)", f"at most {MAX_BYTES} bytes")
    for (name, _), data in zip(plain, git.read_blobs(repo, [oid for _, oid in plain]), strict=True):
        files[name] = data if data is not None else "missing"
    return parse(files, source)


def for_version(version_dir: Path) -> dict[str, bytes]:
    """The templates a host copied into VERSION_DIR (hostlayout.PROMPTS), each checked against
    the sha256 its manifest names; {} when the version has none.  For whatever serves it."""
    from gitmodel import hostlayout

    named = hostlayout.read_manifest(version_dir).get("prompts") or {}
    found = {}
    for name, sha in sorted(named.items()):
        path = version_dir / hostlayout.PROMPTS / f"{name}{SUFFIX}"
        data = _read(path, path.name, str(version_dir / hostlayout.PROMPTS))
        if isinstance(data, str) or len(data) > MAX_BYTES or digest(data) != sha:
            why = f"it is {data}" if isinstance(data, str) else "its sha256 is not the manifest's"
            why += "" if isinstance(data, str) else f" {sha[:19]}…"
            raise PolicyError(f"{path}: the copy is refused: {why}; deploy the version again")
        found[name] = data
    return found


# --- the compatibility matrix ----------------------------------------------------------

_COMPARISON = re.compile(r"^(>=|<=|==|!=|>|<|=)?v?(\d+\.\d+\.\d+)$")
_RULE_KEYS = ("versions", "prompts", "embeddings")
_SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Rule:
    index: int
    versions: tuple[tuple[str, Version], ...]  # every comparison must hold; () is every version
    shown: str  # the range as written
    prompts: Mapping[str, str | None] | None  # name -> digest (None: any text); None: any template
    embeddings: tuple[str, ...] | None  # None: any embedding model

    def covers(self, version: Version) -> bool:
        return all(_holds(op, version, bound) for op, bound in self.versions)

    def prompt_refusal(self, name: str, sha: str) -> str | None:
        if self.prompts is None:
            return None
        if name not in self.prompts:
            return "does not list it"
        wanted = self.prompts[name]
        if wanted is not None and wanted != sha:
            return f"allows only {name}@{wanted[:19]}…"
        return None

    def allows_embedding(self, embedding: str) -> bool:
        return self.embeddings is None or embedding in self.embeddings


def _holds(op: str, version: Version, bound: Version) -> bool:
    return {
        ">=": version >= bound,
        "<=": version <= bound,
        ">": version > bound,
        "<": version < bound,
        "!=": version != bound,
    }.get(op, version == bound)


Matrix = Mapping[str, tuple[Rule, ...]]  # model -> its rules


def parse_matrix(value: object, at: v.Field) -> dict[str, tuple[Rule, ...]]:
    """gitmodel.yaml `compatibility:`: model -> a list of rules (ConfigError naming the field)."""
    from gitmodel.refs import parse_model

    found = {}
    for key, rules in v.table(value, at, "model names to lists of rules").items():
        where = at / key
        try:
            model = parse_model(key)
        except GitModelError as exc:
            raise where.error(f"is not a model name: {exc.message}") from None
        if not isinstance(rules, list) or not rules or len(rules) > 100:
            raise where.error("must be a list of 1 to 100 rules ({versions, prompts, embeddings})")
        found[model] = tuple(_rule(r, i, where / i) for i, r in enumerate(rules))
    return found


def _rule(value: object, index: int, at: v.Field) -> Rule:
    raw = v.mapping(value, at, _RULE_KEYS, "rule key")
    shown = str(raw.get("versions", "*"))
    comparisons = _range(raw.get("versions", "*"), at / "versions")
    prompts = None
    if "prompts" in raw:
        prompts = {}
        for item in _list(raw["prompts"], at / "prompts"):
            name, _, sha = item.partition("@")
            if not NAME.match(name) or (sha and not _SHA256.match(sha)):
                raise (at / "prompts").error(
                    f"has {item!r}: a template is NAME or NAME@sha256:HEX (64 lowercase hex digits)"
                )
            prompts[name] = sha or None
    embeddings = _list(raw["embeddings"], at / "embeddings") if "embeddings" in raw else None
    return Rule(index, comparisons, shown, prompts, embeddings)


def _list(value: object, at: v.Field) -> tuple[str, ...]:
    items = v.names(value, at)
    if len(items) > 100 or any(len(i) > 200 or not i.isprintable() for i in items):
        raise at.error("must be a list of at most 100 printable names of at most 200 characters")
    return items


def _range(value: object, at: v.Field) -> tuple[tuple[str, Version], ...]:
    text = v.text(value, at).strip()
    if text == "*":
        return ()
    found = []
    for part in re.split(r"[,\s]+", re.sub(r"(>=|<=|==|!=|>|<|=)\s+", r"\1", text)):
        m = _COMPARISON.match(part)
        if not m:
            raise at.error(f"has {part!r}; write comparisons such as '>=1.0.0, <2.0.0' (or '*')")
        found.append((m[1] or "==", Version.parse("v" + m[2])))
    return tuple(found)


class Incompatible(PolicyError):
    """The matrix refuses a (version, template) or (version, embedding) pair (exit 1)."""


def check(
    matrix: Matrix,
    model: str,
    version: Version,
    prompts: Mapping[str, str],
    embedding: str | None,
    embedding_from: str = "its embedding_model",
) -> None:
    """Raise Incompatible unless one rule covering VERSION allows every template and EMBEDDING."""
    rules = matrix.get(model)
    if rules is None:
        return
    section = f"gitmodel.yaml compatibility.{model.replace(':', '/')}"
    covering = [r for r in rules if r.covers(version)]
    if not covering:
        ranges = "; ".join(r.shown for r in rules)
        raise Incompatible(
            f"{model} {version} is in no range of {section} ({ranges}); declare what it works with "
            "there (a rule whose versions hold it), commit and push, then retry"
        )
    refusals = []
    for rule in covering:
        refusal = _refusal(rule, prompts, embedding, embedding_from)
        if refusal is None:
            return
        refusals.append((rule, refusal))
    first, (pair, why) = refusals[0]
    raise Incompatible(
        f"{model} {version} with {pair} is incompatible: {section}[{first.index}] (versions {first.shown}) "
        f"{why}; use a compatible combination, or declare this one in {section}"
    )


def _refusal(
    rule: Rule, prompts: Mapping[str, str], embedding: str | None, embedding_from: str
) -> tuple[str, str] | None:
    for name, sha in sorted(prompts.items()):
        why = rule.prompt_refusal(name, sha)
        if why is not None:
            return f"prompt template {name} ({sha[:19]}…)", why
    if embedding is not None and not rule.allows_embedding(embedding):
        listed = ", ".join(rule.embeddings or ())
        return f"embedding model {embedding!r} ({embedding_from})", f"allows only {listed}"
    return None


def of_version(meta: Mapping[str, Any]) -> tuple[dict[str, str], str | None]:
    """The template hashes and the declared embedding model of a version's metadata."""
    said = meta.get("prompts")
    prompts = {str(k): str(x) for k, x in said.items()} if isinstance(said, Mapping) else {}
    embedding = meta.get("embedding_model")
    return prompts, embedding if isinstance(embedding, str) and embedding else None
