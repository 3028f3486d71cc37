"""pre-push and pre-receive: gitmodel's tags are append-only and each new one is sound.

For every ref in the push that `refs.parse_tag` recognises (other refs pass):
- never moved, never deleted (`immutable-tags`); created annotated (`annotated-tags`);
- a version tag NAME@vX.Y.Z: see versions.py;
- an assignment NAME#ENV#N or NAME#ENV!#N, the seq refs, foreign tag forms and the
  pushed branches: the policy, gitmodel/policy/ (push.py), which `check` runs.
Every ref is checked and every refusal reported; one refusal refuses the whole push
(a pre-push or pre-receive hook that exits non-zero rejects every ref in it).
"""

from __future__ import annotations

from pathlib import Path

from gitmodel import git
from gitmodel.policy.files import MAX_YAML
from gitmodel.policy.stdin import RefUpdate
from gitmodel.policy.verdict import ANNOTATED, IMMUTABLE_TAGS, Violation
from gitmodel.policy.versions import Created, Side
from gitmodel.refs import Action, Ref, parse_tag

__all__ = ["Side", "check"]


def check(repo: Path, updates: list[RefUpdate], side: Side) -> list[Violation]:
    """Every rule on the pushed refs: this module's, then the policy's (gitmodel/policy/)."""
    from gitmodel.policy import push

    return push.check(repo, updates, side)


def immutable(updates: list[RefUpdate]) -> tuple[list[Violation], list[tuple[str, str, Ref]]]:
    """Refusals of moved or deleted gitmodel tags, and the created ones (tag, object, parsed)."""
    found: list[Violation] = []
    created: list[tuple[str, str, Ref]] = []  # (tag, pushed object, parsed name)
    for update in updates:
        ref = parse_tag(update.tag) if update.tag else None
        if update.tag is None or ref is None:
            continue  # branches and foreign tags are not gitmodel's business
        if update.is_delete:
            why = "deleting it is refused: gitmodel's tags are the registry's history and are never deleted"
            found.append(Violation(update.tag, IMMUTABLE_TAGS, f"{why}; {_instead(ref)}"))
        elif update.is_move:
            why = (
                f"it points at {update.old[:10]}; moving it to {update.new[:10]} is refused, tags never move"
            )
            found.append(Violation(update.tag, IMMUTABLE_TAGS, f"{why}; {_instead(ref)}"))
        elif update.is_create:
            created.append((update.tag, update.new, ref))
    return found, created


def _instead(ref: Ref) -> str:
    if ref.action is Action.REGISTER:
        return "register a new version instead (`gitmodel register`)"
    if ref.action in (Action.ASSIGN, Action.UNASSIGN):
        return "move an environment with a new assignment tag (`gitmodel promote` or `rollback`)"
    return "it is a record; leave it as it is"


def annotated(repo: Path, created: list[tuple[str, str, Ref]], found: list[Violation]) -> list[Created]:
    """Keep the annotated tags that point straight at a commit (two cat-file calls for all)."""
    specs = [oid for _, oid, _ in created] + [f"{oid}^{{commit}}" for _, oid, _ in created]
    infos = git.object_info(repo, specs)
    # Sized before read: a pushed tag object of hundreds of MB is refused unread.
    sized = [oid for (_, oid, _), obj in zip(created, infos, strict=False) if obj and obj.size <= MAX_YAML]
    bodies = dict(zip(sized, git.read_blobs(repo, sized), strict=True))
    good = []
    for (tag, oid, ref), obj, commit in zip(
        created, infos[: len(created)], infos[len(created) :], strict=True
    ):
        if obj is None:
            found.append(Violation(tag, ANNOTATED, f"object {oid[:10]} is missing; push it again"))
        elif obj.type != "tag":
            why = (
                f"it is a lightweight tag (a bare {obj.type}); gitmodel's tags are annotated so that they "
                f"record who, when and why: delete it (`git tag -d {tag}`) and create it with gitmodel "
                "(`register`, `promote`) or `git tag -a`"
            )
            found.append(Violation(tag, ANNOTATED, why))
        elif commit is None:
            found.append(Violation(tag, ANNOTATED, "it does not point at a commit; tag a commit"))
        elif obj.size > MAX_YAML:
            why = f"its tag object is {obj.size} bytes, over the {MAX_YAML} a tag record may hold (not read)"
            found.append(Violation(tag, ANNOTATED, why))
        elif b"\ntype commit\n" not in (bodies[oid] or b""):
            # A tag of a tag: readers that peel one level (GTO, for-each-ref's %(*objectname))
            # would take the inner tag for the version's commit.
            why = f"it tags another tag; tag the commit itself (`git tag -a {tag} {commit.oid[:10]}`)"
            found.append(Violation(tag, ANNOTATED, why))
        else:
            body = bodies[oid] or b""
            message = body.split(b"\n\n", 1)[1] if b"\n\n" in body else b""
            good.append(Created(tag, ref, commit.oid, message.decode("utf-8", errors="replace")))
    return good
