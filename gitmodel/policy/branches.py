"""Branch pushes: the pushed tip keeps the registry's files sound (what pre-commit checks, again).

`--no-verify` skips pre-commit, so the server (and `verify` in CI) look at the tip of
every pushed branch: each model folder the push changed must hold a schema-valid
model.yaml named for its folder (`schema`); while it names a registered version, its
model.yaml and pointers must be exactly those at that version's tag
(`immutable-version-files`), else it must name a version above every registered one
(`version-order`); a changed gitmodel.yaml must parse (`config`). Only the tip is
judged: intermediate commits are never what a reader or a tag sees unless tagged, and
tags are judged on their own.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gitmodel import git
from gitmodel.errors import GitModelError
from gitmodel.policy import files
from gitmodel.policy.stdin import RefUpdate
from gitmodel.policy.verdict import CONFIG, IMMUTABLE_FILES, SCHEMA, VERSION_ORDER, Violation
from gitmodel.refs import Version, model_dir, to_tag
from gitmodel.registry import ModelState

StatesFor = Callable[[list[str]], dict[str, ModelState]]


def check(repo: Path, heads: list[RefUpdate], states_for: StatesFor) -> list[Violation]:
    found: list[Violation] = []
    for u in heads:
        paths = changed_paths(repo, u.old, u.new)
        # gitmodel.yaml on a pushed branch is configrule's (run by push.check already)
        found += tip(repo, u.ref.removeprefix("refs/heads/"), u.new, paths, states_for, config=False)
    return found


def changed_paths(repo: Path, old: str, new: str) -> list[str]:
    """Paths that differ between two commits (every path of `new` when `old` is absent)."""
    from gitmodel.policy.stdin import is_zero

    if is_zero(old) or git.object_info(repo, [f"{old}^{{commit}}"]) == [None]:
        return git.out(["ls-tree", "-r", "--name-only", "-z", new], repo).split("\0")
    raw = git.out(["diff-tree", "-r", "--name-only", "--no-renames", "-z", old, new], repo)
    return [p for p in raw.split("\0") if p]


def tip(
    repo: Path, branch: str, commit: str, paths: list[str], states_for: StatesFor, config: bool = True
) -> list[Violation]:
    """Judge the model folders among `paths` (and gitmodel.yaml) as they are at `commit`."""
    from gitmodel.policy.files import model_of

    found: list[Violation] = []
    if config and "gitmodel.yaml" in paths:
        found += _config(repo, branch, commit)
    candidates = {p.split("/", 1)[0] for p in paths if "/models/" in p and not p.startswith("models/")}
    spaces = _namespaces(repo, commit, sorted(candidates))
    models = sorted({m for p in paths if p and (m := model_of(p, spaces))})
    if not models:
        return found
    states = states_for(models)
    folders = files.at_commits(repo, [(commit, model_dir(m)) for m in models])
    for model in models:
        found += _folder(repo, branch, commit, model, folders[(commit, model_dir(model))], states.get(model))
    return found


def _namespaces(repo: Path, commit: str, candidates: list[str]) -> set[str]:
    infos = git.object_info(repo, [f"{commit}:{ns}/dvc.yaml" for ns in candidates])
    return {ns for ns, info in zip(candidates, infos, strict=True) if info is not None}


def _config(repo: Path, branch: str, commit: str) -> list[Violation]:
    from gitmodel import config

    (text,) = files.read_texts(repo, [f"{commit}:gitmodel.yaml"])
    if text is None:
        return []
    try:
        config.parse_text(text, "gitmodel.yaml")
    except GitModelError as exc:
        return [Violation(f"{branch}:gitmodel.yaml", CONFIG, str(exc))]
    return []


def _folder(
    repo: Path, branch: str, commit: str, model: str, vf: files.VersionFiles, state: ModelState | None
) -> list[Violation]:
    from gitmodel import metadata

    subject = f"{branch}:{vf.metadata_path}"
    try:
        vf.functional_checks(f" at {commit[:10]}")
    except GitModelError as exc:
        return [Violation(f"{branch}:{vf.folder}/{files.CHECKS}", SCHEMA, f"{exc}")]
    if vf.metadata_text is None:
        return []  # no model.yaml: the folder claims no version (a retired model)
    try:
        meta = vf.metadata()
        metadata.validate(meta, f"{vf.metadata_path} at {commit[:10]}")
        version = Version.parse(str(meta["version"]))
    except GitModelError as exc:
        return [Violation(subject, SCHEMA, f"{exc}")]
    if meta.get("name") != model:
        why = f"name is {meta.get('name')!r} but it is in the folder of {model!r}; write name: {model}"
        return [Violation(subject, SCHEMA, why)]
    try:
        templates = vf.templates(f" at {commit[:10]}")
    except GitModelError as exc:
        return [Violation(f"{branch}:{vf.folder}/{files.PROMPTS}", SCHEMA, f"{exc}")]
    registered = state.versions if state else {}
    tag = f"{to_tag(model)}@{version}"
    if version in registered:
        tagged = files.at_commits(repo, [(registered[version].commit, vf.folder)])
        if tagged[(registered[version].commit, vf.folder)].blobs == vf.blobs:
            return []
        why = (
            f"the folder's files differ from {tag}, which is registered and immutable; register a new "
            f"version (`gitmodel register`), or restore them with `git checkout {tag} -- {vf.folder}`"
        )
        return [Violation(subject, IMMUTABLE_FILES, why)]
    if registered and version < max(registered):
        why = (
            f"{version} is lower than {to_tag(model)}@{max(registered)}, the latest registered version; "
            "a new version must be greater (let `gitmodel register` pick it)"
        )
        return [Violation(subject, VERSION_ORDER, why)]
    from gitmodel import prompts

    try:
        prompts.check_hashes(meta, templates, f"{vf.metadata_path} at {commit[:10]}")
    except GitModelError as exc:
        return [Violation(subject, SCHEMA, f"{exc}")]
    return []
