"""The server's state: loaded versions by role, metrics, reloads, requests in flight.

Kept apart from HTTP so the reload rules (refuse a bad version, keep serving the old
one) are plain method calls, and so another front end could reuse them.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gitmodel import hostlayout
from gitmodel.errors import GitModelError
from gitmodel.refs import parse_model
from gitmodel.server.canary_routing import DEFAULT_HEADER, KeyRouter, reload_canary
from gitmodel.server.errors import NothingDeployed
from gitmodel.server.faults import Faults
from gitmodel.server.loaded import LoadedModel, load
from gitmodel.server.metrics import Metrics
from gitmodel.server.roles import STABLE, Models

log = logging.getLogger("gitmodel.server")


@dataclass(frozen=True)
class ReloadResult:
    ok: bool
    status: str  # "reloaded", "unchanged" or "refused"
    version: str | None  # what the role serves after the reload
    previous: str | None
    reason: str | None = None
    canary: dict[str, Any] | None = None  # what the canary role did (canary_routing.py); not in `ok`

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "version": self.version,
            "previous": self.previous,
            **({"error": self.reason} if self.reason else {}),
            **({"canary": self.canary} if self.canary is not None else {}),
        }


@dataclass
class App:
    root: Path
    model: str
    faults: dict[str, Faults] = field(default_factory=dict)
    route_header: str = DEFAULT_HEADER
    pinned: str | None = None  # serve exactly this version (a backend's instance): no `current`, no canary

    def __post_init__(self) -> None:
        self.model = parse_model(self.model)
        self.models = Models()
        self.metrics = Metrics()
        # Role -> the link it follows; the canary role follows canary.json instead (canary_routing.py).
        self.links: dict[str, Path] = {STABLE: hostlayout.current_link(self.root, self.model)}
        if self.pinned is not None:
            self.links[STABLE] = hostlayout.version_dir(self.root, self.model, self.pinned)
        self.router = KeyRouter(self.route_header)
        self.unavailable: str | None = None  # why nothing is loaded, for /health
        self._reload_lock = threading.RLock()
        self._active = 0
        self._idle = threading.Condition()

    def start(self) -> None:
        """First load. Nothing deployed yet is fine (start unhealthy); a bad version is not."""
        try:
            self._install(STABLE, load(self.root, self.model, self.links[STABLE], self.faults))
        except NothingDeployed as exc:
            self.unavailable = exc.message
            log.warning("%s", exc.message)
        if self.pinned is None:
            with self._reload_lock:
                reload_canary(self, self.router, "start")

    def reload(self, trigger: str, role: str = STABLE) -> ReloadResult:
        """Re-resolve the role's link, then the canary; on any problem keep serving stable."""
        with self._reload_lock:  # re-entrant: held across both roles, so reloads never interleave
            result = self._reload_role(trigger, role)
            if self.pinned is not None:
                return result
            return replace(result, canary=reload_canary(self, self.router, trigger))

    def _reload_role(self, trigger: str, role: str) -> ReloadResult:
        with self._reload_lock:  # SIGHUP and POST /reload may race; one load at a time
            old = self.models.get(role)
            old_version = old.version if old else None
            try:
                new = load(self.root, self.model, self.links[role], self.faults)
            except GitModelError as exc:
                self.metrics.reload(self.model, ok=False)
                if old is None:
                    self.unavailable = exc.message
                log.warning(
                    "reload (%s) refused: %s; still serving %s",
                    trigger,
                    exc.message,
                    old_version or "nothing",
                )
                return ReloadResult(False, "refused", old_version, old_version, exc.message)
            self.metrics.reload(self.model, ok=True)
            if old is not None and old.path == new.path and old.manifest == new.manifest:
                # Same immutable version: keep the object, its load time and fault schedule.
                log.info("reload (%s): %s %s unchanged", trigger, self.model, old.version)
                return ReloadResult(True, "unchanged", old.version, old.version)
            # Logged first: whoever sees the new version in /info finds the line already there.
            log.info(
                "reload (%s): %s %s -> %s (%s)",
                trigger,
                self.model,
                old_version or "nothing",
                new.version,
                describe(new),
            )
            self._install(role, new)
            return ReloadResult(True, "reloaded", new.version, old_version)

    def _install(self, role: str, lm: LoadedModel) -> None:
        previous = self.models.put(role, lm)
        was = previous.version if previous else None
        self.metrics.set_loaded(self.model, role, lm.version, was)
        self.unavailable = None

    # Requests in flight, so a shutdown can wait for them (bounded by its timeout).
    def begin(self) -> None:
        with self._idle:
            self._active += 1

    def end(self) -> None:
        with self._idle:
            self._active -= 1
            if self._active == 0:
                self._idle.notify_all()

    def drain(self, timeout: float) -> int:
        """Wait up to `timeout` seconds for requests in flight; returns how many remain."""
        with self._idle:
            self._idle.wait_for(lambda: self._active == 0, timeout=timeout)
            return self._active


def describe(lm: LoadedModel) -> str:
    """One short phrase for a log line: content hash and, for GGUF, what the header says."""
    parts = [f"md5 {lm.content_hash[:12]}", f"{lm.manifest['kind']} {lm.manifest['artifact']}"]
    if lm.gguf:
        parts.append(
            f"gguf {lm.gguf.architecture or '?'} {lm.gguf.quantization or '?'}, "
            f"{lm.gguf.tensor_count} tensors"
        )
    if lm.faults.as_dict():
        parts.append("faults " + ",".join(f"{k}={v:g}" for k, v in lm.faults.as_dict().items()))
    return "; ".join(parts)
