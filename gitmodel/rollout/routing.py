"""Map a request key (user id, session id) to the stable or the canary version.

Pure and dependency-free so that any server or proxy can import it. The key's bucket
is a point in [0, 100) taken from SHA-256 of ``salt + "\\0" + key``: the same on every
host, process and restart (Python's ``hash()`` is salted per process and is not).
A key goes to the canary when its bucket is below the percentage, so raising the
percentage only adds keys: a user in the canary at 5% is still in it at 25%.
The salt names the model, environment and canary version, so each new canary draws
a fresh sample of users instead of reusing the unlucky ones of the last canary.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

Route = Literal["canary", "stable"]
CANARY: Route = "canary"
STABLE: Route = "stable"

_BITS = 53  # a double holds 53 bits exactly, so the bucket is an exact binary fraction
_SCALE = float(1 << _BITS)


def bucket(key: str, salt: str) -> float:
    """The key's fixed point in [0, 100)."""
    digest = hashlib.sha256(salt.encode() + b"\0" + key.encode()).digest()
    top = int.from_bytes(digest[:8], "big") >> (64 - _BITS)
    return top * 100.0 / _SCALE


def route(key: str, percent: float, salt: str) -> Route:
    """``canary`` for about ``percent`` % of keys, always the same ones for one salt."""
    return CANARY if bucket(key, salt) < percent else STABLE


def salt_for(model: str, env: str, canary_version: str) -> str:
    return f"{model}#{env}#{canary_version}"


@dataclass(frozen=True)
class RoutingState:
    """What a server needs to split traffic for one model in one environment."""

    model: str
    env: str
    stable: str | None
    canary: str | None  # None: no canary, all traffic to stable
    percent: float
    salt: str

    def route(self, key: str | None) -> Route:
        # No key (an anonymous request) stays on stable: a canary must be sticky per user,
        # and a random draw per request would give one user both versions.
        if self.canary is None or not key or self.percent <= 0:
            return STABLE
        return route(key, self.percent, self.salt)

    def version_for(self, key: str | None) -> str | None:
        return self.canary if self.route(key) == CANARY else self.stable

    def to_json(self) -> dict[str, object]:
        return {
            "model": self.model,
            "environment": self.env,
            "stable": self.stable,
            "canary": self.canary,
            "percent": self.percent,
            "salt": self.salt,
        }
