"""A fleet on loopback: N lightweight host pollers against a real git server, then against
a pointer-document store; server CPU per poll, polls/s sustained, time to converge.

  git path      each poll is what `gitmodel agent` runs every interval, `git ls-remote
                --tags --refs origin`, spoken as git does over smart HTTP (protocol v2:
                GET info/refs, POST ls-refs with ref-prefix refs/tags/).  The server is
                `git http-backend` run per request behind a small HTTP server (CGI), on a
                real registry (bench/scale_build.py: 100 models x 20 versions, 5,600 tags).
  pointer path  each poll is a conditional GET (If-None-Match) of one pointer document
                (gitmodel/pointers/), answered 304 while nothing moved.  Two stores: a
                static server over a local DVC remote's directory (what a CDN or nginx in
                front of object storage does) and the moto S3 server (the S3 API; a slow,
                Python stand-in for S3, which serves conditional GETs at any scale).

After a warm-up, a window of W seconds measures the server process's CPU (its own and
its children's, /proc/PID/stat) per completed poll.  Then one move: a new assignment tag
is written into the served repository (the push), and for the pointer path a new document
is published; every poller that notices the move does what an agent does next, a git
fetch of the new tag (ls-refs + a protocol-v2 fetch of that tag object), and the clock
stops for that host when its fetch has the tag.  The pollers are asyncio coroutines in
this process, spread evenly over the interval; everything shares this machine's cores,
so the pollers' own CPU competes with the servers'.

    python bench/fleet.py [--hosts 500] [--interval 5] [--window 15] [--models 100x20]
                          [--stores static,moto] [--spread S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_build import Shape, build
from scale_build import clean_env as build_env

MAX_HOSTS = 5000
BUCKET = "fleet-bench"
DOC_KEY = "gitmodel/pointers/production/m000.json"
TICK = os.sysconf("SC_CLK_TCK")


# --- the servers (each its own process, so its CPU is its own) ----------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 2048

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a poller cancelled at the end
            super().handle_error(request, client_address)


def serve_git(project_root: str, port: int) -> None:
    """Smart HTTP in front of `git http-backend`, one CGI process per request."""
    base_env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._cgi()

        def do_POST(self) -> None:
            self._cgi()

        def _cgi(self) -> None:
            path, _, query = self.path.partition("?")
            body = self._body()
            env = {
                **base_env,
                "GIT_PROJECT_ROOT": project_root,
                "GIT_HTTP_EXPORT_ALL": "1",
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "REQUEST_METHOD": self.command,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "REMOTE_ADDR": "127.0.0.1",
                "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
                "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            }
            proc = subprocess.run(
                ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
            )
            head, _, payload = proc.stdout.partition(b"\r\n\r\n")
            if not _:
                head, _, payload = proc.stdout.partition(b"\n\n")
            status, headers = 200, []
            for line in head.decode("latin-1").splitlines():
                name, _, value = line.partition(":")
                if name.lower() == "status":
                    status = int(value.split()[0])
                elif name:
                    headers.append((name, value.strip()))
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                out = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0], 16)
                    if not size:
                        self.rfile.readline()
                        return out
                    out += self.rfile.read(size)
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    _Server(("127.0.0.1", port), Handler).serve_forever()


def serve_static(root: str, port: int) -> None:
    """Static files with ETag / If-None-Match, as a CDN or nginx in front of a bucket."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            path = Path(root, *[p for p in self.path.split("?")[0].split("/") if p not in ("", "..")])
            try:
                with path.open("rb") as fh:
                    st = os.fstat(fh.fileno())
                    etag = f'"{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}"'
                    if self.headers.get("If-None-Match") == etag:
                        self.send_response(304)
                        self.send_header("ETag", etag)
                        self.end_headers()
                        return
                    body = fh.read()
            except OSError:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("ETag", etag)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    _Server(("127.0.0.1", port), Handler).serve_forever()


def cpu_seconds(pid: int) -> float:
    """utime + stime + cutime + cstime of `pid` (its waited-for children included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / TICK


# --- the pollers --------------------------------------------------------------------------


async def http(
    port: int, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    if method == "POST":
        head.append(f"Content-Length: {len(body)}")
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    data = await reader.read()
    writer.close()
    top, _, payload = data.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    if hdrs.get("transfer-encoding", "").lower() == "chunked":
        payload = _dechunk(payload)
    return status, hdrs, payload


def _dechunk(data: bytes) -> bytes:
    out, i = b"", 0
    while True:
        j = data.index(b"\r\n", i)
        size = int(data[i:j].split(b";")[0], 16)
        if not size:
            return out
        out += data[j + 2 : j + 2 + size]
        i = j + 2 + size + 2


def pkt(line: str) -> bytes:
    raw = line.encode()
    return f"{len(raw) + 4:04x}".encode() + raw


V2 = {"Git-Protocol": "version=2"}
UPLOAD = {
    **V2,
    "Content-Type": "application/x-git-upload-pack-request",
    "Accept": "application/x-git-upload-pack-result",
}


async def ls_refs(port: int, prefix: str = "refs/tags/") -> bytes:
    """What `git ls-remote --tags --refs origin` sends over smart HTTP v2 (two requests)."""
    status, _, _ = await http(port, "GET", "/registry.git/info/refs?service=git-upload-pack", V2)
    assert status == 200, status
    body = (
        pkt("command=ls-refs\n")
        + pkt("object-format=sha1\n")
        + b"0001"
        + pkt(f"ref-prefix {prefix}\n")
        + b"0000"
    )
    status, _, refs = await http(port, "POST", "/registry.git/git-upload-pack", UPLOAD, body)
    assert status == 200, status
    return refs


async def fetch_tag(port: int, tag_oid: str, have: str, prefix: str) -> bytes:
    """The fetch an agent runs once it knows of a move: ls-refs (every tag on the git path,
    the moved model's on the pointer path: git.fetch_model_tags), then the tag object."""
    await ls_refs(port, prefix)
    body = (
        pkt("command=fetch\n")
        + pkt("object-format=sha1\n")
        + b"0001"
        + pkt("thin-pack\n")
        + pkt("no-progress\n")
        + pkt("ofs-delta\n")
        + pkt(f"want {tag_oid}\n")
        + pkt(f"have {have}\n")
        + pkt("done\n")
        + b"0000"
    )
    status, _, pack = await http(port, "POST", "/registry.git/git-upload-pack", UPLOAD, body)
    assert status == 200 and b"PACK" in pack, (status, pack[:200])
    return pack


@dataclass
class Move:
    tag: str = ""
    oid: str = ""
    have: str = ""
    at: float = 0.0  # perf_counter of the push; 0: no move yet


@dataclass
class Stats:
    polls: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    converged: dict[int, float] = field(default_factory=dict)
    first_error: str = ""


async def poller(
    i: int,
    hosts: int,
    kind: str,
    ports: dict[str, int],
    interval: float,
    move: Move,
    stats: Stats,
    stop: float,
    spread: float,
) -> None:
    """One host: poll every `interval` (phases spread evenly); once it notices the move, wait
    a random 0..spread seconds (agent --fetch-spread), then fetch it (retried until it works)."""
    await asyncio.sleep(interval * i / hosts + random.random() * 0.01)
    etag: str | None = None
    owed = False
    while time.perf_counter() < stop:
        started = time.perf_counter()
        try:
            if kind == "git":
                refs = await ls_refs(ports["git"])
                noticed = bool(move.at) and move.tag.encode() in refs
            else:
                port = ports[kind]
                path = f"/{DOC_KEY}" if kind == "static" else MOTO_PATH
                headers = {"If-None-Match": etag} if etag else {}
                if kind == "moto":
                    headers["Authorization"] = FAKE_AUTH
                status, hdrs, _ = await http(port, "GET", path, headers)
                if status == 200:
                    changed = etag is not None
                    etag = hdrs.get("etag")
                    noticed = changed and bool(move.at)
                elif status == 304:
                    noticed = False
                else:
                    raise RuntimeError(f"status {status}")
            stats.polls += 1
            stats.latencies.append(time.perf_counter() - started)
            if noticed and not owed and spread:
                await asyncio.sleep(random.uniform(0, spread))
            owed = owed or noticed
            if owed and i not in stats.converged:
                prefix = "refs/tags/" if kind == "git" else "refs/tags/m000"
                await fetch_tag(ports["git"], move.oid, move.have, prefix)
                stats.converged[i] = time.perf_counter() - move.at
        except Exception as exc:  # counted and shown: a refused connection is a figure too
            stats.errors += 1
            stats.first_error = stats.first_error or f"{type(exc).__name__}: {exc}"
        await asyncio.sleep(max(0.0, interval - (time.perf_counter() - started)))


MOTO_PATH = f"/{BUCKET}/registry/{DOC_KEY}"
FAKE_AUTH = (  # moto checks no signatures; real S3 needs a SigV4 one (botocore signs, objstore.py)
    "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, "
    "SignedHeaders=host, Signature=" + "0" * 64
)


@dataclass
class Phase:
    kind: str
    hosts: int
    interval: float
    polls_per_s: float
    cpu_per_poll_ms: float
    cores: float
    p50_ms: float
    p99_ms: float
    errors: int
    converged: int
    conv_median: float
    conv_max: float
    move_cpu_s: float  # git server CPU spent on the move's fetches (polling's share taken out)
    first_error: str
    peak_cores: float  # the git server's busiest second after the move


def run_phase(
    kind: str,
    hosts: int,
    interval: float,
    window: float,
    ports: dict[str, int],
    pids: dict[str, int],
    do_move: Callable[[Move], None],
    spread: float,
) -> Phase:
    stats, move = Stats(), Move()
    server = pids["git" if kind == "git" else kind]
    warm = interval + 2
    settle = 3 * interval + spread + 20
    measured: dict[str, float] = {}

    async def main() -> None:
        stop = time.perf_counter() + warm + window + settle
        tasks = [
            asyncio.create_task(poller(i, hosts, kind, ports, interval, move, stats, stop, spread))
            for i in range(hosts)
        ]
        await asyncio.sleep(warm)
        polls0, cpu0, t0 = stats.polls, cpu_seconds(server), time.perf_counter()
        n0 = len(stats.latencies)
        await asyncio.sleep(window)
        measured["polls"] = stats.polls - polls0
        measured["cpu"] = cpu_seconds(server) - cpu0
        measured["secs"] = time.perf_counter() - t0
        measured["lat_from"] = n0
        measured["lat_to"] = len(stats.latencies)
        git_cpu0, polls1 = cpu_seconds(pids["git"]), stats.polls
        await asyncio.get_running_loop().run_in_executor(None, do_move, move)
        deadline = time.perf_counter() + settle
        sample = (time.perf_counter(), cpu_seconds(pids["git"]))
        peak = 0.0
        while len(stats.converged) < hosts and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
            if time.perf_counter() - sample[0] >= 1.0:  # the git server's busiest second
                now = (time.perf_counter(), cpu_seconds(pids["git"]))
                peak = max(peak, (now[1] - sample[1]) / (now[0] - sample[0]))
                sample = now
        measured["peak"] = peak
        polling = (
            (stats.polls - polls1) * measured["cpu"] / max(1, measured["polls"]) if kind == "git" else 0.0
        )
        measured["move_cpu"] = cpu_seconds(pids["git"]) - git_cpu0 - polling
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())
    lat = sorted(stats.latencies[int(measured["lat_from"]) : int(measured["lat_to"])]) or [0.0]
    conv = sorted(stats.converged.values()) or [float("nan")]
    polls = max(1.0, measured["polls"])
    return Phase(
        kind,
        hosts,
        interval,
        measured["polls"] / measured["secs"],
        measured["cpu"] / polls * 1000,
        measured["cpu"] / measured["secs"],
        lat[len(lat) // 2] * 1000,
        lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
        stats.errors,
        len(stats.converged),
        statistics.median(conv),
        conv[-1],
        measured["move_cpu"],
        stats.first_error,
        measured["peak"],
    )


# --- setting up ---------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    import socket

    for _ in range(400):
        if proc.poll() is not None:
            raise RuntimeError(f"server on {port} exited {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def git(cwd: Path, env: dict[str, str], *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(f"git {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=500)
    ap.add_argument("--interval", type=float, default=5.0)
    ap.add_argument("--window", type=float, default=15.0)
    ap.add_argument("--models", default="100x20", help="MODELSxVERSIONS of the served registry")
    ap.add_argument("--stores", default="static,moto")
    ap.add_argument(
        "--spread", type=float, default=0.0, help="pointer path: fetch a random 0..S s after noticing"
    )
    ap.add_argument("--serve-git", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--serve-static", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_git:
        serve_git(args.serve_git[0], int(args.serve_git[1]))
        return
    if args.serve_static:
        serve_static(args.serve_static[0], int(args.serve_static[1]))
        return
    if not 1 <= args.hosts <= MAX_HOSTS:
        raise SystemExit(f"--hosts must be 1..{MAX_HOSTS}")
    base = Path(tempfile.mkdtemp(prefix="fleet-"))
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        _run(args, base, procs)
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(base, ignore_errors=True)


def _run(args: argparse.Namespace, base: Path, procs: dict[str, subprocess.Popen[bytes]]) -> None:
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    env = build_env(base / "home")
    models, versions = (int(x) for x in args.models.split("x"))
    started = time.perf_counter()
    built = build(
        base / "registry",
        Shape("fleet", models, versions, 1.0, 0.8),
        env,
        [sys.executable, "-m", "gitmodel"],
        base / "dvc-remote",
        False,
    )
    served = base / "srv"
    served.mkdir()
    git(base, env, "clone", "-q", "--bare", str(built.root), str(served / "registry.git"))
    bare = served / "registry.git"
    print(
        f"registry: {models} models x {versions} versions, {built.tags} tags, "
        f"built in {time.perf_counter() - started:.1f} s"
    )

    ports = {"git": free_port(), "static": free_port(), "moto": free_port()}
    procs["git"] = subprocess.Popen(
        [sys.executable, __file__, "--serve-git", str(served), str(ports["git"])], env=env
    )
    store = base / "dvc-remote"
    store.mkdir(exist_ok=True)
    procs["static"] = subprocess.Popen(
        [sys.executable, __file__, "--serve-static", str(store), str(ports["static"])], env=env
    )
    stores = [s for s in args.stores.split(",") if s]
    if "moto" in stores:
        log = (base / "moto.log").open("wb")
        procs["moto"] = subprocess.Popen(
            [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(ports["moto"])],
            stdout=log,
            stderr=log,
            env=env,
        )
    for name, proc in procs.items():
        wait_port(ports[name], proc)
    pids = {name: proc.pid for name, proc in procs.items()}

    from gitmodel import objstore

    aws = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    os.environ.update(aws)
    local = objstore.open_store("storage", {"url": str(store)}, base)
    s3 = None
    if "moto" in stores:
        s3 = objstore.open_store(
            "s3",
            {
                "url": f"s3://{BUCKET}/registry",
                "endpointurl": f"http://127.0.0.1:{ports['moto']}",
                "region": "us-east-1",
            },
            base,
        )
        assert isinstance(s3, objstore.S3Store)
        s3.client().create_bucket(Bucket=BUCKET)
    counter = [10_000]

    def document(tag: str, oid: str) -> bytes:
        # The shape and size of a real one (gitmodel/pointers/document.py); the servers do not read it.
        body = {
            "gitmodel-pointer": 1,
            "model": "m000",
            "env": "production",
            "version": "v1.19.0",
            "tag": tag,
            "object": oid,
            "commit": "0" * 40,
            "canary": None,
            "seq": counter[0],
            "signer": "Bench <bench@example.com>",
            "published": "2026-01-01T00:00:00Z",
            "signed": "x" * 900,
        }
        return json.dumps(body, indent=1).encode()

    head = git(bare, env, "rev-parse", "refs/heads/main")
    for target in (local, s3):
        if target is not None:
            target.put(DOC_KEY, document("m000#production#1", "0" * 40))

    def do_move(kind: str) -> Callable[[Move], None]:
        def move_now(move: Move) -> None:
            counter[0] += 1
            tag = f"m000#production#{counter[0]}"
            git(bare, env, "tag", "-a", "-m", "gitmodel: promote (bench)", tag, head)
            oid = git(bare, env, "rev-parse", f"refs/tags/{tag}")
            move.tag, move.oid, move.have = f"refs/tags/{tag}", oid, head
            move.at = time.perf_counter()  # the push landed
            if kind == "static":
                local.put(DOC_KEY, document(tag, oid))
            elif kind == "moto" and s3 is not None:
                s3.put(DOC_KEY, document(tag, oid))

        return move_now

    # One real client call of each kind, for the server's CPU per call (and a sanity check).
    url = f"http://127.0.0.1:{ports['git']}/registry.git"
    cpu0 = cpu_seconds(pids["git"])
    runs = 10
    for _ in range(runs):
        out = git(base, env, "ls-remote", "--tags", "--refs", url)
    real_ls = (cpu_seconds(pids["git"]) - cpu0) / runs * 1000
    assert out.count("\n") + 1 == built.tags, (out.count("\n") + 1, built.tags)
    refs = asyncio.run(ls_refs(ports["git"]))
    cpu0 = cpu_seconds(pids["git"])
    for _ in range(runs):
        asyncio.run(ls_refs(ports["git"]))
    sim_ls = (cpu_seconds(pids["git"]) - cpu0) / runs * 1000
    print(f"ls-refs answer: {len(refs) / 1024:.0f} KiB for {built.tags} tags")
    print(
        f"server CPU per `git ls-remote --tags --refs`: real client {real_ls:.1f} ms, "
        f"the bench's poller {sim_ls:.1f} ms"
    )

    print(
        f"server CPU per real `git fetch` after one new tag: {fetch_costs(base, env, bare, url, pids['git'])}"
    )
    kinds = ["git", *[s for s in ("static", "moto") if s in stores]]
    phases = []
    for kind in kinds:
        spread = 0.0 if kind == "git" else args.spread
        phases.append(
            run_phase(kind, args.hosts, args.interval, args.window, ports, pids, do_move(kind), spread)
        )
        print(describe(phases[-1]), flush=True)
    report(phases)


def fetch_costs(base: Path, env: dict[str, str], bare: Path, url: str, server: int) -> str:
    """Server CPU of a host's fetch after a move: every tag (the git path) or one model's."""
    clone = base / "clone"
    git(base, env, "clone", "-q", "--no-checkout", url, str(clone))
    head = git(bare, env, "rev-parse", "refs/heads/main")
    costs = {}
    for n, (label, args) in enumerate(
        (
            (
                "every tag (git.fetch_tags)",
                ["fetch", "--prune", "--tags", "origin", "+refs/gitmodel/*:refs/gitmodel/*"],
            ),
            (
                "one model's (git.fetch_model_tags)",
                ["fetch", "--no-tags", "origin", "refs/tags/m000*:refs/tags/m000*"],
            ),
        )
    ):
        spent = []
        for k in range(5):
            git(bare, env, "tag", "-a", "-m", "bench", f"m000#production#{90_000 + 10 * n + k}", head)
            cpu0 = cpu_seconds(server)
            git(clone, env, *args)
            spent.append(cpu_seconds(server) - cpu0)
        costs[label] = statistics.median(spent) * 1000
    return ", ".join(f"{k} {v:.0f} ms" for k, v in costs.items())


def describe(p: Phase) -> str:
    error = f" ({p.first_error})" if p.first_error else ""
    return (
        f"{p.kind:>6}: {p.hosts} hosts every {p.interval:g} s: {p.polls_per_s:.1f} polls/s sustained "
        f"(offered {p.hosts / p.interval:.0f}), server CPU {p.cpu_per_poll_ms:.2f} ms/poll "
        f"({p.cores:.2f} cores), poll p50 {p.p50_ms:.1f} ms p99 {p.p99_ms:.1f} ms, errors {p.errors}{error}; "
        f"{p.converged}/{p.hosts} hosts fetched the move: "
        f"median {p.conv_median:.2f} s, last {p.conv_max:.2f} s; git server's busiest second after "
        f"the move {p.peak_cores:.2f} cores"
    )


NAMES = {
    "git": "git ls-remote (http-backend)",
    "static": "pointer document, static server",
    "moto": "pointer document, moto S3",
}


def report(phases: list[Phase]) -> None:
    print()
    print(
        "| path | hosts / interval | polls/s sustained (offered) | server CPU per poll | server cores "
        "| poll p50 / p99 | hosts that fetched the move: median / last | git CPU for the move's fetches "
        "| git busiest second after the move |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for p in phases:
        herd = f"{p.move_cpu_s:.1f} s" if p.kind != "git" else "(inside the polling)"
        print(
            f"| {NAMES[p.kind]} | {p.hosts} / {p.interval:g} s "
            f"| {p.polls_per_s:.0f} ({p.hosts / p.interval:.0f}) "
            f"| {p.cpu_per_poll_ms:.2f} ms | {p.cores:.2f} | {p.p50_ms:.0f} / {p.p99_ms:.0f} ms "
            f"| {p.conv_median:.1f} / {p.conv_max:.1f} s ({p.converged}/{p.hosts}) | {herd} "
            f"| {p.peak_cores:.2f} cores |"
        )
    print()
    for p in phases:
        need = 10_000 / 5.0 * p.cpu_per_poll_ms / 1000
        print(
            f"10,000 hosts every 5 s = 2,000 polls/s x {p.cpu_per_poll_ms:.2f} ms "
            f"= {need:.1f} cores ({p.kind})"
        )
    for p in phases[1:]:
        if p.cpu_per_poll_ms and p.converged:
            ratio = phases[0].cpu_per_poll_ms / p.cpu_per_poll_ms
            print(
                f"{p.kind}: {ratio:.0f}x less server CPU per poll than git; a move costs the git server "
                f"{p.move_cpu_s / p.converged * 1000:.1f} ms per host that fetches it"
            )


if __name__ == "__main__":
    main()
