"""The functional check the gateway runs on a new instance before it takes traffic.

A version's checks are the registry's models/NAME/checks.yaml, copied by the host into the
version directory with its digest in the manifest (gitmodel/checks.py, docs/checks.md).
A version without checks passes with no report; one whose copy does not match its
manifest is refused.
"""

from __future__ import annotations

from gitmodel import checkrun, checks
from gitmodel.backends.base import Instance
from gitmodel.gateway.supervisor import FunctionalCheck


def version_checks(timeout: float) -> FunctionalCheck:
    """Run the instance's own version's checks against it, within TIMEOUT seconds in all."""

    def run(instance: Instance) -> checkrun.CheckResult | None:
        found = checks.for_version(instance.files.directory)
        if found is None:
            return None
        return checkrun.run(found, instance.base_url, instance.upstream_model, timeout)

    return run
