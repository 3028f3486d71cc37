"""The canary on a host: its version built like a deployed one, then canary.json, then reload.

A canary of ENV is the GTO stage ``ENV-canary`` (docs/rollout.md).  The host serves it
from a second complete version directory, named by ROOT/NAME_DIR/canary.json
(format: gitmodel/hostlayout.py), while `current` stays the stable version.  The order
keeps "no half-written model is ever served":

    on   build and verify versions/vX.Y.Z exactly as a deploy does (materialise.ensure),
         then replace canary.json (one rename), then reload and confirm;
    off  remove canary.json, then reload and confirm.

A change is journaled (op "canary": canary-on, canary-off) only once the server took it,
so a kill between the file and the reload is finished by the next run; a refusal is
journaled as canary-failed and leaves canary.json as it was before.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from gitmodel import hostlayout, testhook
from gitmodel.errors import GitModelError, UsageError
from gitmodel.host import confirm, fs, journal, materialise, reload, retention
from gitmodel.host.errors import CanaryFailed, CheckFailed, HostIOError, InfoUnreachable
from gitmodel.host.settings import HostSettings
from gitmodel.host.spec import compatible, read_spec
from gitmodel.hostlayout import CanarySplit
from gitmodel.records import Act
from gitmodel.refs import Version
from gitmodel.registry import Event, ModelState
from gitmodel.rollout.canary_state import canary_stage, routing_state
from gitmodel.rollout.routing import RoutingState

OP = "canary"


@dataclass(frozen=True)
class CanaryDone:
    action: str  # on (a version loaded) | reweighted | off | unchanged
    version: str | None  # the canary served now; None after "off"
    percent: float
    previous: str | None  # the canary canary.json named before
    tag: str | None  # the newest ENV-canary tag this host followed
    mode: str = "hot"  # how its bytes got there: hot | hardlink | copy
    downloaded: int = 0
    verified: str | None = None  # what the info endpoint confirmed
    retired: list[Version] = field(default_factory=list)
    stable: str | None = None  # what `current` serves next to it (all traffic after "off")
    why: str | None = None  # after "off": the ending tag's action, canary-abort or canary-end

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["retired"] = [str(v) for v in self.retired]
        return data

    def describe(self) -> str:
        """One phrase for the change, for the agent's log and the CLI."""
        checked = self.verified or "no info endpoint configured"
        if self.action == "off":
            why = self.why
            how = " (promoted)" if why == Act.CANARY_END else " (aborted)" if why == Act.CANARY_ABORT else ""
            ended, stable = self.previous or "the canary", self.stable or "stable"
            return f"{ended} ended{how}: {stable} serves all traffic ({checked})"
        if self.action == "reweighted":
            return f"{self.version} now at {self.percent:g}% ({checked})"
        was = f" in place of {self.previous}" if self.previous and self.previous != self.version else ""
        return f"{self.version} started at {self.percent:g}%{was} ({checked})"


def wanted(state: ModelState, env: str) -> tuple[CanarySplit | None, Event | None]:
    """The split the registry asks for (None: no canary) and the ENV-canary event behind it."""
    events = state.stage_events(canary_stage(env))
    return split_for(routing_state(state, env)), (events[-1] if events else None)


def split_for(route: RoutingState) -> CanarySplit | None:
    """The canary.json a routing state asks for (None: no canary)."""
    if route.canary is None:
        return None
    return CanarySplit(route.canary, route.percent, route.salt, route.env, route.stable)


def pending(root: Path, model: str, want: CanarySplit | None, records: list[dict[str, Any]]) -> bool:
    """Whether the host still has to bring its canary to `want`.

    Reads canary.json and the journal only (the agent asks at every tick): done means the
    file says `want` and the journal's last canary record is the confirmed change to it.
    """
    try:
        have = hostlayout.read_canary(root, model)
    except UsageError:
        return True
    if have != want:
        return True
    last = journal.last_canary(records)
    if want is None:
        return last is not None and last.get("step") != journal.CANARY_OFF
    if last is None or last.get("step") != journal.CANARY_ON or recorded_split(last) != want:
        return True
    return not hostlayout.manifest_path(hostlayout.version_dir(root, model, want.version)).is_file()


def recorded_split(record: dict[str, Any]) -> CanarySplit | None:
    fields = {k: record.get(k) for k in ("version", "percent", "salt", "env", "stable")}
    try:
        return hostlayout.parse_canary(fields, "journal")
    except UsageError:
        return None


def converge(
    repo: Path, root: Path, state: ModelState, env: str, settings: HostSettings, log: journal.Journal
) -> CanaryDone | None:
    """Bring ROOT's canary to the registry's; None when there is none and none was wanted."""
    model = state.name
    want, event = wanted(state, env)
    tag = event.tag if event else None
    try:
        have = hostlayout.read_canary(root, model)
    except UsageError:
        have = None  # not a split any server would take: replaced or removed below
    records = list(journal.read(hostlayout.model_root(root, model)))
    if not pending(root, model, want, records) and _serving(settings, want) is not None:
        if want is None:
            return None
        return CanaryDone("unchanged", want.version, want.percent, want.version, tag, stable=want.stable)
    last = journal.last_canary(records)
    # What the server last confirmed (the file may be ahead of it after a kill).
    served = recorded_split(last) if last and last.get("step") == journal.CANARY_ON else None
    try:
        if want is None:
            return _off(root, model, env, settings, log, served, event)
        return _on(repo, root, state, env, settings, log, want, have, served, tag)
    except GitModelError as exc:
        raise _failed(log, want, have, root, model, exc) from None
    except OSError as exc:
        error = HostIOError(exc.filename or log.model_root, exc.strerror or str(exc))
        raise _failed(log, want, have, root, model, error) from None


def _on(
    repo: Path,
    root: Path,
    state: ModelState,
    env: str,
    settings: HostSettings,
    log: journal.Journal,
    want: CanarySplit,
    have: CanarySplit | None,
    served: CanarySplit | None,
    tag: str | None,
) -> CanaryDone:
    model, version = state.name, Version.parse(want.version)
    spec = read_spec(repo, state, version)
    compatible(repo, spec, settings)
    # Complete and verified first: canary.json may only ever name a finished directory.
    built = materialise.ensure(repo, root, spec, log)
    fs.write_canary(root, model, want)
    testhook.pause("canary-written")
    verified = _reload(root, model, env, settings, want, spec.dvc_md5, restore=have, log=log)
    log.step(
        journal.CANARY_ON,
        version=want.version,
        percent=want.percent,
        salt=want.salt,
        stable=want.stable,
        tag=tag,
        previous=served.version if served else None,
        mode=built.mode,
        downloaded=built.downloaded,
        verified=verified,
    )
    retired = retention.enforce(root, model, settings.hot_versions, log, repo=repo)
    action = "reweighted" if served is not None and served.version == want.version else "on"
    prev = served.version if served else None
    return CanaryDone(
        action,
        want.version,
        want.percent,
        prev,
        tag,
        built.mode,
        built.downloaded,
        verified,
        retired,
        stable=want.stable,
    )


def _off(
    root: Path,
    model: str,
    env: str,
    settings: HostSettings,
    log: journal.Journal,
    served: CanarySplit | None,
    event: Event | None,
) -> CanaryDone:
    fs.write_canary(root, model, None)
    verified = _reload(root, model, env, settings, None, None, restore=None, log=log)
    why = event.record.get("action") if event else None
    stable = hostlayout.current_version(root, model)
    prev = served.version if served else None
    log.step(
        journal.CANARY_OFF,
        version=prev,
        tag=event.tag if event else None,
        why=why,
        stable=stable,
        verified=verified,
    )
    retired = retention.enforce(root, model, settings.hot_versions, log)
    return CanaryDone(
        "off",
        None,
        0.0,
        prev,
        event.tag if event else None,
        verified=verified,
        retired=retired,
        stable=str(stable) if stable else None,
        why=str(why) if why else None,
    )


def _reload(
    root: Path,
    model: str,
    env: str,
    settings: HostSettings,
    want: CanarySplit | None,
    md5: str | None,
    *,
    restore: CanarySplit | None,
    log: journal.Journal,
) -> str | None:
    """Reload, confirm the canary the server routes to; on failure put canary.json back."""
    env_vars = confirm.reload_env(root, model, hostlayout.current_version(root, model), env)
    problem, answer = reload.reload_answer(settings, env_vars)
    confirm.journal_check(log, want.version if want else None, answer)  # a gateway's check of the canary
    said = answer.get("canary") if isinstance(answer, dict) else None
    if problem is None and isinstance(said, dict) and said.get("status") == "refused":
        # gitmodel serve answers /reload with what it did to the canary: no need to wait.
        problem = reload.Problem(False, f"the server refused it: {reload.quote(str(said.get('error')))}")
    verified = None
    if problem is None:
        log.step("reloaded", version=want.version if want else None)
        problem, verified = _confirm(settings, want, md5, model)
    if problem is None:
        return verified
    if want is not None:
        # Like the stable's swap back: the server returns to the split it had.
        fs.write_canary(root, model, restore)
        reload.reload(settings, confirm.reload_env(root, model, hostlayout.current_version(root, model), env))
    error = InfoUnreachable if problem.unreachable else CheckFailed
    what = f"canary {want.version} at {want.percent:g}%" if want else "the end of the canary"
    raise error(f"{model} {what} not confirmed: {problem.detail}")


def _confirm(
    settings: HostSettings, want: CanarySplit | None, md5: str | None, model: str
) -> tuple[reload.Problem | None, str | None]:
    """Poll the info endpoint until it routes as `want` says (skipped without one)."""
    url = settings.info_url
    if not url:
        return None, None

    def taken(answer: dict[str, Any]) -> str | None:
        if "canary" not in answer:
            return f"{url} does not report canaries (not checked)"
        return "" if _matches(answer["canary"], want, md5) else None

    watched = reload.watch(url, settings.health_timeout, taken, model=model)
    if watched.result is not None:
        return None, watched.result or f"{url} reports {_describe(want)} after {watched.waited:.2f} s"
    last = watched.last
    other = reload.not_this_model(url, last, model)
    if other is not None:
        return other, None
    waited = f"{settings.health_timeout:g} s"
    if last is None:
        return reload.Problem(True, f"info endpoint {url} did not answer within {waited}"), None
    seen = last.get("canary")
    got = f"canary {seen.get('version')} at {seen.get('percent')}%" if isinstance(seen, dict) else "no canary"
    detail = f"info endpoint {url} reports {got} after {waited}, expected {_describe(want)}"
    return reload.Problem(False, detail), None


def _serving(settings: HostSettings, want: CanarySplit | None) -> str | None:
    """A confirmation ("" when nothing can be asked) that the server routes as `want` says, or None."""
    if not settings.info_url:
        return ""  # nothing to ask: the journal's confirmed record is the best we know
    answer = reload.info(settings.info_url)
    if answer is None or "canary" not in answer:
        return ""  # silent, or a server that does not report canaries: nothing to fix here
    return "" if _matches(answer["canary"], want, None) else None


def _matches(seen: Any, want: CanarySplit | None, md5: str | None) -> bool:
    if want is None:
        return seen is None
    if not isinstance(seen, dict):
        return False
    if seen.get("version") != want.version or seen.get("percent") != want.percent:
        return False
    return (md5 is None or seen.get("content_hash") in (None, md5)) and seen.get("salt") in (None, want.salt)


def _describe(want: CanarySplit | None) -> str:
    return f"canary {want.version} at {want.percent:g}%" if want else "no canary"


def _failed(
    log: journal.Journal,
    want: CanarySplit | None,
    have: CanarySplit | None,
    root: Path,
    model: str,
    exc: GitModelError,
) -> CanaryFailed:
    log.step(
        journal.CANARY_FAILED, version=want.version if want else None, reason=exc.message, exit=exc.exit_code
    )
    stable = hostlayout.current_version(root, model) or "nothing"
    try:
        now = hostlayout.read_canary(root, model)
    except UsageError:
        now = None
    if want is None:
        outcome = "canary.json was removed; rerun the deploy so the server drops the canary too"
    elif now is None:
        outcome = f"no canary on this host: {stable} (`current`) serves all traffic"
    else:
        outcome = f"canary.json still names {now.version} at {now.percent:g}%; {stable} serves the rest"
    return CanaryFailed(exc, outcome)
