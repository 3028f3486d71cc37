"""End to end with real llama-server: a registry of tiny llama models, `gitmodel gateway` from
the host file, `gitmodel deploy`/`rollback` through it; answers change and change back, a
model llama.cpp refuses is reverted in seconds, and a prober sees no failed request."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from plugin.gateway import Prober, Reply, request
from plugin.host import Host
from plugin.registry import EVIDENCE
from plugin.server import free_port, wait_for

from gitmodel.demo import write_llama_gguf

pytestmark = pytest.mark.slow

MODEL = "chat"
PASS = 'checks:\n  - prompt: "hello"\n    min_length: 1\n    max_tokens: 4\n'
FAIL = 'checks:\n  - prompt: "hello"\n    exact: " goodbye"\n    max_tokens: 4\n'
SEEDS = {  # version -> seed, accuracy, llama.cpp refuses it, its checks.yaml
    "v1.0.0": (1, 0.90, False, None),
    "v1.1.0": (2, 0.91, False, PASS),
    "v1.2.0": (3, 0.92, True, PASS),
    "v1.3.0": (4, 0.93, False, FAIL),
}


def register_llama_versions(host: Host) -> None:
    """chat v1.0.0, v1.1.0 (checked), v1.2.0 a file llama.cpp refuses, v1.3.0 failing its check."""
    for version, (seed, accuracy, broken, checks) in SEEDS.items():
        src = host.dev / f"{MODEL}.gguf"
        write_llama_gguf(src, seed=seed, broken=broken)
        if checks:
            (host.dev / "models" / MODEL).mkdir(parents=True, exist_ok=True)
            (host.dev / "models" / MODEL / "checks.yaml").write_text(checks)
        meta = host.dev / "meta.yaml"
        meta.write_text(f"base_model: tiny-llama\nmetrics: {{accuracy: {accuracy}}}\n" + EVIDENCE)
        host.ok(
            "register", MODEL, str(src), "--version", version, "--meta", str(meta), "--push", cwd=host.dev
        )


@pytest.fixture
def gateway(
    host: Host, llama_server_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """`gitmodel gateway` as a process, configured only by the host file (as on a real host)."""
    host.root.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    control = f"{url}/-/gitmodel/"
    backend = {"kind": "llama-cpp", "binary": str(llama_server_bin), "ports": [free_port(), free_port()]}
    config = {
        "root": str(host.root),
        "gateway": {"listen": f"127.0.0.1:{port}", "decision_log": str(tmp_path / "decisions.jsonl")},
        "models": {
            MODEL: {
                "backend": {**backend, "args": ["-c", "256"]},
                "reload": {"url": f"{control}reload?model={MODEL}"},
                "info_url": f"{control}info?model={MODEL}",
                "timeouts": {"health": 10},
            }
        },
    }
    path = tmp_path / "host.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    monkeypatch.setenv("GITMODEL_HOST_CONFIG", str(path))
    err = (tmp_path / "gateway.err").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "gitmodel", "gateway"], stderr=err, env=dict(os.environ))
    try:
        wait_for(lambda: _status(url + "/v1/models") == 200, timeout=20)
        yield url
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        proc.kill()
        proc.wait()
        err.close()
    lines = (tmp_path / "gateway.err").read_text().splitlines()
    assert lines[-1] == "gitmodel gateway: stopped (SIGTERM)", lines[-5:]


def _status(url: str) -> int:
    try:
        return request("GET", url, timeout=1).status
    except OSError:
        return 0


def ask(url: str) -> Reply:
    body = {"model": MODEL, "prompt": "hello", "max_tokens": 6, "temperature": 0}
    return request("POST", url + "/v1/completions", body, {"X-Route-Key": "prober"}, timeout=10)


def text(url: str) -> tuple[str, str]:
    reply = ask(url)
    assert reply.status == 200, reply.body
    return reply.headers["X-Gitmodel-Version"], reply.json()["choices"][0]["text"]


def test_deploy_v1_v2_refused_and_rollback_through_the_gateway_with_llama_server(
    host: Host, gateway: str
) -> None:
    register_llama_versions(host)
    deploy = ("deploy", "production", MODEL, "--root", str(host.root))
    host.promote("v1.0.0", model=MODEL)
    host.ok(*deploy)
    v1 = text(gateway)
    assert v1[0] == "v1.0.0" and v1[1].strip()
    info = request("GET", f"{gateway}/-/gitmodel/info?model={MODEL}").json()
    pids = [info["pid"]]

    prober = Prober(lambda: ask(gateway), interval=0.05)  # 20 requests a second
    host.promote("v1.1.0", model=MODEL)
    host.ok(*deploy)
    v2 = text(gateway)
    assert v2[0] == "v1.1.0" and v2[1] != v1[1]  # another model answers
    pids.append(request("GET", f"{gateway}/-/gitmodel/info?model={MODEL}").json()["pid"])

    host.promote("v1.2.0", model=MODEL)
    started = time.monotonic()
    refused = host.fails(1, *deploy)
    took = time.monotonic() - started
    assert "exited with code 1" in refused.stderr and "reverted `current` to v1.1.0" in refused.stderr
    assert took < 20, took  # the early exit refused it, not the gateway's 30 s start timeout
    assert text(gateway) == v2

    host.promote("v1.3.0", model=MODEL)  # llama.cpp loads it, its own check refuses it
    refused = host.fails(1, *deploy)
    assert (
        "v1.3.0 failed the functional check: 1 of 1 checks failed: check 1: expected exactly"
        in refused.stderr
    )
    checked = [(r["version"], r["passed"]) for r in host.journal(MODEL) if r["step"] == "checked"]
    assert checked == [("v1.1.0", True), ("v1.3.0", False)]
    assert text(gateway) == v2

    started = time.monotonic()
    host.ok("rollback", "production", MODEL, "--to", "v1.0.0", "--reason", "drill", "--root", str(host.root))
    took = time.monotonic() - started
    assert text(gateway) == v1  # the same answer as before: the same bytes serve again
    wait_for(lambda: prober.outcomes and prober.outcomes[-1][1] == "v1.0.0")
    outcomes = prober.stop()
    assert prober.failures() == [], prober.failures()[:5]
    # Both versions answered probes and none failed; how many probes fit depends on the load
    # (13 at load 12, ~60 quiet), so the count only proves the prober ran through the moves.
    assert {v for _, v in outcomes} == {"v1.0.0", "v1.1.0"} and len(outcomes) >= 5
    wait_for(lambda: not _alive(pids[1]))  # v1.1.0's llama-server drained and stopped
    print(f"\nrollback through the gateway with llama-server: {took:.2f} s, {len(outcomes)} probes, 0 failed")


def _alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    return True
