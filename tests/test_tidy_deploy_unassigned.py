"""deploy after a GTO unassignment names it, as show and rollback do (served.unassigned)."""

from __future__ import annotations

import pytest
from plugin.clients import run_client
from plugin.host import Host, git


@pytest.mark.slow
def test_deploy_after_a_gto_unassignment_names_it_and_writes_nothing(host: Host) -> None:
    host.promote("v1.0.0")
    run_client(host.dev, "gto", "deprecate", "support", "v1.0.0", "production", "-m", "pulled")
    git(host.dev, "push", "-q", "origin", "--tags")
    err = host.fails(2, "deploy", "production", "support", "--root", str(host.root)).stderr
    assert (
        "production's newest tag support#production!#3 unassigns support v1.0.0: `gto show` reads "
        "production as nothing, `dvc artifacts get --stage` as v1.0.0, and gitmodel does not guess"
    ) in err
    assert "promote the version production should serve" in err
    assert not host.root.exists()
