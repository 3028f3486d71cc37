"""The seeds' verification, end to end with the reference server as a separate process:
deploy v2.0.0, /info says v2.0.0; deploy v2.1.0, /info switches; roll back, /info says
v2.0.0 again within 30 s; the journal and `history` record all three."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from plugin.host import Host
from plugin.server import ServerProcess

from gitmodel.host import rollback_local


@pytest.fixture
def server(host: Host, tmp_path: Path):  # type: ignore[no-untyped-def]
    host.root.mkdir()  # the operator creates the root before starting the server
    proc = ServerProcess(host.root, "support", workdir=tmp_path).wait_ready()
    yield proc
    proc.stop()


def _flags(server: ServerProcess) -> list[str]:
    return ["--reload-url", f"{server.url}/reload", "--info-url", f"{server.url}/info"]


def _info(server: ServerProcess) -> dict:  # type: ignore[type-arg]
    return json.loads(server.get("/info").body)


def test_deploy_switch_rollback_with_gitmodel_serve(host: Host, server: ServerProcess) -> None:
    deploy = ["deploy", "production", "support", "--root", str(host.root), *_flags(server)]
    host.promote("v2.0.0")
    host.ok(*deploy)
    assert _info(server)["version"] == "v2.0.0"
    host.promote("v2.1.0")
    host.ok(*deploy)
    info = _info(server)
    assert info["version"] == "v2.1.0" and info["quantization"] == "q4_k_m"
    assert info["gguf"]["quantization"] == "Q4_K_M"  # the server read the deployed GGUF header
    start = time.monotonic()
    host.ok("rollback", "production", "support", "--push", "--reason", "answers regressed")
    host.ok(*deploy)
    elapsed = time.monotonic() - start
    assert _info(server)["version"] == "v2.0.0"
    assert elapsed < 30, elapsed
    done = [r for r in host.journal() if r["step"] == "done"]
    assert [(r["op"], r["version"]) for r in done] == [
        ("deploy", "v2.0.0"),
        ("deploy", "v2.1.0"),
        ("rollback", "v2.0.0"),
    ]
    history = json.loads(host.ok("history", "support", "--env", "production", "--json").stdout)
    moves = [(e["action"], e["version"]) for e in history["events"]]
    assert moves[-3:] == [("promote", "v2.0.0"), ("promote", "v2.1.0"), ("rollback", "v2.0.0")]
    print(f"\nrollback until /info reported v2.0.0: {elapsed:.2f} s")


def test_local_rollback_with_gitmodel_serve(host: Host, server: ServerProcess) -> None:
    deploy = ["deploy", "production", "support", "--root", str(host.root), *_flags(server)]
    for version in ("v2.0.0", "v2.1.0"):
        host.promote(version)
        host.ok(*deploy)
    done = rollback_local(
        host.clone,
        "production",
        "support",
        host.root,
        reload_url=f"{server.url}/reload",
        info_url=f"{server.url}/info",
    )
    assert _info(server)["version"] == "v2.0.0" == str(done.version)
    assert done.seconds < 5
