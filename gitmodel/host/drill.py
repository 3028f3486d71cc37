"""`gitmodel drill ENV [NAME] --root ROOT`: a timed rollback and return on a real host.

The drill does what an incident would: `rollback ENV` (pointer pushed to origin, ROOT
converged, the server's confirmation awaited), then back to the version ENV served
before (`rollback --to`, which the policy reads as a return, no gate). Each leg is timed
from the command's start to the server confirming the version. The result is filed as
a `drill` lifecycle record (lifecycle/events.py, pushed) and a `drill` step in the host
journal; a leg slower than gitmodel.yaml's `drill.limit_seconds` (default 60) fails the
drill (exit 1). The last environment of gitmodel.yaml (production) is refused unless
the caller insists: a drill there moves real clients' traffic twice.
"""

from __future__ import annotations

import socket
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from gitmodel import config, environments, git
from gitmodel.errors import EXIT_POLICY, GitModelError, PolicyError, UsageError
from gitmodel.host import fs, journal
from gitmodel.host.rollback import rollback
from gitmodel.lifecycle import events
from gitmodel.records import Act
from gitmodel.refs import Version, parse_model
from gitmodel.registry import Registry


@dataclass(frozen=True)
class Leg:
    leg: str  # back, forward
    version: str  # what the leg made ROOT serve
    seconds: float
    verified: str | None  # what the server confirmed ("" when no info endpoint is set)
    tag: str | None


@dataclass(frozen=True)
class DrillResult:
    model: str
    env: str
    version: str
    previous: str
    limit_seconds: float
    legs: list[Leg] = field(default_factory=list)
    record: str = ""

    @property
    def seconds(self) -> float:
        return max((leg.seconds for leg in self.legs), default=0.0)

    @property
    def passed(self) -> bool:
        return self.seconds <= self.limit_seconds

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else EXIT_POLICY

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        data["passed"] = self.passed
        return data


class DrillFailed(GitModelError):
    """A leg failed: says where ENV was left and how to return."""

    def __init__(self, leg: str, cause: GitModelError, fix: str) -> None:
        super().__init__(f"drill {leg} leg failed: {cause.message}; {fix}")
        self.exit_code = cause.exit_code


def drill(
    repo: Path,
    env: str,
    name: str | None,
    root: Path,
    *,
    i_mean_it: bool = False,
    limit: float | None = None,
    **options: Any,
) -> DrillResult:
    cfg = config.load(repo)
    cfg.check_env(env)
    if limit is not None and limit <= 0:
        raise UsageError("--limit must be more than 0 seconds")
    if cfg.environments and env == cfg.environments[-1] and not i_mean_it:
        raise PolicyError(
            f"{env} is the last environment of gitmodel.yaml, where clients are served; drill a "
            "non-critical one (e.g. staging), or pass --i-mean-it to move it twice anyway"
        )
    git.fetch_tags(repo)
    model = environments.only_model(Registry.load(repo, messages=False), name)
    state = Registry.load_model(repo, parse_model(model))
    start = state.stage_version(env)
    if start is None:
        raise UsageError(f"{env} serves nothing of {model}; promote a version there before drilling it")
    legs: list[Leg] = []
    began = time.monotonic()
    try:
        back = rollback(repo, env, model, root, reason=f"drill: back from {start}", **options)
    except GitModelError as exc:
        raise DrillFailed("back", exc, _where(repo, env, state.name, start, root)) from None
    legs.append(_leg("back", back, time.monotonic() - began))
    began = time.monotonic()
    try:
        forward = rollback(repo, env, model, root, to=str(start), reason="drill: forward", **options)
    except GitModelError as exc:
        raise DrillFailed("forward", exc, _where(repo, env, state.name, start, root)) from None
    legs.append(_leg("forward", forward, time.monotonic() - began))
    result = DrillResult(
        model, env, str(start), str(back.deployed.version), limit or cfg.drill.limit_seconds, legs
    )
    record = {
        "action": Act.DRILL,
        "env": env,
        "version": str(start),
        "to": result.previous,
        "back_seconds": round(legs[0].seconds, 3),
        "forward_seconds": round(legs[1].seconds, 3),
        "seconds": round(result.seconds, 3),
        "limit": result.limit_seconds,
        "passed": result.passed,
        "host": socket.gethostname(),
    }
    verdict = "passed" if result.passed else "SLOW"
    summary = f"gitmodel: drill {model} {env} {verdict} in {result.seconds:.1f} s"
    ref = events.write(
        repo, state.name, state.versions[start].commit, summary, record, push=git.has_remote(repo)
    )
    log = journal.Journal(fs.prepare(root, state.name), "drill", state.name, env)
    log.step(journal.DRILL, **{k: v for k, v in record.items() if k not in ("action", "env")}, record=ref)
    return replace(result, record=ref)


def _where(repo: Path, env: str, model: str, start: Version, root: Path) -> str:
    """Where a failed leg left ENV's pointer, and the command that returns it to `start`."""
    now = Registry.load_model(repo, model).stage_version(env)
    if now == start:
        return f"{env} still points at {start}"
    return (
        f"{env} points at {now} now: return with `gitmodel rollback {env} {model} --to {start} --root {root}`"
    )


def _leg(name: str, done: Any, seconds: float) -> Leg:
    d = done.deployed
    return Leg(name, str(d.version), round(seconds, 3), d.verified, done.move.tag if done.move else None)
