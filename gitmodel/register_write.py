"""Write a planned registration: the bytes into the model folder, `dvc add`, model.yaml
and the model card, one commit, one tag, and with --push the DVC objects, branch and tag.

gitmodel/register.py decides (name, version, metadata: everything that can refuse)
before anything is written; this module only writes.  A failure after the first write
undoes every step; a run killed before its tag is finished or undone by the next
register (gitmodel/register_note.py); a push cut short keeps the tag for the next --push.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodel import checks, dvc, dvcyaml, git, metadata, moves, prompts, register_note
from gitmodel.git.remote import PushUncertain
from gitmodel.lifecycle import card
from gitmodel.records import Act, format_message
from gitmodel.refs import Version, model_dir
from gitmodel.untrusted import write_checkout_file
from gitmodel.yamlio import dumps


@dataclass(frozen=True)
class Plan:
    """What register decided: the version, its metadata (dvc_md5 filled in by the write)."""

    model: str
    version: Version
    parent: Version | None
    level: str | None  # the bump from parent; None for a first version
    reason: str
    src: Path  # the artifact as given; moved into the model folder unless it is there
    meta: dict[str, Any]
    tag: str
    md5s: dict[str, str]  # DVC's md5 of each file, from the scan's one read
    push: bool
    meta_source: str  # names the metadata in a validation error


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


def write(repo: Path, plan: Plan) -> Registered:
    """Carry out `plan` (the caller holds the repository lock); any failure undoes every step."""
    model, version, tag, src, meta = plan.model, plan.version, plan.tag, plan.src, plan.meta
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
        "parent": str(plan.parent) if plan.parent else None,
        "bump": plan.level,
        "reason": plan.reason,
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
            plan.push,
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
        out = dvc.add(repo, dest, plan.md5s)  # hashed by the scan: the bytes are read once
        moves.crash_test_pause("register-added")
        meta["artifact"]["dvc_md5"] = out["md5"]
        metadata.validate(meta, plan.meta_source)
        for rel, text in ((touched[0], dumps(meta)), (touched[1], card.render(meta))):
            write_checkout_file(repo, rel, rel, text.encode())  # never through a link (untrusted.py)
        dvcyaml.declare(repo, model, src.name, meta)
        # checks.yaml and prompts/ are the user's files: committed as they are, never restored by an undo
        commit = git.commit(repo, f"{summary}\n\n{body}".strip() + "\n", touched + _user_files(repo, model))
        undo.append(lambda: git.reset_head(repo, old_head, commit))
        moves.crash_test_pause("register-committed")
        if plan.push:  # a kill before the push ends leaves it for the next push (unpushed.resume)
            moves.mark_pushing(repo, [tag])
            undo.append(lambda: moves.unmark_pushing(repo, [tag]))
        # Dated after the model's newest tag, as moves are: GTO orders by the one-second date.
        after = moves.newest_date(repo, model)
        git.create_tag(repo, tag, commit, format_message(summary, record, body), after=after)
        undo.append(lambda: git.delete_tag(repo, tag))
        register_note.clear(repo)  # from here on, the tag (and the push note) say it all
        if plan.push:
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
    where = str(dest.relative_to(repo))
    return Registered(model, version, tag, commit, plan.parent, plan.level, plan.reason, plan.push, where)


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
