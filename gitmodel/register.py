"""Register a version: DVC tracks the bytes, model.yaml describes them, one commit, one tag.

The model folder's checks.yaml (gitmodel/checks.py) and prompt templates
(prompts/NAME.txt, gitmodel/prompts.py), when the work tree has them, are judged and
committed with the version, the templates' sha256 in model.yaml: they are part of it,
and a change to them alone is a patch.

Everything that can refuse (name, version, path, metadata, remotes) is checked
before anything is written; a failure after the first write undoes every step.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodel import (
    artifact,
    checks,
    config,
    dvc,
    dvcyaml,
    git,
    metadata,
    moves,
    prompts,
    register_note,
    unpushed,
    untrusted,
    versioning,
    yamlio,
)
from gitmodel.errors import PolicyError, UsageError, VersionExists
from gitmodel.git.remote import PushUncertain
from gitmodel.lifecycle import card
from gitmodel.lock import locked
from gitmodel.records import Act, format_message
from gitmodel.refs import Version, model_dir, parse_model, version_tag
from gitmodel.registry import Registry
from gitmodel.yamlio import dumps


@dataclass(frozen=True)
class Registered:
    model: str
    version: Version
    tag: str
    commit: str
    parent: Version | None
    level: str | None
    reason: str
    pushed: bool
    artifact_path: str


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
        tag = version_tag(model, wanted)
        return _write(repo, model, wanted, parent, level, reason, src, draft, tag, req, scanned.md5s)


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
    on_disk = dvc.remote_of(_read(repo / ".dvc" / "config"))
    if here is not None and committed is not None and here[0] == committed[0] and on_disk == committed:
        return
    shown = f"{here[0]!r} ({here[1]})" if here else "one outside the registry's .dvc/config"
    named = f"{committed[0]!r} ({committed[1]})" if committed else "no default remote"
    raise UsageError(
        f"--push would send the bytes to the DVC remote {shown}, but the committed .dvc/config, which "
        f"hosts read, names {named}; commit .dvc/config (`git add .dvc/config && git commit -m "
        "'DVC remote'`), then register again"
    )


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _write(
    repo: Path,
    model: str,
    version: Version,
    parent: Version | None,
    level: str | None,
    reason: str,
    src: Path,
    meta: dict[str, Any],
    tag: str,
    req: Request,
    md5s: dict[str, str],
) -> Registered:
    mdir = repo / model_dir(model)
    dest = mdir / src.name
    old_head = git.head(repo)
    undo: list[Callable[[], None]] = []
    touched = [
        str((mdir / "model.yaml").relative_to(repo)),
        str((mdir / card.FILENAME).relative_to(repo)),
        str(dest.relative_to(repo)) + ".dvc",
        str((mdir / ".gitignore").relative_to(repo)),
        dvcyaml.path_for(model),
    ]
    summary = f"gitmodel: register {model} {version}"
    body = meta.get("description") or ""
    record = {
        "action": Act.REGISTER,
        "version": str(version),
        "parent": str(parent) if parent else None,
        "bump": level,
        "reason": reason,
    }
    others = [p for p in sorted(mdir.glob("*.dvc")) if p.name != dest.name + ".dvc"]
    touched += [str(p.relative_to(repo)) for p in others]
    # Before the first write: a run killed before its tag is finished or undone by the next
    # register (register_note.py), never left for a manual `git reset`.
    register_note.write(
        repo,
        register_note.Note(
            tag,
            old_head,
            str(src),
            str(dest),
            touched,
            [str(dest), *(str(p.with_suffix("")) for p in others)],
            summary,
            format_message(summary, record, body),
            req.push,
        ),
    )
    pushing = False  # the git push has started: a timeout there may have reached origin
    try:
        mdir.mkdir(parents=True, exist_ok=True)
        backups = []
        if src != dest:
            backups.append(_set_aside(dest, undo))
            shutil.move(str(src), str(dest))
            undo.append(lambda: _move(dest, src))
        _dropped, more = _drop_other_artifacts(repo, mdir, dest, undo)
        backups += more
        undo.append(lambda: git.restore_paths(repo, old_head, touched))
        out = dvc.add(repo, dest, md5s)  # hashed by the scan: the bytes are read once
        moves.crash_test_pause("register-added")
        meta["artifact"]["dvc_md5"] = out["md5"]
        metadata.validate(meta, str(req.meta_file or "metadata"))
        (mdir / "model.yaml").write_text(dumps(meta), encoding="utf-8")
        (mdir / card.FILENAME).write_text(card.render(meta), encoding="utf-8")
        dvcyaml.declare(repo, model, src.name, meta)
        # checks.yaml and prompts/ are the user's files: committed as they are, never restored by an undo
        commit = git.commit(repo, f"{summary}\n\n{body}".strip() + "\n", touched + _user_files(repo, model))
        undo.append(lambda: git.reset_head(repo, old_head, commit))
        moves.crash_test_pause("register-committed")
        if req.push:  # a kill before the push ends leaves it for the next push (unpushed.resume)
            moves.mark_pushing(repo, [tag])
            undo.append(lambda: moves.unmark_pushing(repo, [tag]))
        # Dated after the model's newest tag, as moves are: GTO orders by the one-second date.
        after = moves.newest_date(repo, model)
        git.create_tag(repo, tag, commit, format_message(summary, record, body), after=after)
        undo.append(lambda: git.delete_tag(repo, tag))
        register_note.clear(repo)  # from here on, the tag (and the push note) say it all
        if req.push:
            moves.crash_test_pause("move-tagged")
            dvc.push(repo, [dest.with_name(dest.name + ".dvc")])
            moves.crash_test_pause("register-dvc-pushed")
            branch = git.branch(repo)
            refspecs = [f"refs/tags/{tag}"]
            if branch:
                refspecs.insert(0, f"HEAD:refs/heads/{branch}")
            pushing = True
            git.push(repo, refspecs)
            moves.crash_test_pause("move-pushed")
            moves.unmark_pushing(repo, [tag])
    except PushUncertain as exc:
        if not pushing:
            _undo(undo, repo)
            raise
        # Origin may hold the tag: keeping it (and the push note) is what lets the next
        # --push ask origin and finish the move; undoing it could orphan origin's copy.
        for backup in backups:
            if backup is not None:
                _remove(backup)
        raise PushUncertain(
            f"{exc}; {tag} and its commit are kept on this clone: run the same `gitmodel register "
            f"... --push` again (or any --push of {model}): it asks origin and finishes the "
            "registration, nothing is repeated"
        ) from None
    except BaseException:
        _undo(undo, repo)
        raise
    for backup in backups:
        if backup is not None:
            _remove(backup)
    return Registered(
        model, version, tag, commit, parent, level, reason, req.push, str(dest.relative_to(repo))
    )


def _user_files(repo: Path, model: str) -> list[str]:
    """checks.yaml and prompts/ when the work tree or the index has them (a removal is committed too)."""
    found = []
    rel = f"{model_dir(model)}/{checks.FILENAME}"
    if os.path.lexists(repo / rel) or git.object_info(repo, [f":{rel}"]) != [None]:
        found.append(rel)
    rel = f"{model_dir(model)}/{prompts.FOLDER}"
    # an empty folder is no pathspec git accepts; templates removed from the work tree are staged
    if ((repo / rel).is_dir() and os.listdir(repo / rel)) or git.tree_listing(repo, None, rel):
        found.append(rel)
    return found


def _undo(undo: list[Callable[[], None]], repo: Path) -> None:
    for step in reversed(undo):
        with contextlib.suppress(Exception):  # undo is best effort; the first error matters
            step()
    register_note.clear(repo)


def _set_aside(path: Path, undo: list[Callable[[], None]]) -> Path | None:
    """Rename a workspace copy out of the way; its bytes are in the DVC cache.

    Returns the new name, to delete once the registration has succeeded.
    """
    if not (path.exists() or path.is_symlink()):
        return None
    backup = register_note.backup_of(path)
    _remove(backup)
    path.rename(backup)
    undo.append(lambda: _restore(backup, path))
    return backup


def _move(src: Path, dest: Path) -> None:
    shutil.move(str(src), str(dest))


def _restore(backup: Path, path: Path) -> None:
    if not (path.exists() or path.is_symlink()):
        backup.rename(path)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _drop_other_artifacts(
    repo: Path, mdir: Path, dest: Path, undo: list[Callable[[], None]]
) -> tuple[list[str], list[Path]]:
    """A model folder holds one artifact: other pointers, and their files, leave the version."""
    dropped, backups = [], []
    for pointer in sorted(mdir.glob("*.dvc")):
        if pointer.name != dest.name + ".dvc":
            dropped.append(str(pointer.relative_to(repo)))
            pointer.unlink()
            backup = _set_aside(pointer.with_suffix(""), undo)
            if backup is not None:
                backups.append(backup)
    return dropped, backups
