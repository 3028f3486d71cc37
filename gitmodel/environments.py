"""Environment pointers: promote through the gate, roll back, deprecate.

Every move is a new GTO-format assignment tag `NAME#ENV#N` (never a moved tag), with
`N` one counter per model.  With --push the tag goes to origin alone and atomically:
origin refuses an existing tag name, so two clones that picked the same `N` collide
loudly (exit 3) and the loser's local tag is removed again.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from gitmodel import config, git, metadata, smoke
from gitmodel.errors import ConflictError, PolicyError, UsageError
from gitmodel.gate import Verdict, best_of, evaluate, quantization_gap
from gitmodel.lock import locked
from gitmodel.moves import NewTag, load, write_tags
from gitmodel.records import Act
from gitmodel.refs import Action, Ref, Version, parse_model, version_tag
from gitmodel.registry import ModelState, Registry

T = TypeVar("T")


class GateRefused(PolicyError):
    def __init__(self, model: str, version: Version, env: str, verdict: Verdict) -> None:
        worst = ", ".join(f"{c.metric} {c.current} -> {c.candidate}" for c in verdict.failures)
        fix = "improve the model, or override with --force --reason TEXT"
        if verdict.not_comparable is not None:
            worst = f"not comparable ({verdict.not_comparable})"
            fix = (
                "metrics of different quantizations say nothing of a regression; set "
                "gate.across_quantization: true if yours do, or override with --force --reason TEXT"
            )
        super().__init__(
            f"gate refused {model} {version} for {env} against {verdict.baseline}: {worst}; {fix}"
        )
        self.verdict = verdict


@dataclass(frozen=True)
class Move:
    model: str
    env: str
    action: Act  # promote, force-promote, rollback
    version: Version
    previous: Version | None
    tag: str | None  # None when the environment already served the version
    verdict: Verdict | None
    pushed: bool
    note: str = ""


def _metrics(meta: dict[str, Any]) -> dict[str, Any]:
    metrics = meta.get("metrics") or {}
    return dict(metrics) if isinstance(metrics, dict) else {}


def read_meta(repo: Path, state: ModelState, version: Version) -> dict[str, Any]:
    return metadata.at_version(repo, state, version) or {}


def _pointer(repo: Path, state: ModelState, version: Version) -> str | None:
    return metadata.pointer_at(repo, state, version, read_meta(repo, state, version))


def _live(state: ModelState, version: Version, doing: str) -> None:
    state.version_event(version)
    if version in state.deprecated_versions:
        raise PolicyError(f"{state.name} {version} is deprecated and cannot be {doing}; pick another version")


class MissingEvidence(PolicyError):
    def __init__(self, model: str, version: str, env: str, missing: list[str], fix: str) -> None:
        super().__init__(
            f"{model} {version} lacks evidence gitmodel.yaml requires for {env}: {', '.join(missing)}; {fix}"
        )
        self.missing = missing


def check_evidence(
    cfg: config.Config,
    env: str,
    model: str,
    version: str,
    meta: Mapping[str, Any],
    fix: str = "register a version whose metadata (--meta FILE) has them; no --force overrides this",
) -> None:
    """Refuse a version whose metadata lacks a field `evidence:` requires for `env` (no override)."""
    missing = cfg.missing_evidence(env, meta)
    if missing:
        raise MissingEvidence(model, version, env, missing, fix)


@dataclass(frozen=True)
class Baseline:
    """The versions a candidate for an environment is judged against (gate.baseline)."""

    env: str
    versions: tuple[Version, ...]

    @property
    def label(self) -> str | None:
        if not self.versions:
            return None
        if len(self.versions) == 1:
            return f"{self.versions[0]} ({self.env})"
        return f"best of {', '.join(map(str, self.versions))} ({self.env})"


def gate_baseline(cfg: config.Config, state: ModelState, env: str) -> Baseline:
    """What the gate compares a candidate for `env` with; the policy's recomputed gate uses it too.

    By default what the last environment (production) serves, for every environment; with
    `best_of: N`, the last N versions it served (those rolled back from drop out). Until
    that environment serves anything, what `env` itself serves.
    """
    rule = cfg.gate.baseline
    base_env = rule.env_for(cfg.environments, env)
    current = state.stage_version(base_env)
    if rule.best_of > 1:
        stack = [v for v in served_stack(state, base_env) if v not in state.deprecated_versions]
        if current is not None and current not in stack:
            stack.append(current)
        versions = tuple(stack[-rule.best_of :])
    else:
        versions = (current,) if current is not None else ()
    if not versions and base_env != env:
        own = state.stage_version(env)
        return Baseline(env, (own,) if own is not None else ())
    return Baseline(base_env, versions)


def gate_verdict(
    cfg: config.Config,
    state: ModelState,
    env: str,
    candidate: Mapping[str, Any],
    meta_of: Callable[[Version], Mapping[str, Any]],
) -> Verdict:
    """The gate: `candidate`'s metadata against its baseline's, within one quantization."""
    base = gate_baseline(cfg, state, env)
    metas = [meta_of(version) for version in base.versions]
    quant = candidate.get("quantization")
    alike = [m for m in metas if quantization_gap(quant, m.get("quantization"), cfg.gate) is None]
    gap = quantization_gap(quant, metas[-1].get("quantization"), cfg.gate) if metas and not alike else None
    current = best_of([_metrics(dict(m)) for m in (alike or metas)], cfg.gate) if metas else None
    return evaluate(_metrics(dict(candidate)), current, cfg.gate, base.label, gap)


def gate_check(repo: Path, name: str, version: str, env: str, reg: Registry | None = None) -> Verdict:
    """Run the validation gate only: the candidate against its baseline (gate_baseline)."""
    return _gate(repo, name, version, env, reg)[0]


def _gate(
    repo: Path, name: str, version: str, env: str, reg: Registry | None = None
) -> tuple[Verdict, dict[str, float]]:
    """The verdict, and the candidate's smoke-test figures (recorded in its tag for later gates)."""
    cfg = config.load(repo)
    cfg.check_env(env)
    reg = reg or Registry.load(repo)
    state = reg.model(parse_model(name))
    candidate = Version.parse(version)
    state.version_event(candidate)
    test = cfg.smoke.resolve() if cfg.smoke is not None else None
    cand_meta = read_meta(repo, state, candidate)
    figures: dict[str, float] = {}
    if test is not None:
        figures = _run_smoke(repo, state, candidate, test)
        cand_meta = {**cand_meta, "metrics": {**_metrics(cand_meta), **figures}}

    def meta_of(base: Version) -> dict[str, Any]:
        meta = read_meta(repo, state, base)
        if test is None:
            return meta
        # The baseline's smoke figures as recorded when it was promoted; a version promoted
        # before the smoke test existed (or by a canary) is tested now, so nothing is "new".
        smoke_figures = recorded_smoke(state, base)
        if smoke_figures is None:
            smoke_figures = _run_smoke(repo, state, base, test)
        return {**meta, "metrics": {**_metrics(meta), **smoke_figures}}

    return gate_verdict(cfg, state, env, cand_meta, meta_of), figures


def _run_smoke(repo: Path, state: ModelState, version: Version, test: smoke.SmokeTest) -> dict[str, float]:
    from gitmodel import dvc

    pointer = _pointer(repo, state, version)
    if pointer is None:
        raise UsageError(f"{state.name} {version} has no DVC pointer to test")
    with tempfile.TemporaryDirectory(prefix="gitmodel-smoke-") as tmp:
        dvc.materialise(repo, pointer, Path(tmp))
        return test.run(Path(tmp))


def recorded_smoke(state: ModelState, version: Version) -> dict[str, float] | None:
    """The smoke figures the newest move to `version` (in any environment) recorded; None if none did."""
    for e in reversed(state.assignments):
        if state.assignment_version(e) != version:
            continue
        recorded = e.record.get("smoke")
        if isinstance(recorded, dict) and all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in recorded.values()
        ):
            return {str(k): float(x) for k, x in recorded.items()}
    return None


def promote(
    repo: Path,
    name: str,
    version: str,
    env: str,
    *,
    push: bool = False,
    force: bool = False,
    reason: str | None = None,
) -> Move:
    if force and not (reason and reason.strip()):
        raise UsageError("--force needs --reason TEXT saying why the gate is overridden")
    cfg = config.load(repo)
    cfg.check_env(env)
    model = parse_model(name)
    target = Version.parse(version)
    with locked(git.git_dir(repo)):
        reg = load(repo, push, model)
        state = reg.model(model)
        _live(state, target, "promoted")
        current = state.stage_version(env)
        if current == target:
            return Move(
                model,
                env,
                Act.PROMOTE,
                target,
                current,
                None,
                None,
                False,
                f"{env} already serves {target}; nothing to do",
            )
        check_order(cfg, state, target, env)
        check_evidence(cfg, env, model, str(target), read_meta(repo, state, target))
        verdict, figures = _gate(repo, model, version, env, reg)
        action = Act.PROMOTE
        if not verdict.passed:
            if not force:
                raise GateRefused(model, target, env, verdict)
            verdict = verdict.override(reason or "")
            action = Act.FORCE_PROMOTE
        record: dict[str, Any] = {"gate": verdict.to_record()}
        if figures:
            record["smoke"] = figures
        return _assign(repo, state, env, target, current, action, reason, record, push, verdict)


def check_order(cfg: config.Config, state: ModelState, version: Version, env: str) -> None:
    """The policy's promotion order (gitmodel/policy/assignments.py), refused before writing."""
    from gitmodel.policy.assignments import required_before

    required = required_before(cfg, env)
    if not required:
        return
    been = {e.ref.stage for e in state.assignments if state.assignment_version(e) == version}
    if not been & set(required):
        raise PolicyError(
            f"{state.name} {version} has not been in {' or '.join(required)}, which gitmodel.yaml "
            f"requires before {env}; promote it there first"
        )


def served_stack(state: ModelState, env: str) -> list[Version]:
    """What `env` served, from its assignment tags in `#N` order, as a stack.

    Moving to a version already on the stack is a return (a rollback): it pops back to
    it, so the versions it moved away from drop out until promoted again; moving to any
    other version pushes it. Records are never read: they are claims.
    """
    moves = (state.assignment_version(e) for e in state.stage_events(env))
    return stack_of(v for v in moves if v is not None)  # an unassignment changes nothing


def stack_of(moves: Iterable[T]) -> list[T]:
    """Served versions in order as a stack: a move to one on the stack pops back to it."""
    stack: list[T] = []
    for v in moves:
        if v in stack:
            del stack[stack.index(v) + 1 :]
        else:
            stack.append(v)
    return stack


def previous_good(state: ModelState, env: str) -> Version | None:
    """The version `env` served before the current one, from the tags' structure.

    Skipped: versions rolled back from (unless promoted again later) and deprecated ones.
    """
    stack = served_stack(state, env)
    current = state.stage_version(env)
    for v in reversed(stack):
        if v != current and v not in state.deprecated_versions:
            return v
    return None


def check_rollback_to(state: ModelState, env: str, target: Version) -> None:
    """`rollback --to` goes back: only to a version `env` served before and not deprecated."""
    _live(state, target, "rolled back to")
    served = {state.assignment_version(e) for e in state.stage_events(env)}
    if target not in served:
        raise PolicyError(
            f"{env} never served {state.name} {target}, so going there is not a rollback but a "
            f"promote: `gitmodel promote {state.name} {target} {env}` (or --force --reason TEXT)"
        )


def rollback(
    repo: Path,
    env: str,
    name: str | None = None,
    *,
    to: str | None = None,
    reason: str | None = None,
    push: bool = False,
    force: bool = False,
    have_bytes: Callable[[str, Version], bool] | None = None,
    expect: Version | None = None,
) -> Move:
    """Point `env` back at the previous good version (or `to`, which `env` served before).

    `force` (with a `reason`) lets `to` name any registered version that is not
    deprecated; the tag records the override and the gate's verdict, and the policy
    still requires the promotion order.

    `have_bytes(model, version)` lets a host say it holds the target already, which
    spares the DVC remote check (and its ~0.3 s DVC import, or a round trip to S3).
    `expect` is the version the caller judged `env` to serve; if it moved meanwhile the
    rollback is refused with a conflict instead of undoing someone else's move.
    """
    if force and not (reason and reason.strip()):
        raise UsageError("--force needs --reason TEXT saying why the rollback rule is overridden")
    if force and to is None:
        raise UsageError("--force goes with --to vX.Y.Z: the previous good version needs no override")
    cfg = config.load(repo)
    cfg.check_env(env)
    with locked(git.git_dir(repo)):
        reg = load(repo, push, parse_model(name) if name else None)
        state = reg.model(only_model(reg, name))
        current = state.stage_version(env)
        if expect is not None and current != expect:
            raise ConflictError(
                f"{env} now serves {state.name} {current}, not {expect} as judged; "
                "nothing rolled back: check `gitmodel history` and retry"
            )
        record: dict[str, Any] = {}
        action = Act.ROLLBACK
        if to is not None:
            target = Version.parse(to)
            if force:
                _live(state, target, "rolled back to")
            else:
                check_rollback_to(state, env, target)
        else:
            found = previous_good(state, env)
            if found is None:
                raise PolicyError(f"{state.name} has no earlier good version in {env} to roll back to")
            target = found
        if target == current:
            raise PolicyError(f"{env} already serves {state.name} {target}; name another with --to")
        verdict = None
        if force and target not in {state.assignment_version(e) for e in state.stage_events(env)}:
            # Not a return but a move forward: the policy wants the order and an open override.
            check_order(cfg, state, target, env)
            verdict = gate_check(repo, state.name, str(target), env, reg).override(reason or "")
            record["gate"] = verdict.to_record()
            action = Act.FORCE_ROLLBACK
        if have_bytes is not None and have_bytes(state.name, target):
            note = "bytes already on this host: DVC remote not checked"
        else:
            note = _check_bytes(repo, state, target)
        return _assign(repo, state, env, target, current, action, reason, record, push, verdict, note)


def only_model(reg: Registry, name: str | None) -> str:
    if name is not None:
        return parse_model(name)
    if len(reg.models) == 1:
        return next(iter(reg.models))
    if not reg.models:
        raise UsageError("the registry has no models; register one first")
    raise UsageError(f"the registry has several models; name one of: {', '.join(sorted(reg.models))}")


def _check_bytes(repo: Path, state: ModelState, version: Version) -> str:
    """Refuse a target whose bytes the DVC remote lacks (a host could not deploy it)."""
    from gitmodel import dvc

    if dvc.default_remote(repo) is None:
        return "no DVC remote configured: bytes not checked"
    pointer = _pointer(repo, state, version)
    if pointer is None:
        return ""
    missing = dvc.missing_on_remote(repo, [pointer])
    if missing:
        raise PolicyError(
            f"{state.name} {version}'s bytes are missing from the DVC remote ({len(missing)} objects); "
            f"push them with `dvc push` at {version_tag(state.name, version)} or pick another version"
        )
    return ""


def _assign(
    repo: Path,
    state: ModelState,
    env: str,
    version: Version,
    previous: Version | None,
    action: Act,
    reason: str | None,
    extra: dict[str, Any],
    push: bool,
    verdict: Verdict | None,
    note: str = "",
) -> Move:
    ref = Ref(state.name, Action.ASSIGN, stage=env, counter=state.next_counter())
    record = {
        "action": action,
        "version": str(version),
        "from": str(previous) if previous else None,
        "env": env,
        "reason": reason,
        "actor": git.identity(repo),
        **extra,
    }
    summary = f"gitmodel: {action} {state.name} {version} to {env}" + (
        f" (was {previous})" if previous else ""
    )
    commit = state.version_event(version).commit
    [tag] = write_tags(repo, [NewTag(ref, commit, summary, record, reason or "")], push)
    return Move(state.name, env, action, version, previous, tag, verdict, push, note)


@dataclass(frozen=True)
class Deprecated:
    tag: str
    serving: dict[str, Version]  # stages that still serve the version (a --force deprecation)


def deprecate(
    repo: Path,
    name: str,
    version: str,
    *,
    reason: str | None = None,
    push: bool = False,
    force: bool = False,
) -> Deprecated:
    """GTO's deregistration `NAME@vX.Y.Z!`: never promoted or rolled back to again; bytes stay.

    A version an environment serves is refused without `force`: GTO and DVC would go on
    reading it as served while gitmodel calls it deprecated.
    """
    if force and not (reason and reason.strip()):
        raise UsageError("--force needs --reason TEXT saying why a served version is deprecated")
    model = parse_model(name)
    target = Version.parse(version)
    with locked(git.git_dir(repo)):
        state = load(repo, push, model).model(model)
        state.version_event(target)
        if target in state.deprecated_versions:
            raise PolicyError(f"{model} {target} is already deprecated")
        serving = {stage: v for stage, v in sorted(state.stages().items()) if v == target}
        if serving and not force:
            envs = ", ".join(serving)
            raise PolicyError(
                f"{envs} {'serves' if len(serving) == 1 else 'serve'} {model} {target}; roll "
                f"{'it' if len(serving) == 1 else 'them'} back first (`gitmodel rollback "
                f"{next(iter(serving))} {model}`), or deprecate anyway with --force"
            )
        record = {
            "action": Act.DEPRECATE,
            "version": str(target),
            "reason": reason,
            "actor": git.identity(repo),
        }
        new = NewTag(
            Ref(model, Action.DEREGISTER, version=target),
            state.version_event(target).commit,
            f"gitmodel: deprecate {model} {target}",
            record,
            reason or "",
        )
        return Deprecated(write_tags(repo, [new], push)[0], serving)
