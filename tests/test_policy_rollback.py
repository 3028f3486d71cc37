"""rollback's target comes from the tags' structure; `--to` only goes back (real tags, real git)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from plugin.registry import Registry, git, refs


@pytest.fixture
def model(template_copy: Callable[[str], Registry]) -> Registry:
    """support v1.0.0 then v1.1.0 through staging into production; v1.2.0 registered."""
    return template_copy("served_twice")


def pointer(registry: Registry, env: str) -> str | None:
    data = json.loads(registry.ok("list", "--json").stdout)
    return data["models"][0]["environments"].get(env)


def last_event(registry: Registry) -> dict[str, object]:
    return json.loads(registry.ok("history", "support", "--json").stdout)["events"][-1]  # type: ignore[no-any-return]


def test_a_fake_rollback_record_does_not_hide_the_target(model: Registry) -> None:
    # A pusher re-tags what production serves with a record claiming a rollback from v1.0.0.
    record = (
        "gitmodel: rollback support v1.1.0 to production\n\n"
        'gitmodel-record: {"action":"rollback","from":"v1.0.0","version":"v1.1.0","env":"production"}'
    )
    git(model.root, "tag", "-a", "-m", record, "support#production#5", "support@v1.1.0^{commit}")
    assert "rollback: support production -> v1.0.0 (was v1.1.0)" in model.ok("rollback", "production").stdout


def test_a_version_promoted_again_is_a_target_again(model: Registry) -> None:
    model.ok("rollback", "production")  # v1.1.0 -> v1.0.0: v1.1.0 is rolled back from
    assert "no earlier good version" in model.fails(1, "rollback", "production").stderr
    model.ok("promote", "support", "v1.1.0", "production")  # fixed elsewhere, promoted again
    model.ok("promote", "support", "v1.2.0", "staging")
    model.ok("promote", "support", "v1.2.0", "production")
    assert "-> v1.1.0 (was v1.2.0)" in model.ok("rollback", "production").stdout
    assert "-> v1.0.0 (was v1.1.0)" in model.ok("rollback", "production").stdout


def test_deprecated_versions_are_skipped(model: Registry) -> None:
    model.ok("deprecate", "support", "v1.0.0")
    assert "no earlier good version" in model.fails(1, "rollback", "production").stderr


def test_rollback_to_a_version_never_served_is_a_promote(model: Registry) -> None:
    before = refs(model.root)
    err = model.fails(1, "rollback", "production", "--to", "v1.2.0").stderr
    assert "production never served support v1.2.0" in err
    assert "`gitmodel promote support v1.2.0 production`" in err
    assert refs(model.root) == before


def test_rollback_to_a_deprecated_version_is_refused(model: Registry) -> None:
    model.ok("deprecate", "support", "v1.0.0")
    before = refs(model.root)
    assert "deprecated" in model.fails(1, "rollback", "production", "--to", "v1.0.0").stderr
    assert (
        "deprecated"
        in model.fails(1, "rollback", "production", "--to", "v1.0.0", "--force", "--reason", "x").stderr
    )
    assert refs(model.root) == before


def test_rollback_to_goes_back_to_any_version_served(model: Registry) -> None:
    model.ok("promote", "support", "v1.2.0", "staging")
    model.ok("promote", "support", "v1.2.0", "production")
    assert "-> v1.0.0 (was v1.2.0)" in model.ok("rollback", "production", "--to", "v1.0.0").stdout


def test_force_with_a_reason_overrides_and_is_recorded(model: Registry) -> None:
    before = refs(model.root)
    assert "--reason" in model.fails(2, "rollback", "production", "--to", "v1.2.0", "--force").stderr
    assert "--to" in model.fails(2, "rollback", "production", "--force", "--reason", "x").stderr
    # Still no skipping staging, even forced.
    assert (
        "has not been in staging"
        in model.fails(1, "rollback", "production", "--to", "v1.2.0", "--force", "--reason", "hotfix").stderr
    )
    assert refs(model.root) == before
    model.ok("promote", "support", "v1.2.0", "staging")
    model.ok("rollback", "production", "--to", "v1.2.0", "--force", "--reason", "hotfix from staging")
    assert pointer(model, "production") == "v1.2.0"
    event = last_event(model)
    assert (event["action"], event["reason"], event["version"]) == (
        "force-rollback",
        "hotfix from staging",
        "v1.2.0",
    )
    gate = event["gate"]
    assert isinstance(gate, dict) and gate["forced"] is True
