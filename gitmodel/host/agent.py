"""Keep a host converged: watch origin cheaply, deploy when a pointer or a canary moves.

Each tick costs one `git ls-remote --tags origin`; a fetch and a deploy happen only
when origin has an assignment tag for the environment (or its ``ENV-canary`` stage)
that this clone lacks, when a model's newest assignment differs from the one its
journal last handled, or when the host's canary is not the registry's (canary_sync.py).
A local rollback is recorded with the pointer tag it saw, so the agent does not
undo it until someone moves the pointer again.  A failed target is retried with
exponential backoff rather than at every tick, so a bad version does not make the
server flap.  An origin that does not answer (each git call has a deadline,
GITMODEL_GIT_TIMEOUT) is asked again after a backoff too, while the host keeps serving
and converging to the refs it has.  The core only logs; the CLI decides where logs go.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitmodel import git, hostlayout
from gitmodel.errors import EXIT_OK, GitModelError
from gitmodel.host import canary_sync, journal
from gitmodel.host.deploy import deploy, deploy_canary
from gitmodel.host.pointer_watch import PointerWatch
from gitmodel.refs import Action, parse_model, parse_tag
from gitmodel.registry import Registry
from gitmodel.rollout.canary_state import canary_stage

log = logging.getLogger("gitmodel.agent")

MAX_BACKOFF = 600.0
_SLICE = 0.2  # seconds; the stop flag is checked at least this often while idle


@dataclass
class Agent:
    repo: Path
    env: str
    root: Path
    interval: float
    names: list[str] | None = None
    options: dict[str, Any] = field(default_factory=dict)  # deploy()'s keyword overrides
    should_stop: Callable[[], bool] = lambda: False
    pointers: PointerWatch | None = None  # `--pointers`: poll signed documents, not git
    # (model, (pointer tag, canary tag)) -> (failures, monotonic time of the next try)
    _failed: dict[tuple[str, tuple[str, str]], tuple[int, float]] = field(default_factory=dict)
    # origin: failed looks in a row, and the monotonic time of the next look
    _origin: tuple[int, float] = (0, 0.0)

    def run(self, once: bool = False, rounds: int | None = None) -> int:
        """Tick until stopped (or `rounds` ticks); with `once`, tick once and return its exit code."""
        models = ", ".join(self.names) if self.names else "every model"
        log.info("watching %s for %s every %g s, root %s", self.env, models, self.interval, self.root)
        first, done = True, 0
        while not self.should_stop():
            code = self.tick(fetch=first)
            first, done = False, done + 1
            if once:
                return code
            if rounds is not None and done >= rounds:
                break
            self._sleep(self.interval)
        log.info("stopped")
        return EXIT_OK

    def tick(self, fetch: bool = False) -> int:
        """One look at origin and one convergence pass; the worst exit code seen."""
        self._look(fetch)
        code = EXIT_OK
        for model, key, whole in self._wanted():
            code = max(code, self._deploy(model, key, whole))
        return code

    def _look(self, fetch: bool) -> None:
        """Ask origin for new tags, unless it failed lately and its backoff is not over."""
        failures, not_before = self._origin
        if time.monotonic() < not_before:
            return
        try:
            if self.pointers is not None:  # documents in object storage; git only when needed
                self.pointers.look(self._models(), first=fetch)
            elif (new := self._new_remote_tags()) or fetch:
                if new:
                    log.info("origin has %s", ", ".join(sorted(new)[:5]))
                git.fetch_tags(self.repo)
        except GitModelError as exc:
            delay = min(MAX_BACKOFF, self.interval * 2**failures)
            self._origin = (failures + 1, time.monotonic() + delay)
            log.warning("%s; serving what this host has; next look at origin in %g s", exc.message, delay)
            return
        if failures:
            log.info("origin answers again")
        self._origin = (0, 0.0)

    def _new_remote_tags(self) -> set[str]:
        remote = {t for t in git.ls_remote_tags(self.repo) if self._relevant(t)}
        return remote - git.tag_names(self.repo)

    def _relevant(self, tag: str) -> bool:
        ref = parse_tag(tag)
        return (
            ref is not None
            and ref.action in (Action.ASSIGN, Action.UNASSIGN)
            and ref.stage in (self.env, canary_stage(self.env))
            and (self.names is None or ref.model in self._models())
        )

    def _models(self) -> set[str]:
        return {parse_model(n) for n in self.names or []}

    def _wanted(self) -> list[tuple[str, tuple[str, str], bool]]:
        """(model, what it waits for, whole deploy?) for every model the host lags behind.

        A whole deploy when the journal has not handled the pointer; the canary alone when
        only the canary differs, so a local rollback of the stable stays in place.
        """
        reg = Registry.load(self.repo)
        out = []
        for model in sorted(self._models() or reg.models):
            state = reg.models.get(model)
            events = state.stage_events(self.env) if state else []
            if not events or state is None or state.assignment_version(events[-1]) is None:
                continue
            tag = events[-1].tag
            want, event = canary_sync.wanted(state, self.env)
            key = (tag, event.tag if event else "no canary")
            records = list(journal.read(hostlayout.model_root(self.root, model)))
            if (journal.last_done(records) or {}).get("tag") != tag:
                out.append((model, key, True))
            elif canary_sync.pending(self.root, model, want, records):
                out.append((model, key, False))
        return out

    def _deploy(self, model: str, key: tuple[str, str], whole: bool) -> int:
        """Deploy (or update the canary); a failure waits out a backoff for the same tags."""
        count, not_before = self._failed.get((model, key), (0, 0.0))
        if time.monotonic() < not_before:
            return EXIT_OK
        try:
            if whole:
                done = deploy(self.repo, self.env, model, self.root, fetch=False, **self.options)
                can = done.canary
            else:
                result = deploy_canary(self.repo, self.env, model, self.root, fetch=False, **self.options)
                can = result
        except GitModelError as exc:
            delay = min(MAX_BACKOFF, self.interval * 2 ** (count + 1))
            self._failed[(model, key)] = (count + 1, time.monotonic() + delay)
            what, tag = ("deploy", key[0]) if whole else ("canary update", key[1])
            log.error("%s of %s (%s) failed: %s; next try in %g s", what, model, tag, exc.message, delay)
            return exc.exit_code
        self._failed.pop((model, key), None)
        if whole:
            log.info(
                "%s %s %s in %s (%.2f s, %s)",
                done.action,
                model,
                done.version,
                self.env,
                done.seconds,
                done.verified or "no info endpoint configured",
            )
        if can is not None and can.action != "unchanged":
            log.info("canary of %s in %s: %s", model, self.env, can.describe())
        return EXIT_OK

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        for _ in range(int(seconds / _SLICE) + 2):  # bounded; the deadline ends it first
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.should_stop():
                return
            time.sleep(min(_SLICE, remaining))
