"""The policy over a set of ref updates: a push (pre-receive, pre-push) or a range CI verifies.

The state the updates are judged against is the repository's refs as they stand (in
pre-receive: before the push lands; on a client: its tags minus those being pushed),
with the judging configuration (gate rules, promotion order) read from the default
branch *before* the push, so a push cannot relax the gate and use it at once.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from gitmodel import git
from gitmodel.policy import configrule, files, namespace, tags
from gitmodel.policy.stdin import RefUpdate, is_zero
from gitmodel.policy.verdict import Violation
from gitmodel.policy.versions import Created, Side
from gitmodel.refs import Action, to_tag
from gitmodel.registry import Event, ModelState, build_models

if TYPE_CHECKING:
    from gitmodel import config as configmod


def check(repo: Path, updates: list[RefUpdate], side: Side) -> list[Violation]:
    found, created = tags.immutable(updates)
    found = configrule.pushed(repo, updates) + found
    for u in updates:
        if u.tag is not None and not u.is_delete and (v := namespace.foreign_form(u.tag)) is not None:
            found.append(v)
    good = tags.annotated(repo, created, found) if created else []
    versions = [c for c in good if c.ref.action is Action.REGISTER]
    if versions:  # the schema (jsonschema) and the DVC check load only for a pushed version
        from gitmodel.policy.versions import check_versions

        found += check_versions(repo, versions, side)
    pushed = {u.tag: u.new for u in updates if u.tag is not None}
    found += namespace.seq_updates(repo, updates, pushed)
    if any(u.ref.startswith("refs/gitmodel/lifecycle/") for u in updates):  # loads only for a record
        from gitmodel.policy import lifecycle

        found += lifecycle.pushed(repo, updates, {(c.ref.model, c.version): c.commit for c in versions})
    states = _states(repo, sorted({c.ref.model for c in good}), set(pushed))
    for c in versions:
        states[c.ref.model].versions[c.version] = _event(c)
    for c in good:
        if c.ref.action is Action.DEREGISTER:
            state = states[c.ref.model]
            commits = {v: e.commit for v, e in state.versions.items()}
            if (v := namespace.deregistration(c.tag, c.ref, c.commit, commits)) is not None:
                found.append(v)
            else:
                state.deprecated_versions[c.version] = _event(c)
    moves = [c for c in good if c.ref.action in (Action.ASSIGN, Action.UNASSIGN)]
    heads = [u for u in updates if u.ref.startswith("refs/heads/")]
    if moves or heads:  # a push of version tags alone needs no gitmodel.yaml, gate or branches
        from gitmodel.policy import envbranches

        config, extra, judging = _configs(repo, updates, side, [c.commit for c in moves])
        if moves:  # the gate and the schema load only for an assignment
            from gitmodel.policy.assignments import Judge, Pending

            judge = Judge(repo, config, extra_envs=extra, requests_at=judging)
            for c in sorted(moves, key=lambda c: (c.ref.model, c.ref.counter or 0)):
                found += judge.judge(states[c.ref.model], Pending(c.tag, c.ref, c.commit, c.message))
        env_heads, heads = envbranches.split(config.branches, heads)
        found += envbranches.check(
            config.branches,
            [*config.environments, *extra],
            env_heads,
            good,
            lambda models: _states(repo, models, set(pushed)),
        )
    heads = [u for u in heads if not u.is_delete]
    if heads and side is Side.SERVER:
        from gitmodel.policy import branches

        found += branches.check(repo, heads, states_for=lambda models: _states(repo, models, set(pushed)))
    return found


def _event(c: Created) -> Event:
    return Event(c.ref, c.tag, c.commit, "", 0, c.message)


def _states(repo: Path, models: list[str], leave_out: set[str]) -> dict[str, ModelState]:
    """Each model's state from its own tags (two for-each-ref patterns each), minus `leave_out`."""
    patterns = [p for m in models for p in (f"refs/tags/{to_tag(m)}@*", f"refs/tags/{to_tag(m)}#*")]
    records = git.read_tags(repo, *patterns) if patterns else []
    built = build_models([r for r in records if r.name not in leave_out])
    states: dict[str, ModelState] = defaultdict(lambda: ModelState(""))
    for m in models:
        states[m] = built.get(m) or ModelState(m)
    return states


def _configs(
    repo: Path, updates: list[RefUpdate], side: Side, tagged: list[str]
) -> tuple[configmod.Config, list[str], str | None]:
    """The judging config, the environments that also count, and the judging commit
    (where merged requests are looked up), from one read of git objects.

    Judging: gitmodel.yaml of the default branch *before* the push (the pushed tip on a
    first push), so a push cannot relax the gate and use it at once. Also counting: the
    environments listed at the tagged commits and at the default branch after the push.
    """
    from gitmodel import config as configmod

    if side is Side.CLIENT:
        before = after = git.head(repo)
    else:
        branch = git.symbolic_head(repo)
        (info,) = git.object_info(repo, [branch]) if branch else [None]
        before = info.oid if info else None
        pushed = [u.new for u in updates if branch and u.ref == branch and not is_zero(u.new)]
        after = pushed[0] if pushed else before
    judging = before or after
    commits = list(dict.fromkeys([c for c in [judging, after, *tagged] if c]))
    texts = dict(
        zip(commits, files.read_texts(repo, [f"{c}:{configmod.FILENAME}" for c in commits]), strict=True)
    )
    extra = [e for c in commits if c != judging for e in files.environments(texts[c])]
    config = parse_config(texts.get(judging) if judging else None)
    return config, list(dict.fromkeys(extra)), judging


def parse_config(text: str | None) -> configmod.Config:
    """A gitmodel.yaml text as Config; the defaults when absent or unreadable (never looser)."""
    from gitmodel import config as configmod
    from gitmodel.errors import GitModelError

    if not text:
        return configmod.default()
    try:
        return configmod.parse_text(text, configmod.FILENAME)
    except GitModelError:
        return configmod.default()
