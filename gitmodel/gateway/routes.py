"""The route table: per model, the instance holding each role and the canary's split.

A model's `Table` is immutable and replaced whole, so a request sees the old table or the
new one, never half of a swap.  Picking an instance and counting it in flight happen with
no `await` between them (one event loop), so a drain that sees zero in flight on a retired
instance cannot miss a request that picked it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from gitmodel.backends.base import Backend, Instance
from gitmodel.hostlayout import CanarySplit
from gitmodel.rollout import routing

STABLE = "stable"
CANARY = "canary"


@dataclass(eq=False)
class Live:
    """One started instance and the requests it is answering now."""

    instance: Instance
    slot: int
    backend: (
        Backend  # what started it, and so confirms and stops it (a host file change may replace the model's)
    )
    check: dict[str, Any] | None = None  # the functional check's report when it started
    inflight: int = 0
    started_at: float = field(default_factory=time.time)

    def checked(self) -> dict[str, Any]:
        """{"check": report} for a reload answer, {} when no check ran."""
        return {"check": self.check} if self.check is not None else {}

    @property
    def version(self) -> str:
        return self.instance.files.version

    @property
    def content_hash(self) -> str:
        return self.instance.files.content_hash

    def describe(self) -> dict[str, object]:
        return {
            "version": self.version,
            "content_hash": self.content_hash,
            "pid": self.instance.pid,
            "slot": self.slot,
            "base_url": self.instance.base_url,
            "directory": str(self.instance.files.directory),
        }


@dataclass(frozen=True)
class Table:
    model: str
    stable: Live | None = None
    canary: Live | None = None
    split: CanarySplit | None = None  # set exactly when `canary` is

    def pick(self, key: str) -> tuple[Live, str] | None:
        """The instance and role for a request's routing key (None: nothing serves this model)."""
        split = self.split
        if (
            self.canary is not None
            and split is not None
            and routing.route(key, split.percent, split.salt) == "canary"
        ):
            return self.canary, CANARY
        if self.stable is None:
            return None if self.canary is None else (self.canary, CANARY)
        return self.stable, STABLE

    def holds(self, live: Live) -> bool:
        return live is self.stable or live is self.canary

    def slots(self) -> set[int]:
        return {live.slot for live in (self.stable, self.canary) if live is not None}


async def drain(live: Live, timeout: float) -> int:
    """Wait until `live` answers nothing (bounded); the requests still running after `timeout`."""
    deadline = time.monotonic() + timeout
    while live.inflight and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    return live.inflight
