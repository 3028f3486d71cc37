"""Refs around the tag grammar: foreign forms in a model's namespace, deregistrations, seq refs.

GTO reads more tag forms than gitmodel writes (pre-release versions, a stage tag with
no counter, `#0`); such a tag would change what GTO and `dvc artifacts get` consider a
stage's version while gitmodel ignores it. So any tag that starts like one of ours
(`NAME@`, `NAME#`, `NS=NAME@`...) must parse with our grammar (`tag-grammar`), and a
deregistration `NAME@vX.Y.Z!` must mark the commit of `NAME@vX.Y.Z`.

`refs/gitmodel/seq/MODEL` is the lease every `--push` of a counter tag takes: it must
keep pointing at one of that model's counter tags, never go down, never be deleted
(`seq-refs`); a deleted or rewound one would make every later `--push` exit 3.

A whole registry (`verify --all`) cannot tell a seq ref rewound from one left behind by
tags pushed without it (`git push --tags`, `gto assign`): the ref names a tag object,
not a chain, and its reflog does not travel. Neither changes what an environment serves,
and the one harm a rewind enables, a counter used twice through the reopened lease, is
refused by the replay itself (`counter`); so a seq ref below its model's newest counter
is a warning, and one naming anything but that model's counter tags a violation
(docs/security.md, Seq refs).
"""

from __future__ import annotations

import re
from pathlib import Path

from gitmodel import git
from gitmodel.policy.stdin import RefUpdate, is_zero
from gitmodel.policy.verdict import GRAMMAR, SEQ, Violation
from gitmodel.refs import SEQ_PREFIX, Action, Ref, Version, parse_tag, version_tag
from gitmodel.registry import ModelState

_SHOWN = 3  # tags named in a warning about a seq ref behind; the rest are counted
_SEGMENT = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_NAMESPACED = re.compile(rf"^(?:{_SEGMENT}=)?{_SEGMENT}[@#]")


def foreign_form(tag: str) -> Violation | None:
    """A tag that starts in a model's namespace but is not in gitmodel's grammar."""
    if parse_tag(tag) is not None or not _NAMESPACED.match(tag):
        return None
    why = (
        "it looks like a registry tag but is not in gitmodel's grammar (NAME@vX.Y.Z, NAME@vX.Y.Z!, "
        "NAME#ENV#N with N >= 1, NAME#ENV!#N, NAME@deprecated); GTO and `dvc artifacts get` would "
        "still read it: delete it and let gitmodel write the move"
    )
    return Violation(tag, GRAMMAR, why)


def deregistration(tag: str, ref: Ref, commit: str, versions: dict[Version, str]) -> Violation | None:
    """`NAME@vX.Y.Z!` must mark the commit of NAME@vX.Y.Z (`versions`: version -> commit)."""
    assert ref.action is Action.DEREGISTER and ref.version is not None
    own = versions.get(ref.version)
    if own == commit:
        return None
    if own is None:
        why = f"{version_tag(ref.model, ref.version)} does not exist; deprecate a registered version"
    else:
        why = (
            f"it marks {commit[:10]}, not {own[:10]} where {version_tag(ref.model, ref.version)} is; "
            "GTO would deregister another version: use `gitmodel deprecate`"
        )
    return Violation(tag, GRAMMAR, why)


def seq_updates(repo: Path, updates: list[RefUpdate], pushed_tags: dict[str, str]) -> list[Violation]:
    """Judge the pushed refs/gitmodel/seq/* updates (`pushed_tags`: tag name -> new object)."""
    seqs = [u for u in updates if u.ref.startswith(SEQ_PREFIX)]
    if not seqs:
        return []
    objects = [o for u in seqs for o in (u.old, u.new) if not is_zero(o)]
    from gitmodel.policy.files import MAX_YAML, read_bounded  # sized before read

    bodies = read_bounded(
        repo, [(o, f"{SEQ_PREFIX} object {o[:10]}", (MAX_YAML, "a tag object")) for o in objects]
    )
    names = dict(zip(objects, (_tag_name(b) for b in bodies), strict=True))
    found = []
    for u in seqs:
        model = u.ref[len(SEQ_PREFIX) :].replace("=", ":")
        if u.is_delete:
            why = (
                "deleting it is refused: every `--push` of this model leases it, and without it they "
                "all exit 3; leave it to gitmodel"
            )
            found.append(Violation(u.ref, SEQ, why))
            continue
        new = parse_tag(names.get(u.new) or "")
        if new is None or new.model != model or new.counter is None:
            why = f"it must point at one of {model}'s counter tags (NAME#ENV#N); leave it to gitmodel"
            found.append(Violation(u.ref, SEQ, why))
            continue
        old = parse_tag(names.get(u.old) or "") if not is_zero(u.old) else None
        if old is not None and old.counter is not None and new.counter < old.counter:
            why = f"it would go back from #{old.counter} to #{new.counter}; counters only go up"
            found.append(Violation(u.ref, SEQ, why))
    return found


def seq_values(repo: Path, models: dict[str, ModelState]) -> tuple[list[Violation], list[Violation]]:
    """(violations, warnings) of the seq refs a registry holds: one not naming one of its
    model's counter tags is a violation; one naming a counter below the model's newest is
    behind, a warning (the module's docstring says why)."""
    raw = git.out(["for-each-ref", "--format=%(refname) %(objectname)", SEQ_PREFIX], repo)
    seqs = [line.split(" ", 1) for line in raw.splitlines() if " " in line]
    if not seqs:
        return [], []
    listed = git.out(["for-each-ref", "--format=%(objectname) %(refname:strip=2)", "refs/tags"], repo)
    names = dict(line.split(" ", 1) for line in listed.splitlines() if " " in line)
    wrong, behind = [], []
    for ref, oid in seqs:
        model = ref[len(SEQ_PREFIX) :].replace("=", ":")
        named = parse_tag(names.get(oid, ""))
        state = models.get(model)
        if named is None or named.model != model or named.counter is None or state is None:
            why = f"it does not point at one of {model}'s counter tags; leave it to gitmodel"
            wrong.append(Violation(ref, SEQ, why))
            continue
        above = [e.tag for e in state.assignments if (e.ref.counter or 0) > named.counter]
        if above:
            behind.append(Violation(ref, SEQ, seq_behind(model, ref, names[oid], above)))
    return wrong, behind


def seq_behind(model: str, ref: str, at: str, above: list[str]) -> str:
    """The warning for `ref` naming `at` below the moves `above` (in #N order)."""
    shown = ", ".join(above[:_SHOWN]) + (f" and {len(above) - _SHOWN} more" if len(above) > _SHOWN else "")
    return (
        f"it is behind: it names {at}, but {len(above)} later move(s) of {model} ({shown}) were "
        "pushed without it (`git push --tags`, `gto assign`) or it was rewound; nothing served "
        f"depends on it: the next gitmodel --push of {model} moves it on, or push it now: "
        f"`git push origin +refs/tags/{above[-1]}:{ref}`"
    )


def _tag_name(body: bytes | None) -> str | None:
    """The `tag NAME` header of an annotated tag object."""
    if not body:
        return None
    for line in body.split(b"\n\n", 1)[0].split(b"\n"):
        if line.startswith(b"tag "):
            return line[4:].decode("utf-8", errors="replace")
    return None
