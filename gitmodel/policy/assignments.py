"""Assignment tags NAME#ENV#N / NAME#ENV!#N judged against the model as it stood before them.

What a move is comes from the tags' structure, never from its record:
- its version is the registered version whose tag marks the same commit, and that
  commit's model.yaml and pointers must say so (`assignment-target`);
- re-assigning what the stage serves (a canary reweight), returning the stage to a
  version it served before (a rollback), or giving ENV the version its canary runs
  (a canary promotion) needs no gate; anything else is a promotion: it must respect
  the promotion order (`promotion-order`) and pass the gate recomputed from the two
  versions' metadata (`gate`); the record can only *declare* an override (forced, with a
  reason), which the policy allows unless the enforcement point forbids overrides;
- an environment whose `promotion:` requires a canary is entered only by promoting the
  canary it runs (`canary-required`), unless the record declares the canary skipped
  with a reason (soak time and request count are claims, judged by the client);
- `#N` is above every counter the model has, by at most MAX_COUNTER_JUMP (`counter`);
- a deprecated version is never assigned (`deprecated-version`);
- a promotion's version carries only templates (and an embedding model) gitmodel.yaml's
  `compatibility:` allows for it (`compatibility`, gitmodel/prompts.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitmodel import config as configmod
from gitmodel.errors import GitModelError
from gitmodel.policy import files
from gitmodel.policy.trees import Parsed, version_files
from gitmodel.policy.verdict import (
    CANARY,
    COMPATIBILITY,
    COUNTER,
    DEPRECATED,
    ENVIRONMENT,
    EVIDENCE,
    GATE,
    ORDER,
    TARGET,
    Violation,
)
from gitmodel.records import parse as parse_record
from gitmodel.refs import Action, Ref, Version, model_dir, to_tag
from gitmodel.registry import Event, ModelState

# gitmodel always takes the next counter; a clone may leave a few unused (a local move
# never pushed), but a jump past this is refused: GTO and `dvc artifacts get` take the
# highest counter as the newest, so a huge one would pin the stage for good.
MAX_COUNTER_JUMP = 100
CANARY_SUFFIX = "-canary"


@dataclass(frozen=True)
class Pending:
    """An assignment tag to judge: its name, parsed name, commit and annotation."""

    tag: str
    ref: Ref
    commit: str
    message: str = ""


def required_before(cfg: configmod.Config, env: str) -> list[str]:
    """Where a version must have been before it enters `env`.

    `promotion:` in gitmodel.yaml decides where it names `env` (an empty list: nowhere);
    otherwise the environment listed just before `env`, so staging is never skipped.
    """
    if env in cfg.promotion:
        return list(cfg.promotion[env])
    if env not in cfg.environments:
        return []
    i = cfg.environments.index(env)
    return list(cfg.environments[i - 1 : i])


def base_env(envs: list[str], stage: str) -> str | None:
    """The listed environment a stage belongs to (ENV for `ENV-canary`); None if unlisted."""
    if stage in envs:
        return stage
    if stage.endswith(CANARY_SUFFIX) and stage[: -len(CANARY_SUFFIX)] in envs:
        return stage[: -len(CANARY_SUFFIX)]
    return None


def declared_override(message: str) -> bool:
    """Whether the tag's record declares a gate override with a reason (a claim, shown as such)."""
    gate = parse_record(message).get("gate")
    if not isinstance(gate, dict) or gate.get("forced") is not True:
        return False
    reason = gate.get("reason")
    return isinstance(reason, str) and bool(reason.strip())


def declared_canary_skip(message: str) -> bool:
    """Whether the tag's record declares the required canary skipped, with a reason (a claim)."""
    record = parse_record(message)
    reason = record.get("reason")
    return record.get("canary") == "skipped" and isinstance(reason, str) and bool(reason.strip())


@dataclass
class Judge:
    """Judges assignments of one registry; caches what it reads from git objects."""

    repo: Path
    config: configmod.Config
    allow_override: bool = True
    # environments listed elsewhere that also count (a push's tagged commits, the branch
    # after the push): an environment added after a version was registered still takes it
    extra_envs: list[str] = field(default_factory=list)
    # the commit holding merged requests (the default branch before a push, HEAD in CI);
    # None: requests are not checked here (a replay of history, a host)
    requests_at: str | None = None
    _files: dict[tuple[str, str], files.VersionFiles] = field(default_factory=dict)
    parsed: Parsed = field(default_factory=Parsed)

    def prefetch(self, pairs: list[tuple[str, str]]) -> None:
        """Read the version files of many (commit, folder) pairs at once."""
        wanted = [p for p in dict.fromkeys(pairs) if p not in self._files]
        if wanted:
            self._files.update(version_files(self.repo, wanted))

    def version_files(self, commit: str, folder: str) -> files.VersionFiles:
        self.prefetch([(commit, folder)])
        return self._files[(commit, folder)]

    def judge(self, before: ModelState, new: Pending) -> list[Violation]:
        """Violations of `new` given `before`; `before` then includes `new` (for the next one)."""
        try:
            return self._judge(before, new)
        finally:
            event = Event(new.ref, new.tag, new.commit, "", 0, new.message)
            before.assignments.append(event)
            before.assignments.sort(key=lambda e: e.ref.counter or 0)

    def _judge(self, before: ModelState, new: Pending) -> list[Violation]:
        found = self._counter(before, new)
        stage = str(new.ref.stage)
        envs = list(dict.fromkeys([*self.config.environments, *self.extra_envs]))
        env = base_env(envs, stage)
        if env is None:
            listed = ", ".join(envs) or "none"
            why = (
                f"environment {stage!r} is not in gitmodel.yaml (it lists {listed}); add it under "
                "`environments:`, commit and push that first, or assign one of those"
            )
            return [*found, Violation(new.tag, ENVIRONMENT, why)]
        current = before.stage_version(env)
        pairs = [(new.commit, model_dir(before.name))]
        if current is not None and current in before.versions:  # the gate's baseline, read with it
            pairs.append((before.versions[current].commit, model_dir(before.name)))
        self.prefetch(pairs)
        version, problem = self._target(before, new)
        if problem is not None:
            return [*found, problem]
        assert version is not None
        if new.ref.action is Action.UNASSIGN:
            return found
        if version in before.deprecated_versions:
            why = (
                f"{before.name} {version} is deprecated and is never assigned again; promote another "
                "version (`gitmodel promote`)"
            )
            return [*found, Violation(new.tag, DEPRECATED, why)]
        if not self._needs_gate(before, stage, env, version):
            return found
        return (
            found
            + self._order(before, new, env, version)
            + self._request(before, new, env, version)
            + self._canary(before, new, stage, version)
            + self._gate(before, new, env, version)
        )

    def _request(self, before: ModelState, new: Pending, env: str, version: Version) -> list[Violation]:
        if self.requests_at is None or env not in self.config.branches.requests:
            return []
        from gitmodel.policy.envbranches import request_refusal

        refusal = request_refusal(self.repo, self.requests_at, new.tag, before.name, env, version, new.commit)
        return [refusal] if refusal else []

    def _counter(self, before: ModelState, new: Pending) -> list[Violation]:
        n = int(new.ref.counter or 0)
        top = max((e.ref.counter or 0 for e in before.assignments), default=0)
        if n <= top:
            why = (
                f"#{n} is not above #{top}, the highest counter {before.name} has; "
                "move environments with `gitmodel promote`/`rollback`, which take the next counter"
            )
            return [Violation(new.tag, COUNTER, why)]
        if n > top + MAX_COUNTER_JUMP:
            why = (
                f"#{n} jumps more than {MAX_COUNTER_JUMP} past #{top}, the highest counter {before.name} "
                f"has; use #{top + 1} (`gitmodel promote`/`rollback` take it)"
            )
            return [Violation(new.tag, COUNTER, why)]
        return []

    def _target(self, before: ModelState, new: Pending) -> tuple[Version | None, Violation | None]:
        name, folder = before.name, model_dir(before.name)
        at_commit = sorted(v for v, e in before.versions.items() if e.commit == new.commit)
        if not at_commit:
            why = (
                f"its commit {new.commit[:10]} holds no registered version of {name} (no "
                f"{to_tag(name)}@vX.Y.Z tag marks it); assign a registered version with `gitmodel promote`"
            )
            return None, Violation(new.tag, TARGET, why)
        vf = self.version_files(new.commit, folder)
        try:
            meta = self.parsed.validate(vf, f"{vf.metadata_path} at {new.commit[:10]}")
        except GitModelError as exc:
            return None, Violation(new.tag, TARGET, f"{exc}; assign a version registered by gitmodel")
        said = str(meta.get("version"))
        if meta.get("name") != name or said not in {str(v) for v in at_commit}:
            why = (
                f"{vf.metadata_path} at {new.commit[:10]} describes {meta.get('name')}@{said}, not "
                f"{' or '.join(f'{name}@{v}' for v in at_commit)}; assign a version registered by gitmodel"
            )
            return None, Violation(new.tag, TARGET, why)
        md5, pointed = str(meta["artifact"]["dvc_md5"]), self.parsed.md5s(vf)
        if md5 not in pointed:
            why = (
                f"model.yaml at {new.commit[:10]} says the bytes are {md5} but the DVC pointers there name "
                f"{', '.join(sorted(pointed)) or 'nothing'}; assign a version registered by gitmodel"
            )
            return None, Violation(new.tag, TARGET, why)
        return Version.parse(said), None

    def _needs_gate(self, before: ModelState, stage: str, env: str, version: Version) -> bool:
        if before.stage_version(stage) == version:
            return False  # the stage serves it already (a canary reweight, a re-assignment)
        if stage == env:
            served = {before.assignment_version(e) for e in before.stage_events(env)}
            if version in served:
                return False  # a return to a version this environment served: a rollback
            canary = before.stage_events(env + CANARY_SUFFIX)
            running = canary[-1] if canary and canary[-1].ref.action is Action.ASSIGN else None
            if running is not None and before.assignment_version(running) == version:
                return False  # the canary it runs, judged when the canary started
        return True

    def _order(self, before: ModelState, new: Pending, env: str, version: Version) -> list[Violation]:
        required = required_before(self.config, env)
        if not required:
            return []
        been = {e.ref.stage for e in before.assignments if before.assignment_version(e) == version}
        if been & set(required):
            return []
        why = (
            f"{before.name} {version} has not been in {' or '.join(required)}, which comes before {env} "
            f"in gitmodel.yaml; promote it there first (`gitmodel promote {before.name} {version} "
            f"{required[0]}`)"
        )
        return [Violation(new.tag, ORDER, why)]

    def _canary(self, before: ModelState, new: Pending, stage: str, version: Version) -> list[Violation]:
        """A promotion into an environment that requires a canary, other than its canary's."""
        if stage not in self.config.canary:
            return []  # not required, or this is the canary stage itself
        if before.stage_version(stage) is None:
            return []  # a first version: a canary needs a stable one to run beside
        if self.allow_override and declared_canary_skip(new.message):
            return []
        how = (
            "or skip it openly with `gitmodel promote --force --reason TEXT`"
            if self.allow_override
            else "overrides are not accepted here"
        )
        why = (
            f"gitmodel.yaml requires a canary before {stage}, and {before.name} {version} is not the canary "
            f"{stage} runs; start one (`gitmodel canary start {before.name} {version} {stage} --percent 10`) "
            f"and promote it with `gitmodel canary promote`, {how}"
        )
        return [Violation(new.tag, CANARY, why)]

    def _gate(self, before: ModelState, new: Pending, env: str, version: Version) -> list[Violation]:
        from gitmodel.gating import check_evidence, gate_verdict
        from gitmodel.prompts import Incompatible

        folder = model_dir(before.name)

        def meta_of(v: Version) -> dict[str, Any]:
            return self._meta(self.version_files(before.versions[v].commit, folder))

        cand = self._meta(self.version_files(new.commit, folder))
        try:
            check_evidence(self.config, env, before.name, str(version), cand)
        except Incompatible as exc:
            return [Violation(new.tag, COMPATIBILITY, str(exc))]
        except GitModelError as exc:
            return [Violation(new.tag, EVIDENCE, str(exc))]
        try:
            verdict = gate_verdict(self.config, before, env, cand, meta_of)
        except GitModelError as exc:
            return [Violation(new.tag, GATE, f"the gate cannot judge it: {exc}")]
        if verdict.passed:
            return []
        if self.allow_override and declared_override(new.message):
            return []
        worst = ", ".join(f"{c.metric} {c.current} -> {c.candidate}" for c in verdict.failures)
        if verdict.not_comparable is not None:
            worst = f"not comparable ({verdict.not_comparable})"
        how = (
            "or override it openly with `gitmodel promote --force --reason TEXT`"
            if self.allow_override
            else "overrides are not accepted here"
        )
        why = (
            f"the gate, recomputed from the metadata, refuses {before.name} {version} for {env} against "
            f"{verdict.baseline or 'nothing'}: {worst} (its record's verdict is a claim, not evidence); "
            f"improve the model, {how}"
        )
        return [Violation(new.tag, GATE, why)]

    def _meta(self, vf: files.VersionFiles) -> dict[str, Any]:
        try:
            return dict(self.parsed.metadata(vf))
        except GitModelError:
            return {}
