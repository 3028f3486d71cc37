"""`gitmodel serve` with a canary: routing by header, reloads of canary.json, metrics by version."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from plugin.server import ServerProcess, two_gguf_versions

from gitmodel import hostlayout
from gitmodel.errors import UsageError
from gitmodel.host import fs
from gitmodel.host.canary_sync import split_for
from gitmodel.hostlayout import CanarySplit
from gitmodel.rollout.routing import RoutingState, route, salt_for
from gitmodel.server.canary_routing import KeyRouter

SALT = salt_for("support", "production", "v1.1.0")


@pytest.fixture
def host(tmp_path: Path) -> Path:
    return two_gguf_versions(tmp_path / "host")


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Any]:
    started: list[ServerProcess] = []

    def run(root: Path, *args: str) -> ServerProcess:
        proc = ServerProcess(root, "support", *args, workdir=tmp_path)
        started.append(proc)
        return proc.wait_ready()

    yield run
    for proc in started:
        proc.stop()


def ask(server: ServerProcess, key: str | None, header: str = "X-Route-Key") -> tuple[str, str]:
    req = urllib.request.Request(server.url + "/v1/completions", data=b'{"prompt": "hi"}', method="POST")
    if key is not None:
        req.add_header(header, key)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())["version"], r.headers["X-Gitmodel-Role"]


def loaded_roles(server: ServerProcess) -> dict[tuple[str, str], float]:
    from prometheus_client.parser import text_string_to_metric_families

    text = server.get("/metrics").body.decode()
    return {
        (s.labels["version"], s.labels["role"]): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == "gitmodel_model_loaded"
    }


def requests_by_version(server: ServerProcess) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    text = server.get("/metrics").body.decode()
    return {
        s.labels["version"]: s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == "gitmodel_requests_total"
    }


def test_header_routes_each_key_as_the_library_does(host: Path, start: Any) -> None:
    fs.write_canary(host, "support", CanarySplit("v1.1.0", 30, SALT, "production", "v1.0.0"))
    server = start(host)
    keys = [f"user-{i}" for i in range(120)]
    got = {k: ask(server, k) for k in keys}
    for k in keys:
        expected = "v1.1.0" if route(k, 30, SALT) == "canary" else "v1.0.0"
        assert got[k] == (expected, "canary" if expected == "v1.1.0" else "stable"), k
    assert 20 <= sum(v == "v1.1.0" for v, _ in got.values()) <= 55  # ~36 expected
    assert ask(server, None) == ("v1.0.0", "stable")  # no key: stable
    assert ask(server, keys[0]) == got[keys[0]]  # sticky
    info = server.get("/info").json()
    assert info["version"] == "v1.0.0" and info["roles"] == {"stable": "v1.0.0", "canary": "v1.1.0"}
    assert info["canary"]["percent"] == 30 and info["canary"]["route_header"] == "X-Route-Key"
    assert server.get("/health").json()["roles"] == {"stable": "v1.0.0", "canary": "v1.1.0"}
    counts = requests_by_version(server)
    canary_n = sum(v == "v1.1.0" for v, _ in got.values()) + (got[keys[0]][0] == "v1.1.0")
    assert counts == {"v1.0.0": 122 - canary_n, "v1.1.0": canary_n}
    assert loaded_roles(server) == {("v1.0.0", "stable"): 1, ("v1.1.0", "canary"): 1}
    assert "canary v1.1.0 at 30% of keys" in server.stderr()


def test_reload_reweights_keeps_canary_users_and_ends(host: Path, start: Any) -> None:
    fs.write_canary(host, "support", CanarySplit("v1.1.0", 10, SALT))
    server = start(host, "--route-header", "X-User")
    keys = [f"u{i}" for i in range(60)]
    before = {k for k in keys if ask(server, k, "X-User")[0] == "v1.1.0"}
    fs.write_canary(host, "support", CanarySplit("v1.1.0", 50, SALT))
    resp = server.post("/reload").json()
    assert resp["status"] == "unchanged" and resp["canary"] == {
        "status": "reweighted",
        "version": "v1.1.0",
        "percent": 50,
    }
    after = {k for k in keys if ask(server, k, "X-User")[0] == "v1.1.0"}
    assert before <= after and len(after) > len(before)  # monotone: nobody leaves the canary
    fs.write_canary(host, "support", None)
    resp = server.post("/reload").json()
    assert resp["canary"] == {"status": "ended", "version": None, "previous": "v1.1.0"}
    assert {ask(server, k, "X-User")[0] for k in keys} == {"v1.0.0"}
    assert server.get("/info").json()["canary"] is None
    assert loaded_roles(server) == {("v1.0.0", "stable"): 1}
    assert "v1.1.0" in requests_by_version(server)  # its counters stay for the monitor


def test_a_canary_that_fails_to_load_costs_stable_nothing(host: Path, start: Any) -> None:
    fs.write_canary(host, "support", CanarySplit("v1.2.0", 50, SALT))  # not on this host
    server = start(host)
    assert {ask(server, f"k{i}")[0] for i in range(20)} == {"v1.0.0"}
    assert "canary refused" in server.stderr()
    (host / "support" / "canary.json").write_text("{not json")
    resp = server.post("/reload")
    assert resp.status == 200 and resp.json()["canary"]["status"] == "refused"
    assert "not valid JSON" in resp.json()["canary"]["error"]
    fs.write_canary(host, "support", CanarySplit("v1.1.0", 100, SALT))
    assert server.post("/reload").json()["canary"]["status"] == "reloaded"
    assert ask(server, "k1") == ("v1.1.0", "canary")


def test_fault_injection_applies_to_the_canary_version(host: Path, start: Any) -> None:
    fs.write_canary(host, "support", CanarySplit("v1.1.0", 100, SALT))
    server = start(host, "--fault", "v1.1.0:error_rate=1")
    req = urllib.request.Request(server.url + "/v1/completions", data=b'{"prompt": "hi"}', method="POST")
    req.add_header("X-Route-Key", "anyone")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 500
    assert ask(server, None) == ("v1.0.0", "stable")


# --- pure parts ---------------------------------------------------------------------------


def test_key_router_only_routes_to_the_loaded_canary() -> None:
    router = KeyRouter("X-Route-Key")
    loaded: dict[str, Any] = {"stable": object(), "canary": type("LM", (), {"version": "v1.1.0"})()}
    assert router({"x-route-key": "a"}, loaded) == "stable"  # no split yet
    router.split = CanarySplit("v1.1.0", 100, SALT)
    assert router({"x-route-key": "a"}, loaded) == "canary"
    assert router({}, loaded) == "stable"
    router.split = CanarySplit("v1.2.0", 100, SALT)  # split for a version not loaded (mid-reload)
    assert router({"x-route-key": "a"}, loaded) == "stable"


def test_canary_file_round_trip_and_refusals(tmp_path: Path) -> None:
    assert hostlayout.read_canary(tmp_path, "support") is None
    (tmp_path / "support").mkdir()
    split = split_for(RoutingState("support", "production", "v1.0.0", "v1.1.0", 5.0, SALT))
    assert split is not None
    fs.write_canary(tmp_path, "support", split)
    assert hostlayout.read_canary(tmp_path, "support") == split
    assert not list((tmp_path / "support").glob(".*tmp"))
    for bad, words in [
        ({"version": "1.1", "percent": 5, "salt": "s"}, "'version'"),
        ({"version": "v1.1.0", "percent": 101, "salt": "s"}, "'percent'"),
        ({"version": "v1.1.0", "percent": 5}, "'salt'"),
        ([], "JSON object"),
    ]:
        (tmp_path / "support" / "canary.json").write_text(json.dumps(bad))
        with pytest.raises(UsageError, match=words):
            hostlayout.read_canary(tmp_path, "support")
    fs.write_canary(tmp_path, "support", None)
    assert hostlayout.read_canary(tmp_path, "support") is None
    assert split_for(RoutingState("support", "production", "v1.0.0", None, 0, "")) is None
