"""Start, confirm, swap and retire backend instances so that the gateway's routes follow ROOT.

For each model, stable follows ROOT/NAME_DIR/current and canary follows canary.json
(hostlayout).  A reload re-reads both and brings the route table in line, blue/green:

    start the new version on the slot no role holds (the old one keeps serving),
    confirm it (backend.confirm: exactly that version answers), run the functional check,
    replace the model's table whole, then drain the old instance (bounded) and stop it.

A version that fails to start, to confirm or the check is stopped and never takes
traffic; the answer says why in one line.  A backend has two slots per model (0 and 1):
stable holds one, and a canary the other; a stable swap while a canary runs first gives
the canary's slot up (its users go to stable), then starts the canary again on the slot
the old stable frees.  Backends are blocking: every call runs in a worker thread, and one
reload per model runs at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gitmodel import hostlayout
from gitmodel.backends.base import Backend, Instance, VersionFiles
from gitmodel.errors import GitModelError, UsageError
from gitmodel.gateway import layout
from gitmodel.gateway.metrics import Metrics
from gitmodel.gateway.routes import CANARY, STABLE, Live, Table, drain

log = logging.getLogger("gitmodel.gateway")


class CheckReport(Protocol):
    """What a functional check found (gitmodel/checkrun.py CheckResult keeps this shape)."""

    @property
    def passed(self) -> bool: ...

    def describe(self) -> str: ...

    def to_json(self) -> dict[str, Any]: ...


# The call point for the functional check after a swap (issue 11 item 4): given the started
# and confirmed instance, its report (None: the version has no checks).  The CLI passes
# checking.version_checks (the version's own checks.yaml); None here: no check at all.
FunctionalCheck = Callable[[Instance], CheckReport | None]
# The backend that serves one model (built from the host file); raises UsageError when none is set.
BackendFor = Callable[[str], Backend]

SLOTS = (0, 1)


class Refusal(Exception):
    def __init__(self, message: str, status: int = 409, check: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.check = check  # the functional check's report, when one ran


@dataclass(frozen=True)
class Outcome:
    status: int  # the HTTP status of the reload's answer
    body: dict[str, Any]


@dataclass
class Timeouts:
    start: float = 30.0  # a backend's start, confirm included
    stop: float = 10.0
    drain: float = 30.0  # requests in flight on a retired instance
    watch: float = 5.0  # seconds between two confirmations of what serves (0: never)


class Supervisor:
    def __init__(
        self,
        root: Path,
        backend_for: BackendFor,
        metrics: Metrics,
        timeouts: Timeouts | None = None,
        functional_check: FunctionalCheck | None = None,
    ) -> None:
        self.root = root
        self.metrics = metrics
        self.timeouts = timeouts or Timeouts()
        self.functional_check = functional_check
        self.tables: dict[str, Table] = {}
        self._backend_for = backend_for
        self._backends: dict[str, Backend] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._retiring: dict[tuple[str, int], asyncio.Task[None]] = {}

    def table(self, model: str) -> Table:
        return self.tables.get(model) or Table(model)

    def backend(self, model: str) -> Backend:
        if model not in self._backends:
            self._backends[model] = self._backend_for(model)
        return self._backends[model]

    def rebackend(self, backend_for: BackendFor, changed: Iterable[str]) -> None:
        """The host file changed: CHANGED models get their backend anew at their next reload.

        Their instances keep serving until then, and are then replaced blue/green by ones the
        new backend starts; a model left with no backend stops serving at that reload.
        """
        self._backend_for = backend_for
        for model in changed:
            self._backends.pop(model, None)

    async def reload(self, model: str) -> Outcome:
        """Bring MODEL's routes in line with ROOT; the answer for POST /-/gitmodel/reload."""
        async with self._locks.setdefault(model, asyncio.Lock()):
            before = self.tables.setdefault(model, Table(model))  # known from now on, served or not
            try:
                backend = self.backend(model)
            except GitModelError as exc:
                if before.stable is not None or before.canary is not None:
                    self._install(Table(model))  # the host file took its backend away
                    log.warning("%s: %s; it no longer serves", model, exc.message)
                self.metrics.reload(model, ok=False)
                return Outcome(
                    409, {"model": model, "status": "refused", "version": None, "error": exc.message}
                )
            stable = await self._role(model, STABLE, self._stable(model, backend))
            canary = await self._role(model, CANARY, self._canary(model, backend))
        after = self.table(model)
        status = stable.pop("code", 200)
        body: dict[str, Any] = {
            "model": model,
            **stable,
            "version": after.stable.version if after.stable else None,
            "content_hash": after.stable.content_hash if after.stable else None,
            "previous": before.stable.version if before.stable else None,
        }
        if canary is not None:
            code = canary.pop("code", 200)
            body["canary"] = canary
            # A refused canary fails the reload unless the stable changed in it: then the
            # stable's deploy succeeded, and the canary's refusal is reported in "canary".
            if status == 200 and code != 200 and stable["status"] not in ("reloaded", "promoted"):
                status = code
                body["error"] = f"canary: {canary['error']}"
        self.metrics.reload(model, ok=status == 200)
        return Outcome(status, body)

    async def _role(self, model: str, role: str, step: Any) -> Any:
        try:
            return await step
        except Refusal as exc:
            log.warning("%s %s refused: %s", model, role, exc.message)
            refused = {"status": "refused", "error": exc.message, "code": exc.status}
            return refused | ({"check": exc.check} if exc.check is not None else {})

    async def _stable(self, model: str, backend: Backend) -> dict[str, Any]:
        table = self.table(model)
        want, bad = layout.wanted_stable(self.root, model)
        old = table.stable
        if bad:
            raise Refusal(f"{bad}; still serving {old.version if old else 'nothing'}")
        if want is None:
            if old is None:
                return {"status": "none"}  # nothing deployed, nothing served: 200
            link = hostlayout.current_link(self.root, model)
            raise Refusal(f"{link} does not exist; still serving {old.version}; run `gitmodel deploy`")
        files = self._files(model, want)
        if (
            old is not None
            and old.backend is backend
            and (old.version, old.content_hash) == (want, files.content_hash)
        ):
            why = await asyncio.to_thread(backend.confirm, old.instance)
            if why is None:
                return {"status": "unchanged"}
            log.warning("%s %s no longer answers as itself (%s); starting it again", model, want, why)
        held = table.canary
        if (
            held is not None
            and held.backend is backend
            and (held.version, held.content_hash) == (want, files.content_hash)
        ):
            self._install(Table(model, stable=held))  # the canary's instance takes all traffic
            log.info("%s %s promoted: the canary's instance now takes all traffic", model, want)
            return {"status": "promoted"}
        live = await self._start(model, backend, files, STABLE)
        now = self.table(model)
        self._install(Table(model, live, now.canary, now.split))
        return {"status": "reloaded", **live.checked()}

    async def _canary(self, model: str, backend: Backend) -> dict[str, Any] | None:
        table = self.table(model)
        try:
            split = hostlayout.read_canary(self.root, model)
        except UsageError as exc:
            if table.canary is not None:
                self._install(Table(model, table.stable))
            raise Refusal(f"{exc.message}; all traffic goes to stable") from None
        if split is None:
            if table.canary is None:
                return None
            self._install(Table(model, table.stable))
            log.info("%s canary %s ended: all traffic to stable", model, table.canary.version)
            return {"status": "ended", "version": None, "previous": table.canary.version}
        summary = {"version": split.version, "percent": split.percent}
        files = self._files(model, split.version, retire_canary=True)
        same = next(
            (
                live
                for live in (table.canary, table.stable)
                if live is not None
                and live.backend is backend
                and live.version == split.version
                and live.content_hash == files.content_hash
            ),
            None,
        )
        if same is not None and await asyncio.to_thread(backend.confirm, same.instance) is None:
            changed = table.split != split or table.canary is not same
            self._install(Table(model, table.stable, same, split))
            return {"status": "reweighted" if changed else "unchanged", **summary}
        if table.canary is not None:
            self._install(Table(model, table.stable))  # its slot is needed; its users go to stable
        live = await self._start(model, backend, files, CANARY)
        self._install(Table(model, self.table(model).stable, live, split))
        log.info("%s canary %s at %g%% of keys", model, split.version, split.percent)
        return {"status": "reloaded", **summary, **live.checked()}

    def _files(self, model: str, version: str, retire_canary: bool = False) -> VersionFiles:
        try:
            return layout.version_files(self.root, model, version)
        except GitModelError as exc:
            if retire_canary and self.table(model).canary is not None:
                self._install(Table(model, self.table(model).stable))
            raise Refusal(exc.message) from None

    async def _start(self, model: str, backend: Backend, files: VersionFiles, role: str) -> Live:
        """Start FILES on a free slot, confirm and check it; stopped again unless it passes."""
        slot = await self._free_slot(model)
        what = f"{model} {files.version}"
        try:
            instance = await asyncio.to_thread(backend.start, files, slot, self.timeouts.start)
        except GitModelError as exc:
            code = 504 if exc.exit_code == 4 else 409
            raise Refusal(f"{what} did not start: {exc.message}; it took no traffic", code) from None
        except Exception as exc:  # a backend's bug must not take the gateway down
            log.exception("backend %s failed starting %s", backend.kind, what)
            raise Refusal(
                f"{what} did not start: {type(exc).__name__}: {exc}; it took no traffic", 500
            ) from None
        why, check = await asyncio.to_thread(self._confirm_and_check, backend, instance)
        if why is not None:
            await self._stop(backend, instance)
            raise Refusal(f"{what} {why}; it took no traffic", check=check)
        log.info(
            "%s serving as %s on slot %d (%s, pid %s)",
            what,
            role,
            slot,
            instance.base_url,
            instance.pid or "-",
        )
        return Live(instance, slot, backend, check=check)

    def _confirm_and_check(
        self, backend: Backend, instance: Instance
    ) -> tuple[str | None, dict[str, Any] | None]:
        """(why it may not take traffic, or None; the functional check's report, if one ran)."""
        try:
            why = backend.confirm(instance)
        except Exception as exc:
            log.exception("confirming %s %s", instance.files.model, instance.files.version)
            return f"is not confirmed: {type(exc).__name__}: {exc}", None
        if why is not None:
            return f"is not confirmed: {why}", None
        if self.functional_check is None:
            return None, None
        try:
            report = self.functional_check(instance)
        except GitModelError as exc:  # e.g. a checks file that does not match its manifest
            return f"failed the functional check: {exc.message}", None
        except Exception as exc:
            log.exception("checking %s %s", instance.files.model, instance.files.version)
            return f"failed the functional check: {type(exc).__name__}: {exc}", None
        if report is None:
            return None, None
        if not report.passed:
            return f"failed the functional check: {report.describe()}", report.to_json()
        log.info("%s %s: %s", instance.files.model, instance.files.version, report.describe())
        return None, report.to_json()

    async def _free_slot(self, model: str) -> int:
        table = self.table(model)
        free = [s for s in SLOTS if s not in table.slots()]
        if not free and table.canary is not None:
            self._install(Table(model, table.stable))  # the canary gives its slot up for the stable
            free = [s for s in SLOTS if s not in self.table(model).slots()]
        slot = free[0]
        retiring = self._retiring.pop((model, slot), None)
        if retiring is not None:
            await retiring  # the old instance on this slot must be gone before a new one binds it
        return slot

    def _install(self, new: Table) -> None:
        """Replace the model's table whole; retire what it no longer holds."""
        model = new.model
        old = self.table(model)
        self.tables[model] = new
        for role, was, now in ((STABLE, old.stable, new.stable), (CANARY, old.canary, new.canary)):
            if was is not now:
                self.metrics.set_role(model, role, now.version if now else None, was.version if was else None)
        for live in (old.stable, old.canary):
            if live is not None and not new.holds(live) and (model, live.slot) not in self._retiring:
                self._retiring[(model, live.slot)] = asyncio.create_task(self._retire(model, live))

    async def _retire(self, model: str, live: Live) -> None:
        left = await drain(live, self.timeouts.drain)
        if left:
            log.warning(
                "%s %s: %d requests still running after %g s; stopping it anyway",
                model,
                live.version,
                left,
                self.timeouts.drain,
            )
        await self._stop(live.backend, live.instance)
        log.info("%s %s stopped (slot %d)", model, live.version, live.slot)

    async def _stop(self, backend: Backend, instance: Instance) -> None:
        try:
            await asyncio.to_thread(backend.stop, instance, self.timeouts.stop)
        except Exception:
            log.exception("stopping %s %s", instance.files.model, instance.files.version)

    async def watch(self, model: str) -> str | None:
        """Confirm what serves MODEL; one that no longer answers as itself (a crash, a kill) is
        started again by a reload.  Why it was restarted, or None.  Skipped while a reload runs."""
        lock = self._locks.get(model)
        if lock is None or lock.locked():
            return None
        table = self.table(model)
        for live in dict.fromkeys(x for x in (table.stable, table.canary) if x is not None):
            why = await asyncio.to_thread(live.backend.confirm, live.instance)
            if why is not None and self.table(model).holds(live) and not lock.locked():
                log.warning(
                    "%s %s stopped answering as itself (%s); starting it again", model, live.version, why
                )
                await self.reload(model)
                return why
        return None

    async def stop_all(self) -> None:
        """Retire every instance (drained, bounded) and wait until all are stopped."""
        for model in list(self.tables):
            self._install(Table(model))
        await asyncio.gather(*self._retiring.values(), return_exceptions=True)
        self._retiring.clear()

    def info(self, model: str) -> tuple[int, dict[str, Any]]:
        """What GET /-/gitmodel/info answers: the stable's identity first (host/reload.py reads it)."""
        table = self.table(model)
        kind = self._backends[model].kind if model in self._backends else None
        canary = None
        if table.canary is not None and table.split is not None:
            split = table.split
            canary = {
                **table.canary.describe(),
                "percent": split.percent,
                "salt": split.salt,
                "env": split.env,
            }
        roles = {r: live.version for r, live in ((STABLE, table.stable), (CANARY, table.canary)) if live}
        if table.stable is None:
            why = "no version serving; deploy one (`gitmodel deploy`), then reload"
            return 503, {"model": model, "version": None, "role": STABLE, "error": why, "canary": canary}
        return 200, {
            "model": model,
            **table.stable.describe(),
            "role": STABLE,
            "backend": kind,
            "canary": canary,
            "roles": roles,
        }
