"""The canary on a host: ROOT/NAME_DIR/canary.json, next to `current`.

    ROOT/NAME_DIR/current -> versions/vX.Y.Z    the stable version (the deployer's swap)
    ROOT/NAME_DIR/canary.json                   {"version", "percent", "salt", ...}

One JSON file rather than a second symlink plus a weight file: the canary's version
and its share of traffic change together, and a single rename keeps them consistent
for a server that reloads at any moment. No file: no canary, all traffic stable.
The canary's version directory is a complete version under versions/, exactly like
the stable one (the host agent materialises it; retention must keep it).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gitmodel import hostlayout
from gitmodel.errors import UsageError
from gitmodel.refs import Version
from gitmodel.rollout.routing import RoutingState

FILENAME = "canary.json"


@dataclass(frozen=True)
class CanarySplit:
    version: str
    percent: float
    salt: str
    env: str | None = None
    stable: str | None = None

    @classmethod
    def from_routing(cls, state: RoutingState) -> CanarySplit | None:
        if state.canary is None:
            return None
        return cls(state.canary, state.percent, state.salt, state.env, state.stable)


def path(root: Path, model: str) -> Path:
    return hostlayout.model_root(root, model) / FILENAME


def parse(data: Any, where: str) -> CanarySplit:
    if not isinstance(data, dict):
        raise UsageError(f"{where} must be a JSON object; rewrite it with the host agent")
    version, percent, salt = data.get("version"), data.get("percent"), data.get("salt")
    try:
        Version.parse(version if isinstance(version, str) else "")
    except UsageError:
        raise UsageError(f"{where}: 'version' must be vX.Y.Z, not {version!r}") from None
    if (
        isinstance(percent, bool)
        or not isinstance(percent, int | float)
        or not math.isfinite(percent)
        or not 0 <= percent <= 100
    ):
        raise UsageError(f"{where}: 'percent' must be a number from 0 to 100, not {percent!r}")
    if not isinstance(salt, str) or not salt:
        raise UsageError(f"{where}: 'salt' must be a non-empty string")
    env, stable = data.get("env"), data.get("stable")
    return CanarySplit(
        str(version),
        float(percent),
        salt,
        env if isinstance(env, str) else None,
        stable if isinstance(stable, str) else None,
    )


def read(root: Path, model: str) -> CanarySplit | None:
    """The host's canary, or None; raises UsageError when the file is not a valid split."""
    p = path(root, model)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UsageError(f"{p}: unreadable ({exc.strerror})") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{p}: not valid JSON ({exc})") from None
    return parse(data, str(p))


def write(root: Path, model: str, split: CanarySplit | None) -> None:
    """Replace (or, with None, remove) the host's canary file atomically."""
    p = path(root, model)
    if split is None:
        p.unlink(missing_ok=True)
        return
    tmp = p.with_name(f".{FILENAME}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(asdict(split), fh, indent=2)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, p)
