"""The inference-host side: deploy, local rollback, status and the agent.

Layout and contract: gitmodel/hostlayout.py; writes to it: fs.py; user guide: docs/host.md.
"""

from __future__ import annotations

from pathlib import Path

from gitmodel.host.agent import Agent
from gitmodel.host.deploy import Deployed, deploy, deploy_canary, rollback_local
from gitmodel.host.status import status

__all__ = ["Agent", "Deployed", "deploy", "deploy_canary", "is_hot", "rollback_local", "status"]


def is_hot(root: Path, name: str, version: str) -> bool:
    """Whether ROOT holds a complete copy of NAME vX.Y.Z (deploying it downloads nothing)."""
    from gitmodel.hostlayout import hot_versions
    from gitmodel.refs import Version, parse_model

    return Version.parse(version) in hot_versions(root, parse_model(name))
