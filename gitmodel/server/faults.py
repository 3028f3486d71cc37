"""Fault injection per version, so tests (and canary drills) can make one version bad.

Faults come from the manifest's optional ``"faults"`` object or from ``--fault
VERSION:error_rate=0.3,latency_ms=200`` (the flag wins for its version). Errors follow a
fixed schedule rather than a random draw: request n of a version fails when
floor((n+1)*rate) > floor(n*rate), so any run of N requests holds exactly floor(N*rate)
errors (give or take one) and a monitor's verdict in a test never depends on luck.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from gitmodel.hostlayout import check_faults
from gitmodel.refs import Version
from gitmodel.server.errors import ServeError


@dataclass(frozen=True)
class Faults:
    error_rate: float = 0.0
    latency_ms: float = 0.0

    @classmethod
    def from_manifest(cls, data: Any) -> Faults:
        # read_manifest validated the shape already; check_faults only converts here.
        return cls(**check_faults(data)) if data else cls()

    def fails(self, seq: int) -> bool:
        if self.error_rate <= 0:
            return False
        return math.floor((seq + 1) * self.error_rate) > math.floor(seq * self.error_rate)

    def as_dict(self) -> dict[str, float]:
        pairs = (("error_rate", self.error_rate), ("latency_ms", self.latency_ms))
        return {k: v for k, v in pairs if v}


def parse_flag(text: str) -> tuple[str, Faults]:
    """``v1.2.0:error_rate=0.3,latency_ms=200`` -> ("v1.2.0", Faults(0.3, 200.0))."""
    version, sep, spec = text.partition(":")
    usage = "write --fault VERSION:error_rate=R,latency_ms=MS, e.g. v1.2.0:error_rate=0.3"
    if not sep or not spec:
        raise ServeError(f"bad --fault {text!r}; {usage}")
    values: dict[str, Any] = {}
    for item in spec.split(","):
        key, eq, raw = item.partition("=")
        try:
            values[key.strip()] = float(raw) if eq else None
        except ValueError:
            values[key.strip()] = raw
    try:
        version = str(Version.parse(version))
        return version, Faults(**check_faults(values))
    except ValueError as exc:
        raise ServeError(f"bad --fault {text!r}: {exc}; {usage}") from None
