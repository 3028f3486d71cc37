"""llama-server router mode through the `llama-cpp-router` backend: switches idle and under load.

A switch loads the other version under its own name, confirms it (router status, the
child's mapped file), moves the prober to it, lets the old name's requests finish, then
unloads the old name and waits until the router reports it `unloaded` (issue 11: without
that wait, a load of the same name got 400 "model is already running" about half the time).

1. idle: N switches back and forth between two tiny llama versions;
2. under load: N switches while a bounded prober (one request in flight, --rate per
   second at most) sends greedy completions to whichever version is live;
3. without the wait: N unload-then-load of one name straight away, as the old recipe did,
   counting the router's refusals (what the wait prevents).

    python bench/router_switch.py [--switches 20] [--rate 20]

Needs llama-server (`make llama-server`; GITMODEL_LLAMA_SERVER overrides the path).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from gitmodel import http
from gitmodel.backends.base import Instance, VersionFiles
from gitmodel.backends.router import Router
from gitmodel.demo import write_llama_gguf

REPO = Path(__file__).resolve().parent.parent


def llama_server() -> Path | None:
    explicit = os.environ.get("GITMODEL_LLAMA_SERVER")
    script = REPO / "scripts" / "build_llama_server.sh"
    path = (
        Path(explicit)
        if explicit
        else Path(
            subprocess.run(["bash", str(script), "--path"], capture_output=True, text=True).stdout.strip()
        )
    )
    return path if path.is_file() and os.access(path, os.X_OK) else None


def version(root: Path, name: str, seed: int) -> VersionFiles:
    vdir = root / "acme=support" / "versions" / name
    vdir.mkdir(parents=True)
    write_llama_gguf(vdir / "model.gguf", seed=seed)
    vdir = Path(os.path.realpath(vdir))
    return VersionFiles("acme:support", name, vdir, vdir / "model.gguf", "0" * 32)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Prober:
    """One request at a time, at most RATE a second, to the live instance's name."""

    def __init__(self, url: str, rate: float) -> None:
        self.url, self.interval = url, 1.0 / rate
        self.live: str = ""
        self.inflight: dict[str, int] = {}
        self.ok = self.failed = 0
        self.errors: list[str] = []
        self.latencies: list[float] = []
        self.cond = threading.Condition()
        self.stopping = False
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stopping:
            started = time.perf_counter()
            with self.cond:
                name = self.live
                self.inflight[name] = self.inflight.get(name, 0) + 1
            try:
                body = {"model": name, "prompt": "the", "max_tokens": 4, "temperature": 0}
                answer = http.post(f"{self.url}/v1/completions", body, timeout=10)
                good = answer.ok
                why = f"HTTP {answer.status} {answer.text()[:120]}"
            except http.Unreachable as exc:
                good, why = False, exc.why
            took = time.perf_counter() - started
            with self.cond:
                self.inflight[name] -= 1
                self.cond.notify_all()
                if good:
                    self.ok += 1
                    self.latencies.append(took)
                else:
                    self.failed += 1
                    self.errors.append(why)
            time.sleep(max(0.0, self.interval - took))

    def move_to(self, name: str) -> None:
        with self.cond:
            self.live = name

    def drain(self, name: str) -> None:
        with self.cond:
            self.cond.wait_for(lambda: self.inflight.get(name, 0) == 0, timeout=30)


def switches(backend: Router, versions: list[VersionFiles], count: int, prober: Prober | None) -> list[float]:
    live: Instance = backend.start(versions[0], 0, 60)
    if prober is not None:
        prober.move_to(str(live.upstream_model))
        prober.thread.start()
        time.sleep(0.5)
    times, failures = [], []
    for i in range(count):
        files = versions[(i + 1) % 2]
        started = time.perf_counter()
        try:
            new = backend.start(files, (i + 1) % 2, 60)
            why = backend.confirm(new)
            if why is not None:
                raise RuntimeError(why)
            if prober is not None:
                prober.move_to(str(new.upstream_model))
                prober.drain(str(live.upstream_model))
            backend.stop(live, 30)
            live = new
            times.append(time.perf_counter() - started)
        except Exception as exc:  # a bench reports every failure and goes on
            failures.append(f"switch {i + 1}: {exc}")
    if prober is not None:
        prober.stopping = True
        prober.thread.join()
    backend.stop(live, 30)
    for line in failures:
        print(f"    FAILED {line}")
    return times


def without_the_wait(backend: Router, files: VersionFiles, count: int) -> tuple[int, int]:
    """Unload, then load the same name at once (the old recipe): how often the router refuses."""
    live = backend.start(files, 0, 60)
    name, refused = str(live.upstream_model), 0
    for _ in range(count):
        http.post(f"{backend.url}/models/unload", {"model": name}, timeout=10)
        answer = http.post(f"{backend.url}/models/load", {"model": name}, timeout=10)
        if not answer.ok:
            refused += 1
        deadline = time.monotonic() + 30  # settle before the next round: loaded again
        while time.monotonic() < deadline:
            for entry in http.get(f"{backend.url}/models", timeout=10).json_object().get("data", []):
                if entry.get("id") == name and entry.get("status", {}).get("value") == "unloaded":
                    http.post(f"{backend.url}/models/load", {"model": name}, timeout=10)
                if entry.get("id") == name and entry.get("status", {}).get("value") == "loaded":
                    deadline = 0
            time.sleep(0.05)
    backend.stop(live, 30)
    return refused, count


def summary(label: str, times: list[float], count: int) -> None:
    if not times:
        print(f"{label}: 0/{count} switches succeeded")
        return
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    print(
        f"{label}: {len(times)}/{count} switches succeeded; per switch (load + confirm + drain + "
        f"unload-and-wait) median {statistics.median(times) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
        f"max {ordered[-1] * 1000:.0f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--switches", type=int, default=20)
    parser.add_argument("--rate", type=float, default=20.0, help="prober requests per second at most")
    args = parser.parse_args()
    binary = llama_server()
    if binary is None:
        print("router_switch: llama-server not built; run `make llama-server` (skipped)")
        return 0
    os.environ["DVC_NO_ANALYTICS"] = "1"
    tmp = Path(tempfile.mkdtemp(prefix="gitmodel-bench-router-"))
    try:
        versions = [version(tmp, "v1.0.0", 1), version(tmp, "v2.0.0", 2)]

        def backend() -> Router:
            return Router(binary=binary, port=free_port(), args=("-c", "256", "-t", "1", "-np", "1"))

        size = versions[0].artifact.stat().st_size
        print(f"llama-server {binary}; two tiny llama versions ({size:,} bytes each)")
        summary("idle", switches(backend(), versions, args.switches, None), args.switches)
        router = backend()
        prober = Prober(router.url, args.rate)
        times = switches(router, versions, args.switches, prober)
        summary(f"under load ({args.rate:g} req/s prober)", times, args.switches)
        lat = sorted(prober.latencies)
        p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else 0.0
        print(
            f"  prober: {prober.ok + prober.failed} requests, {prober.ok} ok, {prober.failed} failed; "
            f"latency median {statistics.median(lat or [0]) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms"
        )
        for why in sorted(set(prober.errors))[:3]:
            print(f"    e.g. {why}")
        refused, count = without_the_wait(backend(), versions[0], args.switches)
        print(f"without the wait (unload then load at once): {refused}/{count} loads refused by the router")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
