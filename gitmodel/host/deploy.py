"""Converge a host to an environment pointer: one model, its canary, or every model of ENV.

Order of a deploy, each step journaled: fetch refs, resolve the pointer, build the
version (materialise.py), swap `current`, reload, wait for the info endpoint to
report the version, or swap back and reload again.  A kill at any point leaves
`current` on a complete version, and running the deploy again finishes the job.
Then the environment's canary, if the registry names one or the host still has one
(canary_sync.py): after the stable, so a promoted canary becomes `current` before its
canary.json goes, and no user flips back to the old version in between.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

from gitmodel import config, git, hostlayout, served, testhook
from gitmodel.errors import ConflictError, GitModelError, RemoteUnreachable, UsageError
from gitmodel.host import canary_sync, confirm, fs, journal, materialise, repair, retention, trust
from gitmodel.host.errors import BytesMissing, HostIOError
from gitmodel.host.lock import deploy_lock
from gitmodel.host.settings import HostSettings, Overrides, resolve
from gitmodel.host.spec import compatible, read_spec
from gitmodel.lifecycle.timeline import refuse_archived
from gitmodel.policy.host import accept as accept_pointer
from gitmodel.refs import Version, parse_model, parse_tag
from gitmodel.registry import Event, ModelState, Registry

T = TypeVar("T")


@dataclass(frozen=True)
class Deployed:
    model: str
    env: str
    version: Version
    previous: Version | None  # what `current` held before
    action: str  # deployed | unchanged | reloaded
    op: str  # deploy | rollback (the pointer moved back) | rollback-local
    mode: str  # hot | hardlink | copy
    downloaded: int  # objects fetched from the DVC remote
    verified: str | None  # what the info endpoint confirmed; None without one
    pointer: Version | None  # the environment pointer as this host knows it
    pointer_tag: str | None
    seconds: float
    retired: list[Version] = field(default_factory=list)
    note: str = ""
    canary: canary_sync.CanaryDone | None = None  # None: no canary, none wanted
    journal: str | None = None  # journal records a full disk had no room for (the run went on)
    rehashed: dict[str, list[str]] | None = None  # --verify: hot version -> files replaced

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        for key in ("version", "previous", "pointer"):
            data[key] = str(data[key]) if data[key] is not None else None
        data["retired"] = [str(v) for v in self.retired]
        data["canary"] = self.canary.to_json() if self.canary is not None else None
        data["seconds"] = round(self.seconds, 3)
        return data


def deploy(
    repo: Path,
    env: str,
    name: str,
    root: Path,
    *,
    reload_url: str | None = None,
    reload_cmd: str | None = None,
    info_url: str | None = None,
    lock_timeout: float | None = None,
    health_timeout: float | None = None,
    fetch: bool = True,
    trust_file: Path | None = None,
    verify: bool = False,
) -> Deployed:
    """Make ROOT serve what ENV points at for NAME (fetching refs from origin first).

    `verify` re-hashes every hot version of NAME first and replaces what does not match.
    """
    over = Overrides(reload_url, reload_cmd, info_url, lock_timeout, health_timeout)
    model, settings = prepare(repo, env, name, over)
    trusted = trust.host_trust(trust_file)  # before touching ROOT: no usable trust file, no deploy
    if fetch:
        try:
            git.fetch_tags(repo)
        except RemoteUnreachable as exc:
            raise RemoteUnreachable(
                f"{exc.message}; deploy the refs this host has with --no-fetch, or roll this host "
                f"back alone with `gitmodel rollback {env} {model} --local --root {root}`"
            ) from None
    first = Registry.load_model(repo, model)
    if first.stage_events(env) and first.stage_version(env) is None:
        accept_pointer(repo, first, env)  # an assignment naming no version: the policy says which rule
    _pointer(first, env)  # refuse before touching ROOT
    mroot = fs.prepare(root, model)
    with deploy_lock(mroot, model, settings.lock_timeout):
        # Resolve under the lock: a deploy that waited must not install an older pointer.
        state = Registry.load_model(repo, model)
        event, target = _pointer(state, env)
        refuse_older(mroot, env, event)
        op = "rollback" if _moves_back(state, env, event, target) else "deploy"
        log = journal.Journal(mroot, op, model, env)
        clean(mroot, log)
        want, can_event = canary_sync.wanted(state, env)
        trust.check_pointer(repo, event.tag, env, trusted, log, target)
        if want is not None and can_event is not None:  # turning a canary off needs no trust
            trust.check_pointer(repo, can_event.tag, can_event.ref.stage or env, trusted, log)
        pinned = [Version.parse(want.version)] if want else []  # build it once, not retire it first
        journaled(log, target, lambda: accept_pointer(repo, state, env))  # the policy, again here
        done = journaled(
            log, target, lambda: converge(repo, root, state, target, event, settings, log, pinned, verify)
        )
        began = time.monotonic()
        can = canary_sync.converge(
            repo, root, state, env, settings, journal.Journal(mroot, canary_sync.OP, model, env)
        )
    if can is None:
        return done
    took = done.seconds + time.monotonic() - began
    return replace(done, canary=can, retired=[*done.retired, *can.retired], seconds=took)


def deploy_canary(
    repo: Path,
    env: str,
    name: str,
    root: Path,
    *,
    reload_url: str | None = None,
    reload_cmd: str | None = None,
    info_url: str | None = None,
    lock_timeout: float | None = None,
    health_timeout: float | None = None,
    fetch: bool = True,
    trust_file: Path | None = None,
) -> canary_sync.CanaryDone | None:
    """Bring only ROOT's canary in line with ENV's; `current` is left as it is.

    For the agent, when the pointer is handled but the canary moved: a local rollback of
    the stable stays in place.
    """
    over = Overrides(reload_url, reload_cmd, info_url, lock_timeout, health_timeout)
    model, settings = prepare(repo, env, name, over)
    trusted = trust.host_trust(trust_file)
    if fetch:
        git.fetch_tags(repo)
    Registry.load_model(repo, model)  # refuse an unknown model before touching ROOT
    mroot = fs.prepare(root, model)
    with deploy_lock(mroot, model, settings.lock_timeout):
        state = Registry.load_model(repo, model)
        log = journal.Journal(mroot, canary_sync.OP, model, env)
        clean(mroot, log)
        want, can_event = canary_sync.wanted(state, env)
        if want is not None and can_event is not None:
            trust.check_pointer(repo, can_event.tag, can_event.ref.stage or env, trusted, log)
            journaled(log, Version.parse(want.version), lambda: accept_pointer(repo, state, env))
        return canary_sync.converge(repo, root, state, env, settings, log)


def assigned_models(repo: Path, env: str, fetch: bool = True) -> list[str]:
    """Every model ENV points at (after fetching refs from origin)."""
    config.load(repo).check_env(env)
    if fetch:
        git.fetch_tags(repo)
    reg = Registry.load(repo)
    names = sorted(m for m, s in reg.models.items() if s.stage_version(env) is not None)
    if not names:
        raise UsageError(
            f"{env} points at no model; promote one with `gitmodel promote NAME vX.Y.Z {env} --push`"
        )
    return names


def prepare(repo: Path, env: str, name: str, over: Overrides) -> tuple[str, HostSettings]:
    """NAME checked, ENV checked, and the settings this host uses for it (also rollback.py)."""
    model = parse_model(name)
    cfg = config.load(repo)
    cfg.check_env(env)
    return model, resolve(cfg.host, model, over)


def refuse_older(mroot: Path, env: str, event: Event) -> None:
    """Refuse to move a root back to an older pointer event than the one it serves.

    The journal's `done` records name the pointer tag (`NAME#ENV#N`) each run served;
    `#N` only grows on origin, and a rollback is a new, higher `#N`.  So a lower `#N`
    means this clone is behind whoever deployed the root last (a shared root, or a
    stale clone run with --no-fetch): installing it would undo their move silently.
    """
    served = [
        rec
        for rec in journal.read(mroot)
        if rec.get("step") == journal.DONE and rec.get("env") == env and isinstance(rec.get("tag"), str)
    ]
    ref = parse_tag(served[-1]["tag"]) if served else None
    if ref is None or ref.counter is None or event.ref.counter is None or event.ref.counter >= ref.counter:
        return
    raise ConflictError(
        f"{mroot} serves {served[-1]['tag']}, newer than {env}'s {event.tag} in this clone; nothing "
        "changed: fetch (deploy without --no-fetch) and deploy again"
    )


def _pointer(state: ModelState, env: str) -> tuple[Event, Version]:
    events = state.stage_events(env)
    version = state.assignment_version(events[-1]) if events else None
    gap = served.unassigned(state, env) if version is None else None
    if gap is not None:  # GTO's `unassign`: name it, as show and rollback do
        raise UsageError(
            f"{gap.describe(state.name, env)}; promote the version {env} should serve with "
            f"`gitmodel promote {state.name} vX.Y.Z {env} --push`"
        )
    if version is None:
        raise UsageError(
            f"{env} does not point at any version of {state.name}; "
            f"promote one with `gitmodel promote {state.name} vX.Y.Z {env} --push`"
        )
    return events[-1], version


def _moves_back(state: ModelState, env: str, event: Event, target: Version) -> bool:
    """The pointer returns to a version ENV served before, from the tags' structure.

    The record's action is a claim of whoever pushed, so it is not read (issue 9).
    """
    before = replace(state, assignments=[e for e in state.assignments if e is not event])
    return target in served.served_stack(before, env)[:-1]


def journaled(log: journal.Journal, target: Version, run: Callable[[], T]) -> T:
    """Run a convergence; a refusal is the journal's last word on it (step "failed")."""
    try:
        return run()
    except GitModelError as exc:
        log.step(journal.FAILED, version=target, reason=exc.message, exit=exc.exit_code)
        raise
    except OSError as exc:
        error = HostIOError(exc.filename or log.model_root, exc.strerror or str(exc))
        log.step(journal.FAILED, version=target, reason=error.message, exit=error.exit_code)
        raise error from None


def clean(mroot: Path, log: journal.Journal) -> None:
    removed = fs.clean_stale(mroot)
    if removed:
        log.step("cleaned", removed=removed)


def converge(
    repo: Path,
    root: Path,
    state: ModelState,
    target: Version,
    event: Event | None,
    settings: HostSettings,
    log: journal.Journal,
    pinned: list[Version] | None = None,
    verify: bool = False,
) -> Deployed:
    start = time.monotonic()
    model, mroot = state.name, hostlayout.model_root(root, state.name)
    tag = event.tag if event else None
    spec = read_spec(repo, state, target)
    compatible(repo, spec, settings)
    previous = hostlayout.current_version(root, model)
    records = list(journal.read(mroot))
    vdir = hostlayout.versions_dir(root, model) / str(target)
    pointer = state.assignment_version(event) if event else None
    rehashed = repair.repair_hot(repo, root, state, log, target) if verify else None

    def result(action: str, mode: str, got: int, verified: str | None, retired: list[Version]) -> Deployed:
        took = time.monotonic() - start
        env, op = log.env or "", log.op
        done = Deployed(
            model, env, target, previous, action, op, mode, got, verified, pointer, tag, took, retired
        )
        return replace(done, journal=log.lost(), rehashed=rehashed)

    if previous == target and materialise.is_hot(vdir, spec):
        replaced = bool(rehashed and rehashed.get(str(target)))  # the server may hold the bad bytes
        confirmed = None if replaced else confirm.already_serving(records, spec, settings)
        if confirmed is not None:
            if (journal.last_done(records) or {}).get("tag") != tag:
                log.step(journal.DONE, version=target, tag=tag, action="unchanged")
            return result("unchanged", "hot", 0, confirmed or None, [])
        log.step("start", version=target, previous=previous, tag=tag, commit=spec.commit)
        verified = confirm.check(root, spec, settings, log, previous=None, env=log.env or "")
        log.step(journal.DONE, version=target, tag=tag, verified=verified, action="reloaded")
        return result("reloaded", "hot", 0, verified, [])

    log.step("start", version=target, previous=previous, tag=tag, commit=spec.commit)
    try:
        built = materialise.ensure(repo, root, spec, log)
    except BytesMissing:
        # Only now is an archive record worth reading: it says why the remote lacks the bytes
        # and how to bring them back. Before a download it would decide on its own, and a
        # well-formed record is still only a claim (docs/security.md, Records are data).
        refuse_archived(repo, state, target)
        raise
    fs.swap_current(root, model, target)
    log.step("swapped", version=target, previous=previous)
    testhook.pause("swapped")
    verified = confirm.check(root, spec, settings, log, previous=previous, env=log.env or "", swapped=True)
    log.step(
        journal.DONE,
        version=target,
        tag=tag,
        verified=verified,
        mode=built.mode,
        downloaded=built.downloaded,
        seconds=round(time.monotonic() - start, 3),
    )
    retired = retention.enforce(root, model, settings.hot_versions, log, pinned or [], repo)
    return result("deployed", built.mode, built.downloaded, verified, retired)


@dataclass(frozen=True)
class DeployFailed:
    model: str
    error: GitModelError

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "error": self.error.message, "exit_code": self.error.exit_code}


@dataclass(frozen=True)
class DeployedMany:
    env: str
    deployed: list[Deployed]
    failed: list[DeployFailed]

    @property
    def exit_code(self) -> int:
        """The worst exit code of the models that failed; 0 when none did."""
        return max((f.error.exit_code for f in self.failed), default=0)

    def to_json(self) -> dict[str, Any]:
        return {
            "deployed": [d.to_json() for d in self.deployed],
            "failed": [f.to_json() for f in self.failed],
        }


def deploy_many(
    repo: Path, env: str, root: Path, name: str | None = None, *, fetch: bool = True, **options: Any
) -> DeployedMany:
    """Converge ROOT to ENV for NAME, or for every model ENV points at.

    One model's failure does not stop the others: it comes back in `failed`. With a
    single model in play its error is raised as is (the command's one error line).
    `options` are deploy()'s overrides.
    """
    names = [name] if name else assigned_models(repo, env, fetch=fetch)
    deployed, failed = [], []
    for model in names:
        try:
            # assigned_models() has fetched the refs for all of them already.
            deployed.append(deploy(repo, env, model, root, fetch=fetch and name is not None, **options))
        except GitModelError as exc:
            if len(names) == 1:
                raise
            failed.append(DeployFailed(model, exc))
    return DeployedMany(env, deployed, failed)
