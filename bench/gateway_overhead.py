"""What `gitmodel gateway` adds to a request, next to a direct call and to nginx in the same run.

One stub OpenAI-compatible backend (aiohttp, a fixed completion with usage) is started by the
gateway itself (host file backend `command`).  Then the same load goes to:

  direct     the backend's port
  gateway    `gitmodel gateway` (aiohttp server + pooled aiohttp client, routing, metrics) on
             uvloop; gw-asyncio the same on the standard library's event loop
  threaded   a proxy on the standard library: ThreadingHTTPServer + one keep-alive
             http.client connection per thread (the stack the gateway did not take)
  nginx      Debian's nginx as a reverse proxy (1 worker, upstream keepalive); skipped
             with the way to get it when it is not installed (`apt-get install -y nginx`)

Latency: one keep-alive connection, requests one after another (p50, p99; "added" is the
proxy's figure minus the direct one).  Throughput: CONCURRENCY keep-alive connections for
SECONDS, completions per second.  The load generator is this process (asyncio, raw HTTP/1.1),
sharing the machine's cores with the proxy and the backend, so compare columns, not machines.

    python bench/gateway_overhead.py [--requests 2000] [--concurrency 16] [--seconds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

STREAM_EVENTS, STREAM_GAP = 20, 0.05  # a 1-second generation of 20 tokens
STREAM_BODY = json.dumps({"model": "bench", "prompt": "Tell me", "max_tokens": 20, "stream": True}).encode()
BODY = json.dumps({"model": "bench", "prompt": "Where is my order?", "max_tokens": 8}).encode()
ANSWER = json.dumps(
    {
        "object": "text_completion",
        "model": "bench",
        "choices": [{"index": 0, "text": " it ships tomorrow", "finish_reason": "length"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 8, "total_tokens": 13},
    }
).encode()


# --- the processes under test ------------------------------------------------------------


def stub(port: int) -> None:
    from aiohttp import web

    async def complete(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if b'"stream": true' not in body:
            return web.Response(body=ANSWER, content_type="application/json")
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await out.prepare(request)
        for n in range(STREAM_EVENTS):  # a generation: one token every STREAM_GAP seconds
            await out.write(b'data: {"choices": [{"text": " token%d"}]}\n\n' % n)
            await asyncio.sleep(STREAM_GAP)
        await out.write(b"data: [DONE]\n\n")
        await out.write_eof()
        return out

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/v1/completions", complete)
    app.router.add_get("/health", health)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def threaded_proxy(port: int, upstream: int) -> None:
    import http.client
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    local = threading.local()

    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else headers and body, two writes, wait 40 ms for an ACK

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=30)
            conn.request("POST", self.path, body, {"Content-Type": "application/json"})
            answer = conn.getresponse()
            if answer.getheader("Content-Type", "").startswith("text/event-stream"):
                self.send_response(answer.status)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                while chunk := answer.read1(65536):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")
                return
            data = answer.read()
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.getheader("Content-Type", "application/json"))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            pass  # a client that gave up on a stream: its broken pipe is not news

    server = Server(("127.0.0.1", port), Proxy)
    server.daemon_threads = True
    server.serve_forever()


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def start_nginx(binary: str, prefix: Path, port: int, upstream: int) -> subprocess.Popen[bytes]:
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"""worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  keepalive_requests 1000000;  # the default (1000) closes a benchmark's connection mid-run
  client_body_temp_path {prefix}/body; proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi; uwsgi_temp_path {prefix}/uwsgi; scgi_temp_path {prefix}/scgi;
  upstream backend {{ server 127.0.0.1:{upstream}; keepalive 32; keepalive_requests 1000000; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }}
  }}
}}
"""
    )
    return subprocess.Popen([binary, "-c", str(conf), "-p", str(prefix), "-g", "daemon off;"])


# --- the load ----------------------------------------------------------------------------


def request_bytes(port: int) -> bytes:
    head = (
        f"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(BODY)}\r\n\r\n"
    )
    return head.encode() + BODY


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> int:
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    headers = {
        k.strip().lower(): v.strip()
        for k, _, v in (line.partition(b":") for line in head.split(b"\r\n")[1:] if line)
    }
    if b"content-length" in headers:
        await reader.readexactly(int(headers[b"content-length"]))
    else:  # chunked
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


async def latencies(port: int, n: int, warmup: int = 200) -> list[float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    raw, out = request_bytes(port), []
    for i in range(warmup + n):
        start = time.perf_counter()
        status = await _exchange(reader, writer, raw)
        if status != 200:
            raise RuntimeError(f"port {port} answered {status}")
        if i >= warmup:
            out.append(time.perf_counter() - start)
    writer.close()
    return out


async def throughput(port: int, concurrency: int, seconds: float) -> tuple[float, int]:
    raw = request_bytes(port)
    done, failed = 0, 0
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done, failed
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < stop:
            if await _exchange(reader, writer, raw) == 200:
                done += 1
            else:
                failed += 1
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - start), failed


async def streams(port: int, concurrency: int, seconds: float) -> tuple[list[float], float, int]:
    """CONCURRENCY clients each streaming generations back to back: time to first token, streams/s."""
    head = (
        f"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(STREAM_BODY)}\r\n\r\n"
    )
    raw = head.encode() + STREAM_BODY
    first: list[float] = []
    done, failed = 0, 0
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done, failed
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
        except (OSError, TimeoutError):
            failed += 1
            return
        while time.perf_counter() < stop:
            start = time.perf_counter()
            writer.write(raw)
            try:
                async with asyncio.timeout(STREAM_EVENTS * STREAM_GAP + 10):  # a stuck stream fails
                    head, _ = await one_stream(reader, start)
            except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError):
                failed += 1
                writer.close()
                return
            done += b" 200 " in head
        writer.close()

    async def one_stream(reader: asyncio.StreamReader, start: float) -> tuple[bytes, bool]:
        head = await reader.readuntil(b"\r\n\r\n")
        seen = False
        while True:  # chunked: the first chunk is the first token
            size = int((await reader.readline()).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if not seen:
                first.append(time.perf_counter() - start)
                seen = True
            if size == 0:
                return head, seen

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return first, done / (time.perf_counter() - start), failed


def rss_and_threads(pid: int, with_children: bool) -> tuple[float, int]:
    """A process's (and, for nginx's workers, its children's) resident MiB and threads, from /proc."""
    total, threads = 0.0, 0
    for p in [pid, *(children(pid) if with_children else [])]:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        total += int(fields["VmRSS"].split()[0]) / 1024
        threads += int(fields["Threads"])
    return total, threads


def children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(c) for c in found]


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {timeout} s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the run -----------------------------------------------------------------------------


def start_gateway(work: Path, port: int, slots: tuple[int, int], loop: str) -> subprocess.Popen[bytes]:
    work = work / loop
    root = work / "root"
    vdir = root / "bench" / "versions" / "v1.0.0"
    vdir.mkdir(parents=True)
    (vdir / "model.bin").write_bytes(b"bench")
    import hashlib

    manifest = {
        "model": "bench",
        "version": "v1.0.0",
        "dvc_md5": hashlib.md5(b"bench").hexdigest(),
        "artifact": "model.bin",
        "kind": "file",
        "files": {"model.bin": "sha256:" + hashlib.sha256(b"bench").hexdigest()},
    }
    (vdir / "gitmodel-version.json").write_text(json.dumps(manifest))
    os.symlink("versions/v1.0.0", root / "bench" / "current")
    backend = {
        "kind": "command",
        "start": [sys.executable, str(Path(__file__).resolve()), "--stub", "{port}"],
        "health": "http://127.0.0.1:{port}/health",
        "ports": list(slots),
    }
    host = work / "host.yaml"
    host.write_text(json.dumps({"root": str(root), "models": {"bench": {"backend": backend}}}))
    env = {**os.environ, "GITMODEL_HOST_CONFIG": str(host), "DVC_NO_ANALYTICS": "1"}
    log = (work / "gateway.log").open("wb")
    cmd = [sys.executable, "-m", "gitmodel", "gateway", "--listen", f"127.0.0.1:{port}", "--loop", loop]
    return subprocess.Popen(cmd, env=env, stderr=log)


def wait_health(port: int, work: Path) -> None:
    """Until the gateway serves (it started its backend first)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    logs = " | ".join(p.read_text()[-300:] for p in work.glob("*/gateway.log"))
    raise RuntimeError(f"the gateway on {port} did not serve: {logs}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3, help="targets take turns; medians of rounds")
    parser.add_argument("--streams", type=int, default=300, help="concurrent 1-second generations")
    parser.add_argument("--stub", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--threaded-proxy", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stub:
        return stub(args.stub)
    if args.threaded_proxy:
        return threaded_proxy(*args.threaded_proxy)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so `finally` stops what this started
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="gitmodel-gw-bench-") as tmp:
        work = Path(tmp)
        slots = (free_port(), free_port())
        ports = {
            "direct": slots[0],
            "gateway": free_port(),  # uvloop
            "gw-asyncio": free_port(),  # the standard library's loop
            "threaded": free_port(),
            "nginx": free_port(),
        }
        try:
            procs.append(start_gateway(work, ports["gateway"], slots, "uvloop"))
            procs.append(start_gateway(work, ports["gw-asyncio"], (free_port(), free_port()), "asyncio"))
            for name in ("gateway", "gw-asyncio"):
                wait_health(ports[name], work)
            threaded = [sys.executable, __file__, "--threaded-proxy", str(ports["threaded"]), str(slots[0])]
            procs.append(subprocess.Popen(threaded))
            nginx = nginx_binary()
            if nginx:
                procs.append(start_nginx(nginx, work / "nginx", ports["nginx"], slots[0]))
            for name in ("threaded", *(["nginx"] if nginx else [])):
                wait_port(ports[name])
            pids = {"gateway": procs[0].pid, "gw-asyncio": procs[1].pid, "threaded": procs[2].pid}
            if nginx:
                pids["nginx"] = procs[3].pid
            report(ports, args, nginx is not None)
            report_streams(ports, pids, args)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()


def report(ports: dict[str, int], args: argparse.Namespace, have_nginx: bool) -> None:
    targets = {n: p for n, p in ports.items() if n != "nginx" or have_nginx}
    print(
        f"gitmodel gateway overhead: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, "
        f"stub backend; {args.rounds} rounds of {args.requests} sequential requests per target, then "
        f"{args.concurrency} connections for {args.seconds:g} s (medians of the rounds)\n"
    )
    seen: dict[str, list[tuple[float, float, float, int]]] = {n: [] for n in targets}
    for _ in range(args.rounds):  # taking turns spreads a busy neighbour's noise over every column
        for name, port in targets.items():
            lat = asyncio.run(latencies(port, args.requests))
            rate, failed = asyncio.run(throughput(port, args.concurrency, args.seconds))
            p99 = statistics.quantiles(lat, n=100)[98]
            seen[name].append((statistics.median(lat) * 1000, p99 * 1000, rate, failed))
    rows = {
        n: (*tuple(statistics.median(r[i] for r in runs) for i in range(3)), sum(r[3] for r in runs))
        for n, runs in seen.items()
    }
    base = rows["direct"]
    print(f"{'target':<10} {'p50 ms':>8} {'p99 ms':>8} {'added p50':>10} {'added p99':>10} {'req/s':>8}")
    for name, (p50, p99, rate, failed) in rows.items():
        added = "" if name == "direct" else f"{p50 - base[0]:>10.3f} {p99 - base[1]:>10.3f}"
        bad = f"  ({failed:.0f} not 200)" if failed else ""
        print(f"{name:<10} {p50:>8.3f} {p99:>8.3f} {added or ' ' * 21:>21} {rate:>8.0f}{bad}")
    if not have_nginx:
        print("\nnginx: not installed; `apt-get install -y nginx` (Debian) adds its column")
    else:
        gw, ng = rows["gateway"][0] - base[0], rows["nginx"][0] - base[0]
        print(
            f"\ngateway added p50 {gw:.3f} ms, nginx {ng:.3f} ms; max req/s gateway / nginx: "
            f"{rows['gateway'][2] / rows['nginx'][2]:.2f}"
        )


def report_streams(ports: dict[str, int], pids: dict[str, int], args: argparse.Namespace) -> None:
    """Many slow streams at once: what an LLM proxy holds most of the time."""
    print(
        f"\n{args.streams} clients streaming {STREAM_EVENTS}-token generations "
        f"({STREAM_EVENTS * STREAM_GAP:g} s each) back to back for {args.seconds * 2:g} s:\n"
    )
    print(
        f"{'target':<10} {'1st token p50':>13} {'p99 ms':>8} {'streams/s':>10} {'failed':>7} {'RSS MiB':>8}",
        end="",
    )
    print(f" {'threads':>8}")
    for name, port in ports.items():
        if name in pids or name == "direct":
            first, rate, failed, usage = asyncio.run(_streams(port, pids.get(name), name == "nginx", args))
            q = statistics.quantiles(first, n=100) if len(first) > 1 else [0.0] * 99
            mem = f"{usage[0]:>8.0f} {usage[1]:>8}" if name in pids else ""
            p50 = statistics.median(first) * 1000 if first else 0.0
            print(f"{name:<10} {p50:>13.1f} {q[98] * 1000:>8.1f} {rate:>10.1f} {failed:>7} {mem}")


async def _streams(
    port: int, pid: int | None, with_children: bool, args: argparse.Namespace
) -> tuple[list[float], float, int, tuple[float, int]]:
    load = asyncio.ensure_future(streams(port, args.streams, args.seconds * 2))
    await asyncio.sleep(args.seconds)  # mid-run: every stream open
    usage = rss_and_threads(pid, with_children) if pid else (0.0, 0)
    first, rate, failed = await load
    return first, rate, failed, usage


if __name__ == "__main__":
    main()
