"""The inference-host side: deploy, local rollback, status and the agent.

Layout and contract: gitmodel/hostlayout.py; writes to it: fs.py; user guide: docs/host.md.
"""

from __future__ import annotations

from gitmodel.host.agent import Agent
from gitmodel.host.deploy import Deployed, deploy, deploy_canary
from gitmodel.host.rollback import rollback_local
from gitmodel.host.status import status

__all__ = ["Agent", "Deployed", "deploy", "deploy_canary", "rollback_local", "status"]
