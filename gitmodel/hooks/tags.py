"""pre-push and pre-receive: gitmodel's tags are append-only and each new one is sound.

For every ref in the push that `refs.parse_tag` recognises (other refs pass):
- never moved, never deleted (`immutable-tags`); created annotated (`annotated-tags`);
- a version tag NAME@vX.Y.Z: see versions.py;
- an assignment NAME#ENV#N or NAME#ENV!#N names an environment that gitmodel.yaml
  lists, at the tagged commit or at the tip of the default branch (`known-environment`),
  since an environment added after a version was registered is still valid for it;
  `ENV-canary`, the stage of ENV's canary (gitmodel/rollout/), counts as listed with ENV.
Every ref is checked and every refusal reported; one refusal refuses the whole push
(a pre-push or pre-receive hook that exits non-zero rejects every ref in it).
"""

from __future__ import annotations

from pathlib import Path

from gitmodel import git
from gitmodel.hooks import configrule, files
from gitmodel.hooks.stdin import RefUpdate, is_zero
from gitmodel.hooks.verdict import ANNOTATED, ENVIRONMENT, IMMUTABLE_TAGS, Violation
from gitmodel.hooks.versions import Created, Side, check_versions
from gitmodel.refs import Action, Ref, parse_tag

__all__ = ["Side", "check"]


def check(repo: Path, updates: list[RefUpdate], side: Side) -> list[Violation]:
    found: list[Violation] = configrule.pushed(repo, updates)
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
    if not created:
        return found
    good = _annotated(repo, created, found)
    versions = [c for c in good if c.ref.action is Action.REGISTER]
    assignments = [c for c in good if c.ref.action in (Action.ASSIGN, Action.UNASSIGN)]
    if versions:
        found += check_versions(repo, versions, side)
    if assignments:
        found += _assignments(repo, assignments, updates, side)
    return found


def _instead(ref: Ref) -> str:
    if ref.action is Action.REGISTER:
        return "register a new version instead (`gitmodel register`)"
    if ref.action in (Action.ASSIGN, Action.UNASSIGN):
        return "move an environment with a new assignment tag (`gitmodel promote` or `rollback`)"
    return "it is a record; leave it as it is"


def _annotated(repo: Path, created: list[tuple[str, str, Ref]], found: list[Violation]) -> list[Created]:
    """Keep the annotated tags that point straight at a commit (two cat-file calls for all)."""
    specs = [oid for _, oid, _ in created] + [f"{oid}^{{commit}}" for _, oid, _ in created]
    infos = git.object_info(repo, specs)
    bodies = dict(
        zip([oid for _, oid, _ in created], git.read_blobs(repo, [oid for _, oid, _ in created]), strict=True)
    )
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
        elif b"\ntype commit\n" not in (bodies[oid] or b""):
            # A tag of a tag: readers that peel one level (GTO, for-each-ref's %(*objectname))
            # would take the inner tag for the version's commit.
            why = f"it tags another tag; tag the commit itself (`git tag -a {tag} {commit.oid[:10]}`)"
            found.append(Violation(tag, ANNOTATED, why))
        else:
            good.append(Created(tag, ref, commit.oid))
    return good


def _assignments(repo: Path, created: list[Created], updates: list[RefUpdate], side: Side) -> list[Violation]:
    tips = _default_tips(repo, updates, side)
    commits = list(dict.fromkeys([c.commit for c in created] + tips))
    texts = files.read_texts(repo, [f"{commit}:gitmodel.yaml" for commit in commits])
    envs = {commit: files.environments(text) for commit, text in zip(commits, texts, strict=True)}
    from_tips = [e for t in tips for e in envs[t]]
    found = []
    for c in created:
        known = list(dict.fromkeys(envs[c.commit] + from_tips))
        if not _listed(str(c.ref.stage), known):
            listed = ", ".join(known) or "none"
            why = (
                f"environment {c.ref.stage!r} is not in gitmodel.yaml (it lists {listed}); add it under "
                "`environments:`, commit and push that first, or assign one of those"
            )
            found.append(Violation(c.tag, ENVIRONMENT, why))
    return found


def _listed(stage: str, known: list[str]) -> bool:
    """ENV itself, or ENV's canary stage `ENV-canary` (gitmodel/rollout/) for a listed ENV."""
    from gitmodel.rollout.canary_state import canary_stage

    return stage in known or any(stage == canary_stage(env) for env in known)


def _default_tips(repo: Path, updates: list[RefUpdate], side: Side) -> list[str]:
    """Commits whose gitmodel.yaml also counts: the default branch as it will be after the push."""
    if side is Side.CLIENT:
        head = git.head(repo)
        return [head] if head else []
    branch = git.symbolic_head(repo)
    if branch is None:
        return []
    pushed = [u.new for u in updates if u.ref == branch and not is_zero(u.new)]
    if pushed:
        return pushed
    (info,) = git.object_info(repo, [branch])
    return [info.oid] if info else []
