"""The canary on a host: deploy and the agent materialise it, write canary.json, reload.

Real parts: the registry's canary tags pushed from a dev clone to a bare origin, the host's
own clone and DVC cache, and `gitmodel serve` as a process routing by X-Route-Key.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from plugin.host import FollowServer, Host, md5_of, object_path, sha256, staging_empty, wait_until
from plugin.server import ServerProcess

from gitmodel import hostlayout
from gitmodel.host import Agent, canary_sync, fs, journal, retention, rollback_local
from gitmodel.hostlayout import CanarySplit
from gitmodel.refs import Version
from gitmodel.rollout.routing import route, salt_for

SALT = salt_for("support", "production", "v1.1.0")
KEYS = [f"user-{i}" for i in range(60)]


@pytest.fixture
def server(host: Host, tmp_path: Path) -> Iterator[ServerProcess]:
    host.root.mkdir()  # the operator creates the root before starting the server
    proc = ServerProcess(host.root, "support", workdir=tmp_path).wait_ready()
    yield proc
    proc.stop()


def flags(server: ServerProcess) -> list[str]:
    return ["--reload-url", f"{server.url}/reload", "--info-url", f"{server.url}/info"]


def deploy(host: Host, server: ServerProcess | FollowServer) -> dict[str, Any]:
    extra = server.flags() if isinstance(server, FollowServer) else flags(server)
    out = host.ok("deploy", "production", "support", "--root", str(host.root), "--json", *extra).stdout
    return json.loads(out)["deployed"][0]  # type: ignore[no-any-return]


def dev(host: Host, *args: str) -> None:
    """A registry move made from another clone and pushed to origin."""
    host.ok(*args, "--push", cwd=host.dev)


def stable_then_canary(host: Host, server: ServerProcess | FollowServer, percent: int = 30) -> None:
    """v1.0.0 deployed in production; v1.1.0 through staging; a canary of it started on origin."""
    host.promote("v1.0.0")
    deploy(host, server)
    dev(host, "promote", "support", "v1.1.0", "staging")
    dev(host, "canary", "start", "support", "v1.1.0", "production", "--percent", str(percent))


def info(server: ServerProcess) -> dict[str, Any]:
    return server.get("/info").json()  # type: ignore[no-any-return]


def ask(server: ServerProcess, key: str) -> tuple[str, str]:
    req = urllib.request.Request(server.url + "/v1/completions", data=b'{"prompt": "hi"}', method="POST")
    req.add_header("X-Route-Key", key)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.headers["X-Gitmodel-Version"], r.headers["X-Gitmodel-Role"]


def expected(key: str, percent: float) -> str:
    return "v1.1.0" if route(key, percent, SALT) == "canary" else "v1.0.0"


def status(host: Host, server: ServerProcess) -> dict[str, Any]:
    out = host.ok(
        "status",
        "production",
        "support",
        "--root",
        str(host.root),
        "--json",
        "--info-url",
        f"{server.url}/info",
    ).stdout
    return json.loads(out)["models"][0]  # type: ignore[no-any-return]


def canary_records(host: Host) -> list[dict[str, Any]]:
    return [r for r in host.journal() if r.get("op") == "canary"]


def vdir(host: Host, version: str) -> Path:
    return hostlayout.versions_dir(host.root, "support") / version


# --- deploy -------------------------------------------------------------------------------


def test_canary_start_materialises_it_and_serve_routes_keys_to_it(host: Host, server: ServerProcess) -> None:
    stable_then_canary(host, server)
    done = deploy(host, server)
    assert done["action"] == "unchanged" and done["version"] == "v1.0.0"  # the stable is untouched
    can = done["canary"]
    assert (can["action"], can["version"], can["percent"], can["downloaded"]) == ("on", "v1.1.0", 30.0, 1)
    assert f"{server.url}/info reports canary v1.1.0 at 30%" in can["verified"]
    # both versions complete on disk; `current` is still the stable
    assert host.current() == "v1.0.0"
    for version in ("v1.0.0", "v1.1.0"):
        manifest = hostlayout.read_manifest(vdir(host, version))
        art = vdir(host, version) / manifest["artifact"]
        assert sha256(art) == manifest["files"][manifest["artifact"]]
    assert hostlayout.read_canary(host.root, "support") == CanarySplit(
        "v1.1.0", 30.0, SALT, "production", "v1.0.0"
    )
    got = info(server)
    assert got["version"] == "v1.0.0" and got["roles"] == {"stable": "v1.0.0", "canary": "v1.1.0"}
    assert got["canary"]["version"] == "v1.1.0" and got["canary"]["percent"] == 30.0
    assert got["canary"]["content_hash"] == md5_of(host, "v1.1.0")
    routed = {key: ask(server, key)[0] for key in KEYS}
    assert routed == {key: expected(key, 30) for key in KEYS}
    assert set(routed.values()) == {"v1.0.0", "v1.1.0"}
    steps = [r["step"] for r in canary_records(host)]
    assert steps == ["fetched", "verified", "materialised", "reloaded", "canary-on"]
    on = canary_records(host)[-1]
    assert on["tag"].startswith("support#production-canary#") and on["stable"] == "v1.0.0"
    row = status(host, server)
    assert row["canary"] == {
        "pointer": {"version": "v1.1.0", "percent": 30.0},
        "host": {"version": "v1.1.0", "percent": 30.0},
        "serving": {"version": "v1.1.0", "percent": 30.0},
    }
    assert row["in_sync"], row["drift"]
    # converged: a second deploy does nothing at all
    lines = len(host.journal())
    again = deploy(host, server)
    assert again["canary"]["action"] == "unchanged" and len(host.journal()) == lines


def test_canary_set_updates_the_percent_without_a_download(host: Host, server: ServerProcess) -> None:
    stable_then_canary(host, server, percent=20)
    deploy(host, server)
    inside = [k for k in KEYS if expected(k, 20) == "v1.1.0"]
    dev(host, "canary", "set", "support", "production", "--percent", "60")
    can = deploy(host, server)["canary"]
    assert (can["action"], can["percent"], can["previous"]) == ("reweighted", 60.0, "v1.1.0")
    assert can["downloaded"] == 0 and can["mode"] == "hot"
    assert hostlayout.read_canary(host.root, "support").percent == 60.0  # type: ignore[union-attr]
    assert info(server)["canary"]["percent"] == 60.0
    routed = {key: ask(server, key)[0] for key in KEYS}
    assert routed == {key: expected(key, 60) for key in KEYS}
    assert all(routed[k] == "v1.1.0" for k in inside)  # a user in the canary at 20% stays in it


def test_canary_abort_removes_canary_json_and_the_stable_keeps_serving(
    host: Host, server: ServerProcess
) -> None:
    stable_then_canary(host, server)
    deploy(host, server)
    dev(host, "canary", "abort", "support", "production", "--reason", "answers regressed")
    done = deploy(host, server)
    assert done["action"] == "unchanged"
    assert (done["canary"]["action"], done["canary"]["version"], done["canary"]["previous"]) == (
        "off",
        None,
        "v1.1.0",
    )
    assert not hostlayout.canary_path(host.root, "support").exists()
    got = info(server)
    assert got["canary"] is None and got["roles"] == {"stable": "v1.0.0"} and host.current() == "v1.0.0"
    assert {ask(server, key)[0] for key in KEYS} == {"v1.0.0"}
    assert (done["canary"]["why"], done["canary"]["stable"]) == ("canary-abort", "v1.0.0")
    off = canary_records(host)[-1]
    assert off["step"] == "canary-off" and off["why"] == "canary-abort" and off["version"] == "v1.1.0"
    row = status(host, server)
    assert row["canary"] is None and row["in_sync"]
    assert deploy(host, server).get("canary") is None  # nothing wanted, nothing done


def test_canary_promote_swaps_current_then_ends_the_canary(host: Host, server: ServerProcess) -> None:
    stable_then_canary(host, server)
    deploy(host, server)
    dev(host, "canary", "promote", "support", "production")
    done = deploy(host, server)
    assert (done["action"], done["version"], done["previous"]) == ("deployed", "v1.1.0", "v1.0.0")
    assert done["mode"] == "hot" and done["downloaded"] == 0  # the canary's directory was ready
    assert (done["canary"]["action"], done["canary"]["why"], done["canary"]["stable"]) == (
        "off",
        "canary-end",
        "v1.1.0",
    )
    assert host.current() == "v1.1.0" and not hostlayout.canary_path(host.root, "support").exists()
    got = info(server)
    assert got["version"] == "v1.1.0" and got["canary"] is None
    assert {ask(server, key)[0] for key in KEYS} == {"v1.1.0"}
    off = canary_records(host)[-1]
    assert off["why"] == "canary-end" and off["stable"] == "v1.1.0"
    # the stable swap came before canary.json went: no canary user was sent back to v1.0.0
    steps = [(r["op"], r["step"]) for r in host.journal()]
    assert steps.index(("deploy", "swapped")) < steps.index(("canary", "canary-off"))


def test_retention_never_removes_the_canary(host: Host, follow: FollowServer) -> None:
    cfg = host.clone / "gitmodel.yaml"
    cfg.write_text(cfg.read_text().replace("hot_versions: 3", "hot_versions: 1"))
    host.promote("v1.0.0")
    deploy(host, follow)
    dev(host, "promote", "support", "v1.1.0", "staging")
    dev(host, "promote", "support", "v2.1.0", "staging")
    dev(host, "canary", "start", "support", "v2.1.0", "production", "--percent", "10")
    deploy(host, follow)
    assert sorted(p.name for p in vdir(host, "x").parent.iterdir()) == ["v1.0.0", "v2.1.0"]  # both served
    dev(host, "promote", "support", "v1.1.0", "production")  # the stable moves under the canary
    done = deploy(host, follow)
    assert done["version"] == "v1.1.0" and done["retired"] == ["v1.0.0"]
    assert sorted(p.name for p in vdir(host, "x").parent.iterdir()) == ["v1.1.0", "v2.1.0"]
    assert hostlayout.read_canary(host.root, "support").version == "v2.1.0"  # type: ignore[union-attr]
    dev(host, "canary", "abort", "support", "production")
    done = deploy(host, follow)
    assert done["canary"]["action"] == "off" and done["retired"] == ["v2.1.0"]  # no longer served
    assert [p.name for p in vdir(host, "x").parent.iterdir()] == ["v1.1.0"]


@pytest.mark.parametrize(
    ("hot", "current", "pinned", "keep", "gone"),
    [
        (["v1.0.0", "v1.1.0", "v2.0.0"], "v2.0.0", ["v1.0.0"], 1, ["v1.1.0"]),
        (["v1.0.0", "v1.1.0", "v2.0.0"], "v1.0.0", ["v2.0.0"], 3, []),
        (["v1.0.0", "v1.1.0", "v2.0.0", "v2.1.0"], "v1.0.0", ["v2.1.0"], 3, ["v1.1.0"]),
        (["v1.0.0", "v2.0.0"], None, ["v1.0.0"], 1, ["v2.0.0"]),
    ],
)
def test_retention_counts_and_keeps_pinned_versions(
    hot: list[str], current: str | None, pinned: list[str], keep: int, gone: list[str]
) -> None:
    records = [{"step": "done", "version": v} for v in ("v1.0.0", "v1.1.0", "v2.0.0", "v2.1.0")]
    got = retention.expired(
        [Version.parse(v) for v in hot],
        Version.parse(current) if current else None,
        keep,
        records,
        [Version.parse(v) for v in pinned],
    )
    assert [str(v) for v in got] == gone


def test_deploy_status_and_agent_text_show_the_canary(host: Host, server: ServerProcess) -> None:
    root = ["--root", str(host.root)]
    look = ["status", "production", *root, "--info-url", f"{server.url}/info"]
    stable_then_canary(host, server)
    table = host.ok(*look).stdout.splitlines()
    assert table[0].split()[-2:] == ["CANARY", "STATE"]
    assert "(v1.1.0 30% wanted)" in table[1] and table[1].endswith("DRIFT")
    agent = host.ok("agent", "production", *root, *flags(server), "--rounds", "2", "--interval", "0.1")
    assert "canary of support in production: v1.1.0 started at 30%" in agent.stderr
    assert agent.stderr.rstrip().endswith("stopped")
    table = host.ok(*look).stdout.splitlines()
    assert " v1.1.0 30% " in table[1] and table[1].endswith("in sync")
    dev(host, "canary", "set", "support", "production", "--percent", "50")
    out = host.ok("deploy", "production", "support", *root, *flags(server)).stdout
    assert "is already served" in out and "nothing to do" not in out
    assert "  canary    v1.1.0 now at 50% (" in out
    dev(host, "canary", "promote", "support", "production")
    out = host.ok("deploy", "production", "support", *root, *flags(server)).stdout
    assert "deployed support v1.1.0" in out
    assert "  canary    v1.1.0 ended (promoted): v1.1.0 serves all traffic" in out
    assert "CANARY" not in host.ok(*look).stdout  # no canary anywhere: the usual table


# --- refusals -----------------------------------------------------------------------------


def test_canary_with_bytes_missing_is_refused_and_the_stable_keeps_serving(
    host: Host, server: ServerProcess
) -> None:
    remote = host.private_remote()
    host.promote("v1.0.0")
    deploy(host, server)
    dev(host, "promote", "support", "v1.1.0", "staging")
    object_path(remote, md5_of(host, "v1.1.0")).unlink()
    dev(host, "canary", "start", "support", "v1.1.0", "production", "--percent", "30")
    err = host.fails(1, "deploy", "production", "support", "--root", str(host.root), *flags(server)).stderr
    assert "the DVC remote lacks 1 object(s) of support v1.1.0" in err
    assert "no canary on this host: v1.0.0 (`current`) serves all traffic" in err
    assert not hostlayout.canary_path(host.root, "support").exists() and not vdir(host, "v1.1.0").exists()
    assert staging_empty(host) and host.current() == "v1.0.0"
    got = info(server)
    assert got["version"] == "v1.0.0" and got["canary"] is None
    last = host.journal()[-1]
    assert last["op"] == "canary" and last["step"] == "canary-failed" and last["exit"] == 1
    row = status(host, server)
    assert not row["in_sync"] and row["canary"]["host"] is None
    assert any("production-canary is v1.1.0 at 30% but canary.json holds nothing" in n for n in row["drift"])


def test_a_reload_that_fails_puts_canary_json_back(host: Host, follow: FollowServer) -> None:
    stable_then_canary(host, follow)
    follow.mode = "broken"
    err = host.fails(1, "deploy", "production", "support", "--root", str(host.root), *follow.flags()).stderr
    assert "support canary v1.1.0 at 30% not confirmed: reload URL" in err and "HTTP 500" in err
    assert not hostlayout.canary_path(host.root, "support").exists()  # as before the attempt
    assert vdir(host, "v1.1.0").is_dir()  # complete, kept: the next try downloads nothing
    assert host.journal()[-1]["step"] == "canary-failed"
    follow.mode = "ok"
    can = deploy(host, follow)["canary"]
    assert (can["action"], can["downloaded"]) == ("on", 0)
    assert "does not report canaries" in can["verified"]  # the stub's /info has no canary field
    assert hostlayout.read_canary(host.root, "support").version == "v1.1.0"  # type: ignore[union-attr]


def test_a_kill_between_canary_json_and_the_reload_is_finished_by_the_next_run(
    host: Host, server: ServerProcess
) -> None:
    stable_then_canary(host, server)
    marker = host.root.parent / "paused"
    proc = host.deploy_process(
        *flags(server),
        env_extra={"GITMODEL_TEST_PAUSE_AT": "canary-written", "GITMODEL_TEST_PAUSE_MARKER": str(marker)},
    )
    try:
        wait_until(marker.exists, timeout=60)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    # canary.json names only a complete, verified directory; the server has not reloaded yet
    split = hostlayout.read_canary(host.root, "support")
    assert split is not None and split.version == "v1.1.0"
    manifest = hostlayout.read_manifest(vdir(host, "v1.1.0"))
    assert sha256(vdir(host, "v1.1.0") / "support.gguf") == manifest["files"]["support.gguf"]
    assert info(server)["canary"] is None
    row = status(host, server)
    note = "the server routes to no canary but canary.json holds v1.1.0 at 30%"
    assert any(note in n for n in row["drift"])
    can = deploy(host, server)["canary"]
    assert (can["action"], can["downloaded"]) == ("on", 0)
    assert info(server)["canary"]["version"] == "v1.1.0"


# --- the agent -----------------------------------------------------------------------------


def test_agent_once_picks_up_a_canary_started_from_another_clone(host: Host, server: ServerProcess) -> None:
    agent = ["agent", "production", "support", "--root", str(host.root), *flags(server), "--once"]
    host.promote("v1.0.0")
    host.ok(*agent)
    assert info(server)["version"] == "v1.0.0"
    dev(host, "promote", "support", "v1.1.0", "staging")
    dev(host, "canary", "start", "support", "v1.1.0", "production", "--percent", "30")
    result = host.ok(*agent)
    assert "canary of support in production: v1.1.0 started at 30%" in result.stderr
    assert info(server)["canary"]["version"] == "v1.1.0" and host.current() == "v1.0.0"
    lines = len(host.journal())
    host.ok(*agent)
    assert len(host.journal()) == lines  # converged: the next look does nothing


def test_agent_updates_the_canary_without_undoing_a_local_rollback(host: Host, follow: FollowServer) -> None:
    for version in ("v1.0.0", "v1.1.0"):
        host.promote(version)
        deploy(host, follow)
    rollback_local(
        host.clone,
        "production",
        "support",
        host.root,
        reload_url=f"{follow.url}/reload",
        info_url=f"{follow.url}/info",
    )
    dev(host, "promote", "support", "v2.1.0", "staging")
    dev(host, "canary", "start", "support", "v2.1.0", "production", "--percent", "5")
    host.ok("agent", "production", "--root", str(host.root), *follow.flags(), "--once")
    assert host.current() == "v1.0.0" and follow.version == "v1.0.0"  # the local rollback stands
    assert hostlayout.read_canary(host.root, "support").version == "v2.1.0"  # type: ignore[union-attr]


def test_agent_loop_follows_canary_start_set_and_abort(host: Host, server: ServerProcess) -> None:
    stop = threading.Event()
    worker = Agent(
        host.clone,
        "production",
        host.root,
        interval=0.2,
        options={"reload_url": f"{server.url}/reload", "info_url": f"{server.url}/info"},
        should_stop=stop.is_set,
    )
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(worker.run(rounds=600)), daemon=True)
    thread.start()
    try:
        host.promote("v1.0.0")
        wait_until(lambda: info(server).get("version") == "v1.0.0", timeout=30)
        dev(host, "promote", "support", "v1.1.0", "staging")
        dev(host, "canary", "start", "support", "v1.1.0", "production", "--percent", "30")
        wait_until(lambda: (info(server)["canary"] or {}).get("percent") == 30.0, timeout=30)
        dev(host, "canary", "set", "support", "production", "--percent", "50")
        wait_until(lambda: (info(server)["canary"] or {}).get("percent") == 50.0, timeout=30)
        dev(host, "canary", "abort", "support", "production")
        wait_until(lambda: info(server)["canary"] is None, timeout=30)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive() and codes == [0]
    assert not hostlayout.canary_path(host.root, "support").exists() and host.current() == "v1.0.0"
    steps = [r["step"] for r in canary_records(host) if r["step"].startswith("canary-")]
    assert steps == ["canary-on", "canary-on", "canary-off"]


def test_agent_rounds_bound_the_loop(host: Host, follow: FollowServer) -> None:
    host.promote("v1.0.0")
    worker = Agent(
        host.clone,
        "production",
        host.root,
        interval=0.1,
        options={"reload_url": f"{follow.url}/reload", "info_url": f"{follow.url}/info"},
    )
    assert worker.run(rounds=3) == 0
    assert host.current() == "v1.0.0"


# --- pure parts ----------------------------------------------------------------------------


def _split(percent: float = 30.0) -> CanarySplit:
    return CanarySplit("v1.1.0", percent, SALT, "production", "v1.0.0")


def _on(split: CanarySplit) -> dict[str, Any]:
    return {
        "op": "canary",
        "step": journal.CANARY_ON,
        "version": split.version,
        "percent": split.percent,
        "salt": split.salt,
        "env": split.env,
        "stable": split.stable,
    }


@pytest.mark.parametrize(
    ("file", "records", "want", "is_pending"),
    [
        (None, [], None, False),  # never had a canary
        (None, [], _split(), True),  # a canary to start
        (_split(), [], _split(), True),  # written but never confirmed (a kill before the reload)
        (_split(), [_on(_split())], _split(), False),  # confirmed
        (_split(), [_on(_split())], _split(50), True),  # reweighted in the registry
        (_split(), [_on(_split())], None, True),  # ended in the registry
        (None, [_on(_split())], None, True),  # removed, the reload not confirmed
        (None, [_on(_split()), {"step": journal.CANARY_OFF}], None, False),
        (None, [{"step": journal.CANARY_FAILED}], None, True),  # a failure is retried
    ],
)
def test_pending(
    tmp_path: Path,
    file: CanarySplit | None,
    records: list[dict[str, Any]],
    want: CanarySplit | None,
    is_pending: bool,
) -> None:
    root = tmp_path / "root"
    (hostlayout.version_dir(root, "support", "v1.1.0")).mkdir(parents=True)
    hostlayout.manifest_path(hostlayout.version_dir(root, "support", "v1.1.0")).write_text("{}")
    fs.write_canary(root, "support", file)
    assert canary_sync.pending(root, "support", want, records) is is_pending


def test_pending_when_the_canary_directory_is_gone_or_the_file_is_bad(tmp_path: Path) -> None:
    root = tmp_path / "root"
    hostlayout.model_root(root, "support").mkdir(parents=True)
    fs.write_canary(root, "support", _split())
    assert canary_sync.pending(root, "support", _split(), [_on(_split())])  # no versions/v1.1.0
    hostlayout.canary_path(root, "support").write_text("{not json")
    assert canary_sync.pending(root, "support", None, [])
