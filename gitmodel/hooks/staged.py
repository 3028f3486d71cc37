"""pre-commit: what is staged must keep the registry's promises.

1. Every staged model.yaml validates against the schema, checks.yaml and prompts/ against
   their formats (gitmodel/checks.py, prompts.py), and a new version's model.yaml names
   its templates' sha256 (rule `schema`).
2. A registered version's files never change in place (`immutable-version-files`).
   models/NAME/ holds the files of the model's latest version, and `gitmodel
   register` rewrites them with a new version.  So while the staged model.yaml
   names a version that is already registered (a NAME@vX.Y.Z tag exists), the
   folder's model.yaml and .dvc pointers must be exactly those at that tag; to
   change them, register a new version: model.yaml then names a new version, which
   must be greater than every registered one (`version-order`).  Removing model.yaml
   (retiring the model from the branch) is allowed: versions live on in their tags.
3. No artifact bytes in Git: a model folder holds model.yaml, checks.yaml, .dvc
   pointers, prompts/*.txt, .gitignore and Markdown only (`no-bytes-in-git`), and no staged file anywhere is
   larger than `hooks.max_file_size` (`max-file-size`, 5 MiB unless set).

Fast path: a commit touching no model folder reads no tags, no YAML and no schema,
and nothing here imports DVC.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gitmodel import git
from gitmodel.errors import GitModelError
from gitmodel.policy import files, settings
from gitmodel.policy.verdict import (
    CONFIG,
    FILE_SIZE,
    IMMUTABLE_FILES,
    NO_BYTES,
    SCHEMA,
    VERSION_ORDER,
    Violation,
)

if TYPE_CHECKING:
    from gitmodel import prompts
    from gitmodel.refs import Version

GITLINK = "160000"


def namespaces(repo: Path, paths: list[str]) -> set[str]:
    """Which first-level folders of `paths` hold a staged dvc.yaml (one git call, if any)."""
    candidates = {m["ns"] for p in paths if (m := files.MODEL_PATH.match(p)) and m["ns"]}
    if not candidates:
        return set()
    staged = git.index_entries(repo, [f"{ns}/dvc.yaml" for ns in sorted(candidates)])
    return {p.split("/", 1)[0] for p in staged}


def human(size: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{size} B"


def check(repo: Path) -> list[Violation]:
    changes = git.staged_changes(repo)
    if not changes:
        return []
    violations: list[Violation] = []
    config_staged = any(c.path == "gitmodel.yaml" and c.status != "D" for c in changes)
    try:
        limits = settings.load(repo)
    except GitModelError as exc:
        limits = settings.HookSettings()
        if not config_staged:  # else _config reports the staged file's problem once
            violations.append(Violation("gitmodel.yaml", CONFIG, f"{exc}"))
    spaces = namespaces(repo, [c.path for c in changes])
    violations += _bytes(repo, changes, limits.max_file_size, spaces)
    if config_staged:
        violations += _config(repo)
    models = sorted({m for c in changes if (m := files.model_of(c.path, spaces))})
    if models:
        violations += _models(repo, models)
    return violations


def _bytes(repo: Path, changes: list[git.StagedChange], limit: int, spaces: set[str]) -> list[Violation]:
    added = [c for c in changes if c.status != "D" and c.mode != GITLINK]
    infos = git.object_info(repo, [c.oid for c in added])
    found = []
    for change, info in zip(added, infos, strict=True):
        unstage = f"unstage it (`git rm --cached {change.path}`)"
        if not files.allowed_in_models(change.path, spaces):
            why = (
                "model folders hold model.yaml and DVC pointers only, the bytes go to DVC; "
                f"{unstage} and register it with `gitmodel register NAME PATH`"
            )
            found.append(Violation(change.path, NO_BYTES, why))
        elif info is not None and info.size > limit:
            why = (
                f"{human(info.size)} is over the {human(limit)} limit for files in Git "
                f"(hooks.max_file_size in gitmodel.yaml); {unstage} and track it with `dvc add` "
                "or `gitmodel register`"
            )
            found.append(Violation(change.path, FILE_SIZE, why))
    return found


def _config(repo: Path) -> list[Violation]:
    from gitmodel.policy import configrule

    return configrule.staged(repo)


def _models(repo: Path, models: list[str]) -> list[Violation]:
    from gitmodel import metadata
    from gitmodel.refs import Version, model_dir, to_tag

    registry = files.registered(repo, models)
    staged = files.in_index(repo, [model_dir(m) for m in models])
    found: list[Violation] = []
    for model in models:
        folder = staged[model_dir(model)]
        path = folder.metadata_path
        try:
            folder.functional_checks("")
        except GitModelError as exc:
            found.append(Violation(f"{folder.folder}/{files.CHECKS}", SCHEMA, f"{exc}"))
            continue
        if folder.metadata_text is None:
            continue  # no model.yaml: the folder claims no version
        try:
            meta = folder.metadata()
            metadata.validate(meta, path)
        except GitModelError as exc:
            found.append(Violation(path, SCHEMA, f"{exc}"))
            continue
        if meta.get("name") != model:
            why = f"name is {meta.get('name')!r} but it is in the folder of {model!r}; write name: {model}"
            found.append(Violation(path, SCHEMA, why))
            continue
        try:
            templates = folder.templates("")
        except GitModelError as exc:
            found.append(Violation(f"{folder.folder}/{files.PROMPTS}", SCHEMA, f"{exc}"))
            continue
        version = Version.parse(str(meta["version"]))
        state = registry.get(model)
        registered = state.versions if state else {}
        if version in registered:
            found += _unchanged(repo, model, version, registered[version].commit, folder)
        elif (problem := _hashes(meta, templates, path)) is not None:
            found.append(problem)
        elif registered and version < max(registered):
            latest = max(registered)
            why = (
                f"{version} is lower than {to_tag(model)}@{latest}, the latest registered version; a new "
                f"version must be greater (e.g. {latest.bump('patch')}), or let `gitmodel register` pick it"
            )
            found.append(Violation(path, VERSION_ORDER, why))
    return found


def _hashes(meta: dict[str, object], templates: prompts.Templates | None, path: str) -> Violation | None:
    """A new version's model.yaml names its templates' hashes (gitmodel/prompts.py)."""
    from gitmodel import prompts

    try:
        prompts.check_hashes(meta, templates, path)
    except GitModelError as exc:
        return Violation(path, SCHEMA, f"{exc}")
    return None


def _unchanged(
    repo: Path, model: str, version: Version, commit: str, staged: files.VersionFiles
) -> list[Violation]:
    from gitmodel.refs import to_tag

    tagged = files.at_commits(repo, [(commit, staged.folder)])[(commit, staged.folder)]
    if staged.blobs == tagged.blobs:
        return []
    changed = sorted(
        p for p in set(staged.blobs) | set(tagged.blobs) if staged.blobs.get(p) != tagged.blobs.get(p)
    )
    tag = f"{to_tag(model)}@{version}"
    why = (
        f"{', '.join(changed)} would differ from {tag}, which is registered and immutable; to change "
        f"the model register a new version (`gitmodel register {model.replace(':', '/')} PATH`), or "
        f"restore the files with `git checkout {tag} -- {staged.folder}`"
    )
    return [Violation(changed[0], IMMUTABLE_FILES, why)]
