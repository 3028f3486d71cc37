"""`gitmodel drill` on a real host root served by the reference server (`gitmodel serve`):
back and forward, each leg timed to the server's confirmation, recorded in the registry
and the host journal."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from plugin.fsguard import Guard
from plugin.host import Host, git
from plugin.server import ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture
def server(host: Host, tmp_path: Path) -> Iterator[ServerProcess]:
    host.root.mkdir()
    proc = ServerProcess(host.root, "support", workdir=tmp_path).wait_ready()
    yield proc
    proc.stop()


def _flags(server: ServerProcess) -> list[str]:
    return ["--reload-url", f"{server.url}/reload", "--info-url", f"{server.url}/info"]


def _staging_serves_two(host: Host, server: ServerProcess) -> None:
    for version in ("v2.0.0", "v2.1.0"):
        host.promote(version, env="staging")
        host.ok("deploy", "staging", "support", "--root", str(host.root), *_flags(server))


def test_drill_rolls_back_and_forward_and_records_it(host: Host, server: ServerProcess) -> None:
    _staging_serves_two(host, server)
    out = host.ok("drill", "staging", "support", "--root", str(host.root), *_flags(server), "--json")
    done = json.loads(out.stdout)
    assert done["passed"] and done["version"] == "v2.1.0" and done["previous"] == "v2.0.0"
    assert [(leg["leg"], leg["version"]) for leg in done["legs"]] == [
        ("back", "v2.0.0"),
        ("forward", "v2.1.0"),
    ]
    assert [f"reports {leg['version']}" in leg["verified"] for leg in done["legs"]] == [True, True]
    assert all(0 < leg["seconds"] < 60 for leg in done["legs"])
    assert json.loads(server.get("/info").body)["version"] == "v2.1.0"
    drills = [r for r in host.journal() if r["step"] == "drill"]
    assert len(drills) == 1 and drills[0]["passed"] is True and drills[0]["record"] == done["record"]
    host.ok("status", "staging", "--root", str(host.root))  # a finished drill is no interrupted run
    # The record reached origin, where every clone's fetch finds it.
    assert (
        git(host.origin, "for-each-ref", "--format=%(refname)", "refs/gitmodel/lifecycle") == done["record"]
    )
    seen = json.loads(host.ok("history", "support", "--drills", "--json").stdout)
    assert [(d["env"], d["version"], d["to"], d["passed"]) for d in seen["drills"]] == [
        ("staging", "v2.1.0", "v2.0.0", True)
    ]
    listed = json.loads(host.ok("list", "--json").stdout)["models"]
    support = next(m for m in listed if m["name"] == "support")
    assert support["drills"]["staging"]["passed"] is True
    assert "LAST DRILL" in host.ok("list").stdout
    events = json.loads(host.ok("history", "support", "--env", "staging", "--json").stdout)["events"]
    assert [(e["action"], e["version"]) for e in events[-2:]] == [
        ("rollback", "v2.0.0"),
        ("rollback", "v2.1.0"),
    ]


def test_a_drill_slower_than_the_limit_exits_1(host: Host, server: ServerProcess) -> None:
    _staging_serves_two(host, server)
    slow = host.run(
        "drill", "staging", "support", "--root", str(host.root), *_flags(server), "--limit", "0.001"
    )
    assert slow.exit_code == 1, (slow.stdout, slow.stderr)
    assert "drill TOO SLOW" in slow.stdout
    seen = json.loads(host.ok("history", "support", "--drills", "--json").stdout)["drills"]
    assert [d["passed"] for d in seen] == [False]


def test_production_is_refused_without_i_mean_it(
    host: Host, server: ServerProcess, fs_guard: Callable[..., Guard]
) -> None:
    host.promote("v2.0.0")
    guard = fs_guard(host.root, host.origin, host.clone)
    err = host.fails(1, "drill", "production", "support", "--root", str(host.root), *_flags(server)).stderr
    assert "--i-mean-it" in err
    guard.assert_only()
