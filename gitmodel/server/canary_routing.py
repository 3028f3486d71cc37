"""The canary role: loaded from ROOT/NAME_DIR/canary.json, routed by a request header.

A reload re-reads canary.json (gitmodel/hostlayout.py): a new version is loaded
from its directory under versions/ and installed, a new weight is taken as is, and no
file (or a version that fails to load) drops the canary so all traffic goes to the
stable version: a canary problem never costs the stable users anything.
Requests carry their routing key in a header (X-Route-Key by default); the key's
bucket (gitmodel/rollout/routing.py) picks the role, so one user always sees the same
version and a user in the canary at 5% is still in it at 25%. No key: stable.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gitmodel import hostlayout
from gitmodel.errors import GitModelError
from gitmodel.rollout.routing import CANARY as ROUTE_CANARY
from gitmodel.rollout.routing import route
from gitmodel.server.loaded import LoadedModel, load
from gitmodel.server.roles import CANARY, STABLE

if TYPE_CHECKING:
    from gitmodel.server.app import App

log = logging.getLogger("gitmodel.server")

DEFAULT_HEADER = "X-Route-Key"


class KeyRouter:
    """(headers, loaded) -> role, from the routing key header and the current split."""

    def __init__(self, header: str = DEFAULT_HEADER) -> None:
        self.header = header
        self._header = header.lower()  # the handler lower-cases header names
        self.split: hostlayout.CanarySplit | None = None  # replaced whole, read once per request

    def __call__(self, headers: Mapping[str, str], loaded: Mapping[str, LoadedModel]) -> str:
        split = self.split
        lm = loaded.get(CANARY)
        # The split must belong to the loaded canary: mid-reload they may briefly differ.
        if split is None or lm is None or lm.version != split.version:
            return STABLE
        key = headers.get(self._header)
        if not key:
            return STABLE
        return CANARY if route(key, split.percent, split.salt) == ROUTE_CANARY else STABLE

    def describe(self) -> dict[str, Any] | None:
        split = self.split
        if split is None:
            return None
        return {
            "version": split.version,
            "percent": split.percent,
            "salt": split.salt,
            "env": split.env,
            "route_header": self.header,
        }


def reload_canary(app: App, router: KeyRouter, trigger: str) -> dict[str, Any] | None:
    """Bring the canary role in line with canary.json; what happened, for /reload.

    None when there was no canary and there is none: a server without canaries answers
    /reload exactly as before.
    """
    old = app.models.get(CANARY)
    try:
        split = hostlayout.read_canary(app.root, app.model)
        if split is None:
            _drop(app, router, old, trigger, "no canary.json")
            return None if old is None else {"status": "ended", "version": None, "previous": old.version}
        if old is not None and old.version == split.version:
            changed = router.split != split
            router.split = split
            if changed:
                log.info("reload (%s): canary %s now at %g%%", trigger, split.version, split.percent)
            return {
                "status": "reweighted" if changed else "unchanged",
                "version": split.version,
                "percent": split.percent,
            }
        lm = load(app.root, app.model, hostlayout.version_dir(app.root, app.model, split.version), app.faults)
    except GitModelError as exc:
        _drop(app, router, old, trigger, f"refused: {exc.message}")
        return {"status": "refused", "version": None, "error": exc.message}
    previous = app.models.put(CANARY, lm)  # the model first: the router checks the split against it
    router.split = split
    app.metrics.set_loaded(app.model, CANARY, lm.version, previous.version if previous else None)
    log.info(
        "reload (%s): canary %s at %g%% of keys (stable keeps the rest)", trigger, lm.version, split.percent
    )
    return {"status": "reloaded", "version": lm.version, "percent": split.percent}


def _drop(app: App, router: KeyRouter, old: LoadedModel | None, trigger: str, why: str) -> None:
    router.split = None
    if old is None:
        if why.startswith("refused"):
            log.warning("reload (%s): canary %s; all traffic stays on stable", trigger, why)
        return
    app.models.drop(CANARY)
    app.metrics.set_unloaded(app.model, CANARY, old.version)
    level = log.warning if why.startswith("refused") else log.info
    level("reload (%s): canary %s ended (%s); all traffic to stable", trigger, old.version, why)
