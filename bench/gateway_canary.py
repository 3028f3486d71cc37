"""A failing canary through `gitmodel gateway`: monitor aborts it, users never see its errors.

Two real llama-server processes (tiny GGUFs from gitmodel.demo) behind `gitmodel gateway`:
chat v1.0.0 stable, v1.1.0 a 50% canary started on the registry and deployed on the host.
Each version's llama-server sits behind a small fault front (this script with --front, the
host file's backend `command`), which answers every EVERY-th inference request of the
failing version with a 500 instead of forwarding it.  Debian's Prometheus scrapes the
gateway's /metrics every second; `gitmodel monitor chat production --prometheus` runs in a
loop; LOAD threads send completions as 200 users.  When monitor aborts the canary on the
registry, the host converges (`gitmodel deploy`) and the gateway ends the canary.

Printed: canary attempts and errors (the gateway's own metrics), user-visible errors (what
the load saw), fallbacks, and the time from the first injected error to the abort tag.

Needs llama-server (`make llama-server`, or GITMODEL_LLAMA_SERVER=PATH) and Prometheus
(`apt-get install -y prometheus`).  --json prints one JSON document instead of the lines
(tests/test_gateway_canary.py runs it so).

    python bench/gateway_canary.py [--every 2] [--load 6] [--interval 2]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateway_rollback import GITMODEL, MODEL, build_registry, clean_env, free_port, llama_server, sh

ROLLOUT = "rollout:\n  window: 1m\n  min_samples: 20\n"
USERS = 200
MAX_SECONDS = 180.0  # the whole load, bounded whatever monitor does


# --- the fault front: one per version, in front of its llama-server ----------------------


def front(port: int, version: str, failing: str, every: int, log: Path, server: list[str]) -> None:
    """Serve PORT; forward to SERVER (started on a free port); fail every EVERY-th inference of FAILING."""
    inner = free_port()
    child = subprocess.Popen([*server, "--host", "127.0.0.1", "--port", str(inner)])
    signal.signal(signal.SIGTERM, lambda *_: (child.terminate(), os._exit(0)))
    seen = [0]
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self._forward(None)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                seen[0] += 1
                fail = version == failing and seen[0] % every == 0
            if fail:
                with log.open("a") as out:
                    out.write(json.dumps({"t": time.time(), "version": version}) + "\n")
                self._answer(500, b'{"error": "injected fault"}', "application/json")
                return
            self._forward(body)

        def _forward(self, body: bytes | None) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", inner, timeout=60)
            try:
                headers = {"Content-Type": "application/json"} if body is not None else {}
                conn.request(self.command, self.path, body=body, headers=headers)
                answer = conn.getresponse()
                self._answer(answer.status, answer.read(), answer.getheader("Content-Type") or "text/plain")
            except OSError:
                self._answer(503, b'{"error": "loading"}', "application/json")
            finally:
                conn.close()

        def _answer(self, status: int, data: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server_ = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server_.daemon_threads = True
    try:
        server_.serve_forever(poll_interval=0.1)
    finally:
        child.terminate()


# --- the load ------------------------------------------------------------------------------


class Load:
    """THREADS clients sending completions as USERS users until halted (or MAX_SECONDS)."""

    def __init__(self, url: str, threads: int) -> None:
        self.url = url + "/v1/completions"
        # (time sent, status, version, fallback): a request's route is chosen when it is sent
        self.outcomes: list[tuple[float, int, str, str]] = []
        self.halt = threading.Event()
        self.deadline = time.monotonic() + MAX_SECONDS
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(threads)]
        for t in self.threads:
            t.start()

    def run(self, first: int) -> None:
        body = json.dumps({"model": MODEL, "prompt": "hello", "max_tokens": 4, "temperature": 0}).encode()
        n = first
        while not self.halt.is_set() and time.monotonic() < self.deadline:
            key = f"user-{n % USERS}"
            n += len(self.threads)
            req = urllib.request.Request(self.url, data=body, headers={"X-Route-Key": key})
            sent = time.time()
            try:
                with urllib.request.urlopen(req, timeout=30) as answer:
                    h = answer.headers
                    got = (answer.status, h["X-Gitmodel-Version"], h.get("X-Gitmodel-Fallback-From", ""))
            except urllib.error.HTTPError as exc:
                got = (exc.code, exc.headers.get("X-Gitmodel-Version", ""), "")
            except OSError as exc:
                got = (0, str(exc), "")
            self.outcomes.append((sent, *got))

    def stop(self) -> None:
        self.halt.set()
        for t in self.threads:
            t.join(60)


# --- Prometheus ------------------------------------------------------------------------------


def prometheus(base: Path, target: str) -> tuple[subprocess.Popen[bytes], str]:
    exe = shutil.which("prometheus")
    if exe is None:
        raise SystemExit("Prometheus is not installed (Debian: apt-get install -y prometheus)")
    port = free_port()
    cfg = base / "prometheus.yml"
    cfg.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"scrape_configs:\n  - job_name: gateway\n    static_configs: [{{targets: [{json.dumps(target)}]}}]\n"
    )
    argv = [
        exe,
        f"--config.file={cfg}",
        f"--storage.tsdb.path={base / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    log = (base / "prometheus.log").open("wb")
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log, cwd=base)
    return proc, f"http://127.0.0.1:{port}"


def query(url: str, promql: str) -> float | None:
    try:
        with urllib.request.urlopen(f"{url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}") as r:
            result = json.loads(r.read())["data"]["result"]
    except OSError:
        return None
    return float(result[0]["value"][1]) if result else None


def wait(what: str, ok: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ok():
            return
        time.sleep(0.2)
    raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")


def metric(gateway: str, name: str, version: str) -> float:
    """One series of the gateway's own /metrics (what Prometheus scrapes)."""
    with urllib.request.urlopen(f"{gateway}/metrics", timeout=10) as r:
        text = r.read().decode()
    want = f'{name}{{model="{MODEL}",version="{version}"}} '
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(want))


# --- the run -------------------------------------------------------------------------------


def run(args: argparse.Namespace, binary: Path, base: Path) -> dict[str, Any]:
    env = clean_env(base / "home")
    origin, dev = build_registry(base, env)
    (dev / "gitmodel.yaml").write_text((dev / "gitmodel.yaml").read_text() + ROLLOUT)
    host, root, faults = base / "host", base / "root", base / "faults.jsonl"
    sh(["git", "clone", "-q", str(origin), str(host)], base, env)
    root.mkdir()
    port = free_port()
    url, control = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}/-/gitmodel/"
    start = [sys.executable, str(Path(__file__).resolve()), "--front", "{port}", "{version}"]
    start += [args.failing, str(args.every), str(faults), "--", str(binary), "-m", "{path}", "-c", "256"]
    backend = {
        "kind": "command",
        "start": start,
        "health": "http://127.0.0.1:{port}/health",
        "ports": [free_port(), free_port()],
    }
    config = {
        "root": str(root),
        "env": "production",
        "gateway": {"listen": f"127.0.0.1:{port}"},
        "models": {
            MODEL: {
                "backend": backend,
                "reload": {"url": f"{control}reload?model={MODEL}"},
                "info_url": f"{control}info?model={MODEL}",
            }
        },
    }
    (base / "host.yaml").write_text(json.dumps(config))
    env["GITMODEL_HOST_CONFIG"] = str(base / "host.yaml")
    procs: list[subprocess.Popen[bytes]] = []
    load = None
    try:
        procs.append(
            subprocess.Popen([*GITMODEL, "gateway"], env=env, stderr=(base / "gateway.log").open("wb"))
        )
        deploy = [*GITMODEL, "deploy", "production", MODEL]
        for stage in ("staging", "production"):
            sh([*GITMODEL, "promote", MODEL, "v1.0.0", stage, "--push"], dev, env)
        sh(deploy, host, env)
        sh([*GITMODEL, "promote", MODEL, args.failing, "staging", "--push"], dev, env)
        canary = [*GITMODEL, "canary", "start", MODEL, args.failing, "production"]
        sh([*canary, "--percent", str(args.percent), "--push"], dev, env)
        sh(deploy, host, env)
        info = json.loads(urllib.request.urlopen(f"{control}info?model={MODEL}", timeout=10).read())
        if (info.get("canary") or {}).get("version") != args.failing:
            raise RuntimeError(f"the gateway did not start the canary: {info}")
        prom, prom_url = prometheus(base, f"127.0.0.1:{port}")
        procs.append(prom)
        series = f'gitmodel_requests_total{{model="{MODEL}",version="{args.failing}"}}'
        wait("Prometheus to scrape the gateway", lambda: query(prom_url, series) == 0, 60)

        load = Load(url, args.load)
        rounds = ["--interval", str(args.interval), "--rounds", str(int(MAX_SECONDS / args.interval))]
        watch = subprocess.Popen(
            [
                *GITMODEL,
                "monitor",
                MODEL,
                "production",
                "--prometheus",
                prom_url,
                "--push",
                "--json",
                *rounds,
            ],
            cwd=dev,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(watch)  # type: ignore[arg-type]
        aborted_at, judged, last = None, 0, {}
        assert watch.stdout is not None
        for line in watch.stdout:  # one JSON line per round; the loop ends when monitor exits
            judged += 1
            last = json.loads(line)
            if last.get("action") == "canary-abort":
                aborted_at = time.time()
        code = watch.wait(30)
        if aborted_at is None:
            raise RuntimeError(f"monitor exited {code} without an abort: {last} {watch.stderr.read()[-400:]}")  # type: ignore[union-attr]
        started = time.time()
        sh(deploy, host, env)  # the host follows origin: the gateway ends the canary
        deployed = time.time()  # the reload answers after the new routes are in place
        time.sleep(1.0)  # load after the canary ended: stable only
        load.stop()
        after = json.loads(urllib.request.urlopen(f"{control}info?model={MODEL}", timeout=10).read())
        injected = [json.loads(x) for x in faults.read_text().splitlines()] if faults.exists() else []
        outcomes = load.outcomes
        # requests sent once the deploy returned; the monitor's push and exit come between the
        # abort line and the deploy, so the abort's time is no bound for these
        last_user = [o for o in outcomes if o[0] > deployed]
        return {
            "canary": args.failing,
            "stable": "v1.0.0",
            "canary_requests": metric(url, "gitmodel_requests_total", args.failing),
            "canary_errors": metric(url, "gitmodel_errors_total", args.failing),
            "fallbacks": metric(url, "gitmodel_fallbacks_total", args.failing),
            "injected": len(injected),
            "user_requests": len(outcomes),
            "user_errors": sum(1 for o in outcomes if o[1] != 200),
            "user_fell_back": sum(1 for o in outcomes if o[3]),
            "first_error_to_abort_s": round(aborted_at - injected[0]["t"], 2) if injected else None,
            "monitor_rounds": judged,
            "monitor_exit": code,
            "reason": last.get("reason"),
            "converge_s": round(deployed - started, 2),
            "canary_after": after.get("canary"),
            "versions_after": sorted({o[2] for o in last_user}),
            "load_average": round(os.getloadavg()[0], 1),
        }
    finally:
        if load is not None:
            load.stop()
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=2, help="the canary fails every N-th request")
    parser.add_argument("--percent", type=float, default=50.0, help="the canary's share of users")
    parser.add_argument("--load", type=int, default=6, help="client threads")
    parser.add_argument("--interval", type=float, default=2.0, help="monitor's seconds between rounds")
    parser.add_argument("--failing", default="v1.1.0", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true")
    if sys.argv[1:2] == ["--front"]:  # PORT VERSION FAILING EVERY LOG -- SERVER ARGS...: the backend
        port, version, failing, every, log, sep, *server = sys.argv[2:]
        assert sep == "--", sys.argv
        return front(int(port), version, failing, int(every), Path(log), server)
    args = parser.parse_args()
    binary = llama_server()
    if binary is None:
        raise SystemExit("llama-server is not built: run `make llama-server` (or set GITMODEL_LLAMA_SERVER)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so `finally` stops what this started
    base = Path(tempfile.mkdtemp(prefix="gitmodel-gw-canary-"))
    try:
        result = run(args, binary, base)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"canary through gitmodel gateway with llama-server ({os.cpu_count()} cores, load "
        f"{result['load_average']}): {result['canary']} at {args.percent:g}% failing 1 in "
        f"{args.every} requests, stable {result['stable']}, {args.load} clients, monitor every "
        f"{args.interval:g} s on Prometheus (scrape 1 s, window 1m, min_samples 20)\n"
    )
    print(f"canary requests (attempts, gateway metrics)  {result['canary_requests']:.0f}")
    print(f"canary errors (counted for monitor)          {result['canary_errors']:.0f}")
    print(f"fallbacks to stable                          {result['fallbacks']:.0f}")
    print(f"user requests / user-visible errors          {result['user_requests']} / {result['user_errors']}")
    print(f"first injected error -> abort tag            {result['first_error_to_abort_s']} s")
    print(f"abort -> host converged, canary ended        {result['converge_s']} s")
    print(f"monitor: {result['reason']}")


if __name__ == "__main__":
    main()
