"""The note a registration keeps while it writes, so a killed one is finished or undone.

`register` moves the artifact into the model's folder, writes the pointer, model.yaml
and dvc.yaml, commits, then tags.  A kill -9 between the first write and the tag used to
leave a commit (or a half-written work tree) that the rerun could not get past: the
source had moved, so it said "does not exist" until someone ran `git reset`.  The note
(`.git/gitmodel-registering`, JSON) says what the run was doing; the next `register` on
this clone reads it first, under the registry lock:

- the commit is there (HEAD is the registration's commit on top of the HEAD it started
  from): the tag is created with the message the run meant to write and the command
  stops, saying so (a --push registration is then finished by unpushed.finish_unpushed);
- no commit yet (HEAD is where it started): the work tree is put back as it was (paths
  restored, the artifact moved back to where the user had it) and the command goes on;
- HEAD moved elsewhere since (someone committed by hand): the note is dropped.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from gitmodel import git
from gitmodel.errors import EXIT_OK, GitModelError

NAME = "gitmodel-registering"


@dataclass(frozen=True)
class Note:
    tag: str
    old_head: str | None
    src: str
    dest: str
    touched: list[str]
    aside: list[str]  # paths set aside as .gitmodel-old-NAME while the run went on
    summary: str  # the commit's first line: how its commit is recognised
    message: str  # the tag's annotation
    push: bool


class RegistrationFinished(GitModelError):
    """Not a failure: an earlier run's registration was completed, and the command stops."""

    exit_code = EXIT_OK


def _path(repo: Path) -> Path:
    return git.git_dir(repo) / NAME


def write(repo: Path, note: Note) -> None:
    path = _path(repo)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(asdict(note)), encoding="utf-8")
    os.replace(tmp, path)


def clear(repo: Path) -> None:
    _path(repo).unlink(missing_ok=True)


def pending(repo: Path) -> bool:
    return _path(repo).exists()


def read(repo: Path) -> Note | None:
    try:
        data = json.loads(_path(repo).read_text(encoding="utf-8"))
        return Note(**data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError):  # torn or foreign: nothing we can act on
        clear(repo)
        return None


def backup_of(path: Path) -> Path:
    return path.with_name(f".gitmodel-old-{path.name}")


def finish_interrupted(repo: Path, push: bool) -> None:
    """Finish or undo a registration a killed run left (see the module doc); call under
    the registry lock, before the new command looks at its source path."""
    from gitmodel import moves
    from gitmodel.refs import parse_tag

    note = read(repo)
    if note is None:
        return
    head = git.head(repo)
    if head is not None and head != note.old_head and _is_ours(repo, head, note):
        if note.tag not in git.tag_names(repo):
            if note.push:  # the next --push of the model pushes it (unpushed.resume)
                moves.mark_pushing(repo, [note.tag])
            after = moves.newest_date(repo, ref.model) if (ref := parse_tag(note.tag)) else None
            git.create_tag(repo, note.tag, head, note.message, after=after)
        _drop_backups(note)
        clear(repo)
        if note.push and push:
            return  # unpushed.finish_unpushed pushes it and says so
        then = (
            "; its --push is still to do: run `gitmodel register` with --push again (or any --push "
            "of the model), which pushes it"
            if note.push
            else ""
        )
        raise RegistrationFinished(
            f"created {note.tag}: an earlier run was cut short between its commit and its tag{then}; "
            "nothing else was done: run the command again if you meant a further registration"
        )
    if head == note.old_head:
        _undo(repo, note)
    clear(repo)


def _is_ours(repo: Path, head: str, note: Note) -> bool:
    """HEAD is the run's commit: its subject, on top of the HEAD the run started from."""
    proc = git.run(["log", "-1", "--format=%P%n%s", head], repo, check=False)
    parents, _, subject = proc.stdout.partition("\n")
    return (
        proc.returncode == 0
        and subject.strip() == note.summary
        and parents.split() == ([note.old_head] if note.old_head else [])
    )


def _undo(repo: Path, note: Note) -> None:
    """Put the work tree back as it was before the killed run's first write."""
    git.restore_paths(repo, note.old_head, note.touched)
    src, dest = Path(note.src), Path(note.dest)
    if src != dest and dest.exists() and not (src.exists() or src.is_symlink()):
        src.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(dest), str(src))
    for kept in map(Path, note.aside):
        backup = backup_of(kept)
        if backup.exists() and not (kept.exists() or kept.is_symlink()):
            backup.rename(kept)


def _drop_backups(note: Note) -> None:
    for kept in map(Path, note.aside):
        backup = backup_of(kept)
        with contextlib.suppress(FileNotFoundError):
            if backup.is_dir() and not backup.is_symlink():
                shutil.rmtree(backup)
            else:
                backup.unlink()
