"""The host judges the pointer before accepting it: a bad one is refused, current stays.

The world's origin runs no server hook (hosted Git): whatever a pusher tags lands there,
and the host is the last enforcement point.
"""

from __future__ import annotations

import json

import pytest
from plugin.fsguard import Guard
from plugin.host import FollowServer, Host, git

from gitmodel.host.deploy import deploy_canary
from gitmodel.policy.host import PointerRefused


def attack(host: Host, tag: str, version: str, message: str = "") -> None:
    """A pusher with plain git: an assignment tag on a version's commit, pushed past any hook."""
    git(host.dev, "fetch", "-q", "origin", "--tags")
    git(host.dev, "tag", "-a", "-m", message or f"tag {tag}", tag, f"support@{version}^{{commit}}")
    git(host.dev, "push", "-q", "--no-verify", "origin", f"refs/tags/{tag}")


def test_a_pointer_skipping_staging_is_refused_and_current_stays(host: Host, follow: FollowServer) -> None:
    host.promote("v1.0.0")  # staging #1, production #2
    host.ok("deploy", "production", "support", "--root", str(host.root), *follow.flags())
    attack(host, "support#production#3", "v2.1.0")  # never in staging
    guard = Guard(host.root, host.clone / ".dvc")
    result = host.fails(1, "deploy", "production", "support", "--root", str(host.root), *follow.flags())
    err = result.stderr
    assert "refused support#production#3 [promotion-order]" in err
    assert "keeps serving what it has" in err
    assert host.current() == "v1.0.0" and follow.version == "v1.0.0"
    journal = host.mroot() / "journal.jsonl"
    guard.assert_only(journal)  # nothing fetched, built or swapped: one journal line
    last = host.journal()[-1]
    assert last["step"] == "failed" and last["exit"] == 1
    assert last["reason"].startswith("refused support#production#3 [promotion-order]")
    status = json.loads(host.ok("status", "production", "--root", str(host.root), "--json").stdout)
    drift = status["models"][0]["drift"]
    assert any("this host refused the production pointer and keeps serving v1.0.0" in d for d in drift), drift


def test_a_pointer_to_a_deprecated_version_is_refused(host: Host, follow: FollowServer) -> None:
    host.promote("v1.0.0")
    host.promote("v1.1.0")
    host.ok("deploy", "production", "support", "--root", str(host.root), *follow.flags())
    host.ok("deprecate", "support", "v1.0.0", "--push", cwd=host.dev)
    attack(host, "support#production#5", "v1.0.0")  # a "rollback" to the deprecated version
    result = host.fails(1, "deploy", "production", "support", "--root", str(host.root), *follow.flags())
    assert "refused support#production#5 [deprecated-version]" in result.stderr
    assert host.current() == "v1.1.0"


def test_a_pointer_on_a_commit_holding_no_version_is_refused(host: Host, follow: FollowServer) -> None:
    host.promote("v1.0.0")
    host.ok("deploy", "production", "support", "--root", str(host.root), *follow.flags())
    root = git(host.dev, "rev-list", "--max-parents=0", "HEAD").split()[0]
    git(host.dev, "tag", "-a", "-m", "x", "support#production#3", root)
    git(host.dev, "push", "-q", "--no-verify", "origin", "refs/tags/support#production#3")
    result = host.fails(1, "deploy", "production", "support", "--root", str(host.root), *follow.flags())
    assert "refused support#production#3 [assignment-target]" in result.stderr
    assert host.current() == "v1.0.0"


def test_legitimate_moves_deploy(host: Host, follow: FollowServer) -> None:
    host.promote("v1.0.0")
    host.promote("v1.1.0")
    host.ok("rollback", "production", "support", "--push", cwd=host.dev)
    out = host.ok("deploy", "production", "support", "--root", str(host.root), *follow.flags()).stdout
    assert "deployed support v1.0.0" in out


def test_a_forged_canary_is_judged_too(host: Host, follow: FollowServer) -> None:
    host.promote("v1.0.0")
    host.ok("deploy", "production", "support", "--root", str(host.root), *follow.flags())
    attack(host, "support#production-canary#3", "v2.1.0")  # a canary that skipped staging
    result = host.fails(1, "deploy", "production", "support", "--root", str(host.root), *follow.flags())
    assert "refused support#production-canary#3 [promotion-order]" in result.stderr
    assert host.current() == "v1.0.0"


def test_the_agents_canary_only_path_judges_the_canary(host: Host, follow: FollowServer) -> None:
    host.promote("v1.0.0")
    host.ok("deploy", "production", "support", "--root", str(host.root), *follow.flags())
    attack(host, "support#production-canary#3", "v2.1.0")
    git(host.clone, "fetch", "-q", "origin", "--tags")
    with pytest.raises(PointerRefused, match=r"refused support#production-canary#3 \[promotion-order\]"):
        deploy_canary(
            host.clone,
            "production",
            "support",
            host.root,
            fetch=False,
            reload_url=f"{follow.url}/reload",
            info_url=f"{follow.url}/info",
        )
    assert host.current() == "v1.0.0"
