"""A model's version files read from git objects (any commit, or the index), never a checkout.

A version is its folder's `model.yaml` and `*.dvc` pointers (DESIGN.md, "Version");
hooks read them straight from the object store, which in pre-receive includes the
quarantined objects of the push being checked.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitmodel import git
from gitmodel.errors import GitModelError, PolicyError

if TYPE_CHECKING:
    from gitmodel import checks, prompts
    from gitmodel.registry import ModelState

METADATA = "model.yaml"
CARD = "MODEL_CARD.md"  # gitmodel/lifecycle/card.py: committed with the version, immutable like it
# The version's functional checks (gitmodel/checks.py): part of the version. checks.FILENAME
# (tests/test_startup.py holds them equal), not imported: a commit hook reads no checks.
CHECKS = "checks.yaml"
PROMPTS = "prompts"  # prompts.FOLDER: the version's prompt templates (gitmodel/prompts.py)

# The most each reader takes (tests/test_attack_blobsize.py holds them equal to the readers'
# own; not imported: a hook that reads no YAML imports no parser).  A pushed blob is sized by
# `cat-file --batch-check` before any of it is read: a 200 MB prompt template must not make
# the server's hook hold it (measured: 428 MB of peak memory before this check, docs/host.md).
MAX_PROMPT = 64 * 1024  # prompts.MAX_BYTES
MAX_CHECKS = 64 * 1024  # checks.MAX_BYTES
MAX_YAML = 1024 * 1024  # yamlio.MAX_BYTES: model.yaml, the pointers, the card, gitmodel.yaml


def is_prompt_entry(path: str, folder: str) -> bool:
    return posixpath.dirname(path) == f"{folder}/{PROMPTS}"


def is_version_file(path: str, folder: str) -> bool:
    """model.yaml, MODEL_CARD.md, checks.yaml, the .dvc pointers and prompts/* of the model's folder."""
    if is_prompt_entry(path, folder):
        return True
    if posixpath.dirname(path) != folder:
        return False
    name = posixpath.basename(path)
    return name in (METADATA, CARD, CHECKS) or name.endswith(".dvc")


@dataclass
class VersionFiles:
    """The version files of one model folder at one commit."""

    folder: str
    blobs: dict[str, str]  # path -> blob id (version files only)
    where: str = ""  # " at COMMIT" for messages; "" for the index
    texts: dict[str, str] = field(default_factory=dict)  # path -> contents
    # prompts/ entries: the bytes of plain files (hashed as they are), the mode of anything else
    prompt_files: dict[str, bytes | str] = field(default_factory=dict)

    @property
    def metadata_path(self) -> str:
        return f"{self.folder}/{METADATA}"

    @property
    def metadata_text(self) -> str | None:
        return self.texts.get(self.metadata_path)

    def pointers(self) -> dict[str, str]:
        return {p: t for p, t in self.texts.items() if p.endswith(".dvc")}

    def metadata(self) -> dict[str, Any]:
        """The parsed model.yaml; GitModelError (with the path) if it is not a YAML mapping."""
        text = self.metadata_text
        if text is None:
            raise GitModelError(f"{self.metadata_path} is missing")
        data = _yaml(text, self.metadata_path)
        if not isinstance(data, dict):
            raise GitModelError(f"{self.metadata_path} must hold a YAML mapping")
        return data

    def functional_checks(self, where: str) -> checks.Checks | None:
        """The folder's checks.yaml through its one parser (None: none); ChecksError naming WHERE."""
        from gitmodel import checks

        text = self.texts.get(f"{self.folder}/{CHECKS}")
        return None if text is None else checks.parse(text, f"{self.folder}/{CHECKS}{where}")

    def templates(self, where: str) -> prompts.Templates | None:
        """The folder's prompt templates through their one parser (None: none); PromptError naming WHERE."""
        from gitmodel import prompts

        if not self.prompt_files:
            return None
        named = {p.rsplit("/", 1)[1]: data for p, data in self.prompt_files.items()}
        return prompts.parse(named, f"{self.folder}{where}")

    def md5s(self) -> set[str]:
        """Every object id the pointers name: the identity of the version's bytes."""
        from gitmodel import untrusted

        found: set[str] = set()
        for path, text in self.pointers().items():
            try:
                data = _yaml(text, path)
            except GitModelError:
                found.add(f"unreadable:{path}")
                continue
            outs = data.get("outs") if isinstance(data, dict) else None
            for out in outs if isinstance(outs, list) else []:
                if isinstance(out, dict) and out.get("md5"):
                    try:
                        found.add(untrusted.dvc_md5(out["md5"], path))
                    except GitModelError:
                        found.add(f"invalid:{path}")
        return found


def _yaml(text: str, where: str) -> Any:
    # Imported here: a commit that touches no model reads no YAML (bench/startup.py).
    from gitmodel.yamlio import loads, plain

    return plain(loads(text, where))


def at_commits(repo: Path, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], VersionFiles]:
    """Version files for each (commit, folder): one ls-tree per pair, one read for all blobs."""
    result = {}
    for commit, folder in dict.fromkeys(wanted):
        entries = git.tree_entries(repo, commit, folder)
        blobs = {p: oid for p, oid in entries.items() if is_version_file(p, folder)}
        vf = result[(commit, folder)] = VersionFiles(folder, blobs, f" at {commit[:10]}")
        add_prompts(vf, git.tree_listing(repo, commit, f"{folder}/{PROMPTS}"))
    _fill(repo, list(result.values()))
    return result


def add_prompts(vf: VersionFiles, listing: list[tuple[str, str, str]]) -> None:
    """Record a prompts/ listing: plain files join the blobs, anything else is kept by its mode."""
    from gitmodel.prompts import kind_of_mode

    for path, mode, oid in listing:
        kind = kind_of_mode(mode)
        if kind is None:
            vf.blobs[path] = oid
        else:
            vf.prompt_files[path] = kind


def in_index(repo: Path, folders: list[str]) -> dict[str, VersionFiles]:
    """Version files as staged for the next commit, per folder."""
    entries = git.index_entries(repo, folders)
    result = {}
    for folder in folders:
        vf = result[folder] = VersionFiles(folder, {})
        vf.blobs.update({p: o for p, o in entries.items() if is_version_file(p, folder)})
        if any(is_prompt_entry(p, folder) or p.startswith(f"{folder}/{PROMPTS}/") for p in entries):
            for path in [p for p in vf.blobs if is_prompt_entry(p, folder)]:
                del vf.blobs[path]  # listed again below, with their modes
            add_prompts(vf, git.tree_listing(repo, None, f"{folder}/{PROMPTS}"))
    _fill(repo, list(result.values()))
    return result


def _fill(repo: Path, items: list[VersionFiles]) -> None:
    specs = [(item, path, oid) for item in items for path, oid in item.blobs.items()]
    blobs = read_bounded(
        repo, [(oid, f"{path}{item.where}", limit(path, item.folder)) for item, path, oid in specs]
    )
    for (item, path, _), data in zip(specs, blobs, strict=True):
        if data is not None:
            item.texts[path] = data.decode("utf-8", errors="replace")
            if is_prompt_entry(path, item.folder):
                item.prompt_files[path] = data


def registered(repo: Path, models: list[str]) -> dict[str, ModelState]:
    """Registry state of just these models: one for-each-ref pass over their own tags.

    The same state `Registry.load` builds, but a hook needs only the models it checks,
    and parsing every annotation of a 5,600-tag registry costs more than the whole check.
    """
    from gitmodel.refs import to_tag
    from gitmodel.registry import build_models

    records = [r for model in models for r in git.read_tags(repo, f"refs/tags/{to_tag(model)}@*")]
    return build_models(records)


def read_texts(repo: Path, specs: list[str]) -> list[str | None]:
    """Several `rev:path` YAML files as text in one read (None where absent); TooLarge
    before anything is read when one is over the YAML reader's limit."""
    blobs = read_bounded(repo, [(spec, spec, (MAX_YAML, "a YAML file")) for spec in specs])
    return [None if b is None else b.decode("utf-8", errors="replace") for b in blobs]


class TooLarge(PolicyError):
    """A pushed file over what its reader takes, refused before any of it was read (exit 1)."""

    def __init__(self, what: str, size: int, most: int, kind: str) -> None:
        super().__init__(
            f"{what} is {size} bytes, over the {most} bytes {kind} may hold; nothing of it was read: "
            "take it out of the commit (large files go to DVC: `dvc add`) and push again"
        )


def limit(path: str, folder: str) -> tuple[int, str]:
    """(bytes, what it is) a version file may hold: its reader's own limit."""
    if is_prompt_entry(path, folder):
        return MAX_PROMPT, "a prompt template"
    if posixpath.basename(path) == CHECKS:
        return MAX_CHECKS, "a checks file"
    return MAX_YAML, "a version file"


def read_bounded(repo: Path, wanted: list[tuple[str, str, tuple[int, str]]]) -> list[bytes | None]:
    """Contents of each (spec, name for messages, (limit, kind)) in one `cat-file --batch`,
    after one `--batch-check` found every size within its limit (TooLarge otherwise)."""
    for (_, what, (most, kind)), info in zip(
        wanted, git.object_info(repo, [w[0] for w in wanted]), strict=True
    ):
        if info is not None and info.size > most:
            raise TooLarge(what, info.size, most, kind)
    return git.read_blobs(repo, [w[0] for w in wanted])


def environments(text: str | None) -> list[str]:
    """Environments listed by a gitmodel.yaml text ([] if absent or unreadable)."""
    if not text:
        return []
    try:
        data = _yaml(text, "gitmodel.yaml")
    except GitModelError:
        return []
    envs = data.get("environments") if isinstance(data, dict) else None
    return [e for e in envs if isinstance(e, str)] if isinstance(envs, list) else []


_SEGMENT = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
MODEL_PATH = re.compile(rf"^(?:(?P<ns>{_SEGMENT})/)?models/(?P<name>{_SEGMENT})/(?P<rest>.+)$")


def model_of(path: str, namespaces: set[str] | frozenset[str] = frozenset()) -> str | None:
    """The model whose folder holds `path` (`acme:support` for acme/models/support/...).

    A namespace is a folder with its own dvc.yaml (DVC's `dir:name`); without that,
    `src/models/x/...` is ordinary code, not a model folder.
    """
    m = MODEL_PATH.match(path)
    if not m or (m["ns"] and m["ns"] not in namespaces):
        return None
    return f"{m['ns']}:{m['name']}" if m["ns"] else m["name"]


def allowed_in_models(path: str, namespaces: set[str] | frozenset[str] = frozenset()) -> bool:
    """Anything under models/ (or a model folder of a namespace) is metadata, checks, a pointer or prose."""
    if not path.startswith("models/") and model_of(path, namespaces) is None:
        return True
    name = posixpath.basename(path)
    m = MODEL_PATH.match(path)
    if m and m["rest"].startswith(f"{PROMPTS}/") and m["rest"].count("/") == 1:
        return name.endswith(".txt")  # a prompt template (gitmodel/prompts.py judges the rest)
    return name in (METADATA, CHECKS, ".gitignore") or name.endswith((".dvc", ".md"))
