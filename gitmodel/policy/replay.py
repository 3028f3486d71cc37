"""The policy over a whole registry (`gitmodel verify --all`) and over one pointer (a host).

Hosted Git runs no pre-receive, so CI replays the registry: every version tag is judged
as the server would have judged it on arrival (versions.py), and every assignment
against the model as it stood before it, in `#N` order. A deprecation carries no
counter; in a replay it counts against the assignments tagged after it. A host judges
only the pointer it is asked to serve, and more strictly: a pointer at a deprecated
version is refused whenever the deprecation came.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gitmodel import git
from gitmodel.policy import branches, envbranches, files, namespace
from gitmodel.policy.assignments import Judge, Pending
from gitmodel.policy.push import parse_config
from gitmodel.policy.verdict import ANNOTATED, Violation
from gitmodel.policy.versions import Created, Side, check_versions
from gitmodel.refs import Action, model_dir, parse_tag
from gitmodel.registry import ModelState, build_models


@dataclass
class Report:
    violations: list[Violation] = field(default_factory=list)
    warnings: list[Violation] = field(default_factory=list)  # accepted, but worth a line (a lagging branch)
    tags: int = 0  # gitmodel tags judged
    models: int = 0

    @property
    def ok(self) -> bool:
        return not self.violations


def check_all(repo: Path, *, allow_override: bool = True) -> Report:
    """Every gitmodel tag, the lifecycle records, the seq refs and HEAD's model folders."""
    records = git.read_tags(repo)
    report = Report(tags=0)
    annotated = {r.name for r in records}
    for name in git.tag_list(repo):
        if (v := namespace.foreign_form(name)) is not None:
            report.violations.append(v)
        elif parse_tag(name) is not None and name not in annotated:
            why = f"it is a lightweight tag in gitmodel's namespace; delete it (`git push origin :{name}`)"
            report.violations.append(Violation(name, ANNOTATED, why))
    models = build_models(records)
    report.models = len(models)
    head = git.head(repo)
    (text,) = files.read_texts(repo, [f"{head}:gitmodel.yaml"]) if head else [None]
    judge = Judge(repo, parse_config(text), allow_override)
    versions = [
        Created(e.tag, e.ref, e.commit, e.message)
        for state in models.values()
        for e in state.versions.values()
    ]
    if versions:  # all at once: two cat-file calls read every version's files
        report.violations += check_versions(repo, versions, Side.SERVER, judge.parsed)
        judge.prefetch([(c.commit, model_dir(c.ref.model)) for c in versions])
    for state in models.values():
        report.tags += len(state.versions) + len(state.assignments) + len(state.deprecated_versions)
        report.violations += _model(judge, state)
    from gitmodel.policy import lifecycle

    commits = {(m, v): e.commit for m, state in models.items() for v, e in state.versions.items()}
    report.violations += lifecycle.held(repo, commits)
    wrong_seq, behind = namespace.seq_values(repo, models)
    report.violations += wrong_seq
    report.warnings += behind
    wrong, lagging = envbranches.judge_branches(
        repo, judge.config.branches, judge.config.environments, models
    )
    report.violations += wrong
    report.warnings += lagging
    if head:
        paths = git.out(["ls-tree", "-r", "--name-only", "-z", head], repo).split("\0")
        report.violations += branches.tip(repo, "HEAD", head, paths, lambda ms: models)
    return report


def _model(judge: Judge, state: ModelState) -> list[Violation]:
    found: list[Violation] = []
    commits = {v: e.commit for v, e in state.versions.items()}
    deregs = []
    for e in state.deprecated_versions.values():
        if (v := namespace.deregistration(e.tag, e.ref, e.commit, commits)) is None:
            deregs.append(e)
        else:
            found.append(v)
    before = ModelState(state.name, versions=dict(state.versions))
    for e in state.assignments:  # in #N order
        before.deprecated_versions = {d.ref.version: d for d in deregs if d.ref.version and d.time <= e.time}
        found += judge.judge(before, Pending(e.tag, e.ref, e.commit, e.message))
    return found


def check_pointer(
    repo: Path, state: ModelState, stage: str, *, allow_override: bool = True
) -> list[Violation]:
    """Judge the newest assignment of `stage` against the model as it stood before it."""
    from gitmodel import config

    events = state.stage_events(stage)
    if not events:
        return []
    last = events[-1]
    n = last.ref.counter or 0
    before = ModelState(
        state.name,
        versions=dict(state.versions),
        assignments=[e for e in state.assignments if (e.ref.counter or 0) < n],
        deprecated_versions=dict(state.deprecated_versions),
    )
    judge = Judge(repo, config.load(repo), allow_override)
    return judge.judge(before, Pending(last.tag, last.ref, last.commit, last.message))


def check_refs(repo: Path, specs: list[str], *, allow_override: bool = True) -> Report:
    """`verify REF...`: `OLD..NEW` judges a branch update (the model folders it changed);
    a gitmodel tag is judged against the registry as it stood before it; any other ref
    or commit has its model folders judged as a branch tip."""
    from gitmodel.errors import UsageError

    records = git.read_tags(repo)
    models = build_models(records)
    head = git.head(repo)
    (text,) = files.read_texts(repo, [f"{head}:gitmodel.yaml"]) if head else [None]
    # a tag CI verifies on arrival needs the merged request HEAD holds (branches.requests)
    judge = Judge(repo, parse_config(text), allow_override, requests_at=head)
    report = Report(models=len(models))
    at: set[str] = set()  # commits a range or ref lands on: environment branches there are judged
    stages: set[tuple[str, str]] = set()  # (env, model) of the assignment tags judged
    for spec in specs:
        old, dots, new = spec.partition("..")
        tag = spec.removeprefix("refs/tags/")
        ref = parse_tag(tag)
        if dots:
            commits = [_commit(repo, old or "HEAD"), _commit(repo, new or "HEAD")]
            if None in commits:
                raise UsageError(f"{spec!r} is not a range of two commits; write OLD..NEW")
            paths = branches.changed_paths(repo, str(commits[0]), str(commits[1]))
            report.violations += branches.tip(repo, spec, str(commits[1]), paths, lambda ms: models)
            at.add(str(commits[1]))
        elif ref is not None and (state := models.get(ref.model)) is not None:
            report.tags += 1
            report.violations += _one_tag(repo, judge, state, tag)
            if ref.stage is not None and ref.action in (Action.ASSIGN, Action.UNASSIGN):
                stages.add((ref.stage, ref.model))
        elif (commit := _commit(repo, spec)) is not None:
            paths = git.out(["ls-tree", "-r", "--name-only", "-z", commit], repo).split("\0")
            report.violations += branches.tip(repo, spec, commit, paths, lambda ms: models)
            at.add(commit)
        else:
            raise UsageError(f"{spec!r} is neither a commit, a range OLD..NEW nor a gitmodel tag here")
    wrong, lagging = envbranches.judge_branches(
        repo, judge.config.branches, judge.config.environments, models, at=at, stages=stages
    )
    report.violations += wrong
    report.warnings += lagging
    return report


def _commit(repo: Path, rev: str) -> str | None:
    (info,) = git.object_info(repo, [f"{rev}^{{commit}}"])
    return info.oid if info else None


def _one_tag(repo: Path, judge: Judge, state: ModelState, tag: str) -> list[Violation]:
    events = [*state.versions.values(), *state.assignments, *state.deprecated_versions.values()]
    event = next((e for e in events if e.tag == tag), None)
    if event is None:
        return [Violation(tag, ANNOTATED, "it is not an annotated tag gitmodel can read; delete it")]
    if event.ref.action is Action.REGISTER:
        # judged against the model's other versions, as the server would on arrival
        return check_versions(repo, [Created(tag, event.ref, event.commit, event.message)], Side.SERVER)
    if event.ref.action is Action.DEREGISTER:
        commits = {v: e.commit for v, e in state.versions.items()}
        v = namespace.deregistration(tag, event.ref, event.commit, commits)
        return [v] if v else []
    if event.ref.counter is None:
        return []  # NAME@deprecated
    n = event.ref.counter
    before = ModelState(
        state.name,
        versions=dict(state.versions),
        assignments=[e for e in state.assignments if (e.ref.counter or 0) < n],
        deprecated_versions={v: d for v, d in state.deprecated_versions.items() if d.time <= event.time},
    )
    return judge.judge(before, Pending(event.tag, event.ref, event.commit, event.message))
