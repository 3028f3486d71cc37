"""The inference-host side: deploy, local rollback, status and the agent.

Layout and contract: gitmodel/hostlayout.py; writes to it: fs.py; user guide: docs/host.md.

Nothing is imported here: `gitmodel rollback --root` must not pay for the agent, the
pointer watch and status before it swaps a server (tests/test_startup.py). The public
names below load their module on first use; `deploy` and `status` are also the names of
their modules, so import those functions from `gitmodel.host.deploy` and
`gitmodel.host.status`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gitmodel.host.agent import Agent
    from gitmodel.host.deploy import Deployed, deploy_canary
    from gitmodel.host.rollback import rollback_local
else:
    _WHERE = {"Agent": "agent", "Deployed": "deploy", "deploy_canary": "deploy", "rollback_local": "rollback"}

    def __getattr__(name: str) -> Any:
        if name not in _WHERE:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)


__all__ = ["Agent", "Deployed", "deploy_canary", "rollback_local"]
