"""End to end: a failing canary through `gitmodel gateway` with two real llama-server processes.

bench/gateway_canary.py runs the whole path (registry, host deploy, gateway, a fault front
failing 1 in 2 of the canary's requests, Debian's Prometheus, `gitmodel monitor` looping);
this test runs it and holds it to the issue's targets: monitor aborts the canary on what
the gateway counted, and no user sees an error meanwhile.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[1] / "bench" / "gateway_canary.py"


def test_monitor_aborts_a_failing_canary_and_users_see_no_error(llama_server_bin: Path) -> None:
    if shutil.which("prometheus") is None:
        pytest.skip(
            "Prometheus is not installed (Debian: apt-get install -y prometheus); needs the real server"
        )
    env = {**os.environ, "GITMODEL_LLAMA_SERVER": str(llama_server_bin)}
    done = subprocess.run(
        [sys.executable, str(BENCH), "--json"], env=env, capture_output=True, text=True, timeout=400
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)

    assert result["injected"] > 0
    # every injected 500 is an error of the canary in the gateway's metrics, and a fallback
    assert result["canary_errors"] == result["injected"] == result["fallbacks"]
    assert result["canary_requests"] >= 2 * result["canary_errors"] - 1
    assert result["user_requests"] > 50 and result["user_fell_back"] == result["injected"]
    assert result["user_errors"] == 0
    assert result["monitor_exit"] == 1
    assert result["reason"].startswith("monitor: error_rate: canary v1.1.0")
    assert 0 < result["first_error_to_abort_s"] < 60
    assert result["canary_after"] is None and result["versions_after"] == ["v1.0.0"]
