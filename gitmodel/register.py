"""Register a version: DVC tracks the bytes, model.yaml describes them, one commit, one tag.

The model folder's checks.yaml (gitmodel/checks.py) and prompt templates
(prompts/NAME.txt, gitmodel/prompts.py), when the work tree has them, are judged and
committed with the version, the templates' sha256 in model.yaml: they are part of it,
and a change to them alone is a patch.

Everything that can refuse (name, version, path, metadata, remotes) is checked here,
before anything is written; gitmodel/register_write.py then writes the plan, and undoes
every step when a write fails.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodel import (
    artifact,
    checks,
    config,
    dvc,
    git,
    metadata,
    prompts,
    register_note,
    unpushed,
    untrusted,
    versioning,
    yamlio,
)
from gitmodel.errors import PolicyError, UsageError, VersionExists
from gitmodel.lock import locked
from gitmodel.refs import Version, model_dir, parse_model, version_tag
from gitmodel.register_write import Plan, Registered, write
from gitmodel.registry import Registry

__all__ = ["Registered", "Request", "register"]


@dataclass(frozen=True)
class Request:
    name: str
    path: str
    version: str | None = None
    bump: str = "auto"
    meta_file: Path | None = None
    message: str | None = None
    push: bool = False
    for_env: str | None = None  # refuse unless the version carries the evidence this environment requires
    progress: artifact.Progress | None = None  # hashing progress, for the CLI to draw


def register(repo: Path, cwd: Path, req: Request) -> Registered:
    model = parse_model(req.name)
    if req.version and req.bump != "auto":
        raise UsageError("give --version or --bump, not both")
    wanted = Version.parse(req.version) if req.version else None
    if req.bump not in ("auto", "major", "minor", "patch"):
        raise UsageError(f"unknown --bump {req.bump!r}: use auto, major, minor or patch")
    cfg = config.load(repo)
    if req.for_env is not None:
        cfg.check_env(req.for_env)
    user = metadata.read_user_meta(req.meta_file)
    if register_note.pending(repo):  # a registration killed before its tag: finished or undone
        with locked(git.git_dir(repo)):
            register_note.finish_interrupted(repo, req.push)
    if req.push:
        _check_remotes(repo)
        with locked(git.git_dir(repo)):  # an earlier run's unpushed registration goes first, alone
            unpushed.finish_unpushed(repo, model)
    src = artifact.locate(req.path, cwd, repo)
    _not_the_model_folder(src, repo / model_dir(model), req.path)
    _no_links(src)
    untrusted.checkout_folder(repo, model_dir(model), "the model folder")  # the bytes move into it

    with locked(git.git_dir(repo)):
        mstate = Registry.find_model(repo, model)
        existing = sorted(mstate.versions) if mstate else []
        if wanted is not None and wanted in existing:
            raise VersionExists(model, str(wanted))
        parent = max(existing) if existing else None
        scanned = artifact.scan(src, req.progress)
        old: dict[str, Any] = {}
        if parent is not None:
            assert mstate is not None
            old = metadata.at_version(repo, mstate, parent) or {}
        art = {
            "path": src.name,
            "kind": scanned.kind,
            # replaced after `dvc add`; the schema and the door need a well-formed value
            "dvc_md5": "0" * 32 + (".dir" if scanned.kind == "directory" else ""),
            "size": scanned.size,
            "files": scanned.files,
        }
        draft = metadata.complete(
            metadata.inherit(old, user),
            name=model,
            version=str(wanted or Version(0, 0, 0)),
            parent=str(parent) if parent else None,
            artifact=art,
            created_by=git.identity(repo),
            message=req.message,
        )
        folder = model_dir(model)
        templates = prompts.read_dir(repo / folder, folder)
        if templates is not None:  # the text is part of the version: its hash goes into model.yaml
            draft["prompts"] = templates.hashes()
        _acceptable(draft, str(req.meta_file or "metadata"))
        found = checks.read_file(repo / folder / checks.FILENAME, f"{folder}/{checks.FILENAME}")
        level, reason = None, "first version"
        if parent is not None:
            assert mstate is not None
            before = checks.text_at(repo, mstate.version_event(parent).commit, folder)
            changed = before != (found.text if found else None)
            level, reason = versioning.change_level(old, draft, checks_changed=changed)
        if wanted is None:
            wanted = versioning.next_version(model, existing, req.bump, level, reason)
        versioning.check_version(model, wanted, existing, level, reason)
        draft["version"] = str(wanted)
        if req.for_env is not None:
            from gitmodel.gating import check_evidence

            check_evidence(cfg, req.for_env, model, str(wanted), draft, "add them to --meta FILE and retry")
        plan = Plan(
            model,
            wanted,
            parent,
            level,
            reason,
            src,
            draft,
            version_tag(model, wanted),
            scanned.md5s,
            req.push,
            str(req.meta_file or "metadata"),
        )
        return write(repo, plan)


def _not_the_model_folder(src: Path, mdir: Path, given: str) -> None:
    """The artifact moves into the model's folder, so it cannot be that folder or hold it."""
    mdir = mdir.resolve()
    if src == mdir:
        raise UsageError(
            f"{given} is the model's own folder (model.yaml and the DVC pointers live there); "
            "give the model file or adapter folder inside it"
        )
    if src in mdir.parents:
        raise UsageError(
            f"{given} holds the model's own folder {mdir.relative_to(src)}; give the model file or "
            "adapter folder itself"
        )


def _no_links(src: Path) -> None:
    """A folder with a symlink inside would upload the link's target (anything on this disk)."""
    if not src.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(src):
        for name in sorted([*dirnames, *filenames]):
            path = Path(dirpath, name)
            if path.is_symlink():
                raise untrusted.UntrustedData(
                    f"artifact file {path.relative_to(src).as_posix()!r}",
                    os.readlink(path),
                    "it is a symlink, and gitmodel registers file contents, never links",
                    "copy the file into the folder instead",
                )


def _acceptable(meta: dict[str, Any], source: str) -> None:
    """Schema, door and size: never register a version that hosts and hooks would refuse."""
    try:
        metadata.validate(meta, source)
    except untrusted.UntrustedData as exc:
        raise untrusted.UntrustedData(
            exc.field, exc.value, exc.rule, "rename it and register again"
        ) from None
    files = meta["artifact"]["files"]
    # Each file is one `path: sha256:...` line of model.yaml; readers refuse a document
    # over yamlio.MAX_BYTES, so such a folder could be registered but never deployed.
    estimate = sum(len(k.encode()) + 80 for k in files) + 8192
    if estimate > yamlio.MAX_BYTES:
        raise PolicyError(
            f"a folder of {len(files)} files makes a model.yaml over the {yamlio.MAX_BYTES} byte limit "
            "that gitmodel reads; pack the files into fewer (e.g. an archive) and register again"
        )


def _check_remotes(repo: Path) -> None:
    if not git.has_remote(repo):
        raise UsageError("--push needs a git remote named origin; add one with `git remote add origin URL`")
    if dvc.default_remote(repo) is None:
        raise UsageError("--push needs a default DVC remote; add one with `dvc remote add -d NAME URL`")
    # Hosts and other clones read the committed .dvc/config: bytes pushed to a remote it
    # does not name would be registered, then missing for every deploy.  A URL override in
    # .dvc/config.local (same remote name) is this machine's own, deliberate choice.
    here = dvc.working_remote(repo)
    committed = dvc.remote_of(git.show(repo, "HEAD", ".dvc/config"))
    on_disk = dvc.tracked_remote(repo)
    if here is not None and committed is not None and here[0] == committed[0] and on_disk == committed:
        return
    shown = f"{here[0]!r} ({here[1]})" if here else "one outside the registry's .dvc/config"
    named = f"{committed[0]!r} ({committed[1]})" if committed else "no default remote"
    raise UsageError(
        f"--push would send the bytes to the DVC remote {shown}, but the committed .dvc/config, which "
        f"hosts read, names {named}; commit .dvc/config (`git add .dvc/config && git commit -m "
        "'DVC remote'`), then register again"
    )
