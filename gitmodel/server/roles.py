"""The server's loaded versions, keyed by role, and the choice of one per request.

``stable`` follows the model's ``current`` link; ``canary`` (when the host has one)
is the version named by canary.json, chosen per request by the key router in
canary_routing.py. Neither the handler nor the reload path changes shape for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from types import MappingProxyType

from gitmodel.server.loaded import LoadedModel

STABLE = "stable"
CANARY = "canary"

# A router picks a role for one request from its headers and the roles loaded now.
Router = Callable[[Mapping[str, str], Mapping[str, LoadedModel]], str]


def stable_only(headers: Mapping[str, str], loaded: Mapping[str, LoadedModel]) -> str:
    return STABLE


class Models:
    """Role -> LoadedModel. Readers take an immutable snapshot; writers replace it whole."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: Mapping[str, LoadedModel] = MappingProxyType({})

    def snapshot(self) -> Mapping[str, LoadedModel]:
        # One attribute read: a request sees either the old mapping or the new one, whole.
        return self._loaded

    def get(self, role: str = STABLE) -> LoadedModel | None:
        return self._loaded.get(role)

    def put(self, role: str, model: LoadedModel) -> LoadedModel | None:
        """Swap in `model` for `role`; returns what it replaced."""
        with self._lock:
            previous = self._loaded.get(role)
            self._loaded = MappingProxyType({**self._loaded, role: model})
            return previous

    def drop(self, role: str) -> LoadedModel | None:
        with self._lock:
            rest = dict(self._loaded)
            previous = rest.pop(role, None)
            self._loaded = MappingProxyType(rest)
            return previous
