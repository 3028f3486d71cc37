"""Faults of `gitmodel gateway` with real processes on 127.0.0.1: a backend that dies holding a
request gets it once, never twice; a gateway killed by SIGKILL leaves no server behind, and
its restart on the same ports serves; a changed host file is applied on SIGHUP or a reload,
and a broken one refused with the old settings kept."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from plugin.gateway import GatewayThread, Reply, host_versions, request
from plugin.server import free_port, wait_for

from gitmodel import localconfig
from gitmodel import validate as v
from gitmodel.backends import command, process
from gitmodel.backends.reference import Reference
from gitmodel.gateway import leftovers
from gitmodel.gateway.config import Options, make
from gitmodel.gateway.runner import loop_factory
from gitmodel.gateway.upstream import Client

TESTS = Path(__file__).resolve().parent
STUB = (
    "import sys; sys.path.insert(0, {tests!r}); "
    "from plugin.backend_stubs import crashing_main; crashing_main()"
)


def crashing_backend(arrivals: Path) -> command.Command:
    """The `command` backend running the fork-per-connection stub (plugin/backend_stubs.py)."""
    start = [sys.executable, "-c", STUB.format(tests=str(TESTS)), "{port}", str(arrivals)]
    raw = {
        "kind": "command",
        "start": start,
        "health": "http://127.0.0.1:{port}/health",
        "ports": [free_port(), free_port()],
    }
    return command.parse(raw, v.Field("test"))


def test_a_backend_that_dies_holding_a_request_gets_it_once_and_the_client_502(
    tmp_path: Path, start_gateway: Callable[..., GatewayThread]
) -> None:
    arrivals = tmp_path / "arrivals"
    gw = start_gateway(host_versions(tmp_path / "root", "v1.0.0"), crashing_backend(arrivals))
    assert gw.complete(prompt="first").status == 200  # its connection is pooled now
    crashed = gw.complete(prompt="crash")  # on that pooled connection; the worker reads it and dies
    assert crashed.status == 502
    assert crashed.json() == {"error": "support v1.0.0 did not answer"}
    assert gw.complete(prompt="after").status == 200  # a new connection, a new worker
    prompts = [line.split()[1] for line in arrivals.read_text().splitlines()]
    assert prompts == ["first", "crash", "after"]  # one arrival each: "crash" was not sent again


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_pooled_connection_closed_before_sending_is_replaced_and_sent_once(loop: str) -> None:
    """The keep-alive race the retry exists for: the backend closed an idle connection, and its
    FIN is in the socket before the next request; the event loop has not run since to notice.
    The client must see it before writing, and send on a new connection: one arrival."""
    arrivals: list[bytes] = []
    close_now, closed = threading.Event(), threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            with conn:
                data = b""
                while not data.endswith(b"{}"):  # one request: headers and the 2-byte body
                    data += conn.recv(4096)
                arrivals.append(data)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                if len(arrivals) == 1:
                    close_now.wait(5)  # close while the gateway holds it idle
                    conn.shutdown(socket.SHUT_RDWR)
                    closed.set()

    server = threading.Thread(target=serve, daemon=True)
    server.start()

    async def test() -> None:
        pool = Client(1.0, 5.0).pool(f"http://127.0.0.1:{port}")
        assert await (await pool.post("/", b"{}", {})).read() == b"ok"
        close_now.set()
        assert closed.wait(5)
        time.sleep(0.05)  # blocks the loop: the FIN is in the socket, unseen by the transport
        assert await (await pool.post("/", b"{}", {})).read() == b"ok"

    factory = loop_factory(loop)
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(asyncio.wait_for(test(), 10))
    server.join(5)
    listener.close()
    assert len(arrivals) == 2


# A gateway killed by SIGKILL: its servers die with it, and what does not is stopped by the next run.


def sleeper(env: dict[str, str] | None = None, ignore_term: bool = False) -> subprocess.Popen[str]:
    """A python process that sleeps (ignoring SIGTERM if asked), started once it says so."""
    code = "import signal, time\n"
    if ignore_term:
        code += "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    code += "print('ready', flush=True)\ntime.sleep(60)\n"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}
    )
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    return proc


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        proc.kill()
        proc.wait(5)


@pytest.fixture
def child_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env: dict[str, str] = {}
    monkeypatch.setattr(process, "CHILD_ENV", env)
    return env


def record(root: Path, pid: int, start: int, token: str) -> None:
    (root / leftovers.RUN_FILE).write_text(
        json.dumps({"pid": pid, "start": start, "port": 8000, "token": token})
    )


def test_the_next_run_stops_only_what_the_killed_run_started(
    tmp_path: Path, procs: list[subprocess.Popen[str]], child_env: dict[str, str]
) -> None:
    old, other = "a" * 32, "b" * 32
    dead = subprocess.Popen(["true"])
    dead.wait()  # the killed gateway: its pid runs nothing now
    record(tmp_path, dead.pid, 0, old)
    stubborn = sleeper({leftovers.TOKEN_ENV: old}, ignore_term=True)  # ignores the death signal
    polite = sleeper({leftovers.TOKEN_ENV: old})
    foreign = sleeper({leftovers.TOKEN_ENV: other})  # another run's: not ours to stop
    plain = sleeper()
    procs += [stubborn, polite, foreign, plain]
    started = time.monotonic()
    assert sorted(leftovers.claim(tmp_path, 8000, grace=0.5)) == sorted([stubborn.pid, polite.pid])
    took = time.monotonic() - started
    assert polite.wait(5) == -signal.SIGTERM and stubborn.wait(5) == -signal.SIGKILL
    assert foreign.poll() is None and plain.poll() is None
    assert 0.5 <= took < 5  # the grace, then SIGKILL; bounded even on a loaded machine
    mine = json.loads((tmp_path / leftovers.RUN_FILE).read_text())
    assert (mine["pid"], mine["start"], mine["port"]) == (os.getpid(), leftovers.started(os.getpid()), 8000)
    assert child_env == {leftovers.TOKEN_ENV: mine["token"]} and mine["token"] not in (old, other)


def test_a_gateway_still_running_on_the_root_is_refused_and_left_alone(
    tmp_path: Path, procs: list[subprocess.Popen[str]], child_env: dict[str, str]
) -> None:
    token = "c" * 32
    running = sleeper()  # stands for the other gateway
    server = sleeper({leftovers.TOKEN_ENV: token})
    procs += [running, server]
    tick = leftovers.started(running.pid)
    assert tick is not None
    record(tmp_path, running.pid, tick, token)
    before = (tmp_path / leftovers.RUN_FILE).read_text()
    with pytest.raises(leftovers.AlreadyServing) as caught:
        leftovers.claim(tmp_path, 8001, grace=0.5)
    assert caught.value.message == (
        f"another gitmodel gateway (pid {running.pid}, port 8000) serves {tmp_path}; "
        "stop it first, or give this one another --root"
    )
    assert server.poll() is None and running.poll() is None and child_env == {}
    assert (tmp_path / leftovers.RUN_FILE).read_text() == before
    # The same pid started at another tick is another process (a reused pid): not a gateway.
    record(tmp_path, running.pid, tick + 1, token)
    assert leftovers.claim(tmp_path, 8001, grace=0.5) == [server.pid]
    assert running.poll() is None and server.wait(5) == -signal.SIGTERM


def test_an_unreadable_run_record_is_replaced(tmp_path: Path, child_env: dict[str, str]) -> None:
    (tmp_path / leftovers.RUN_FILE).write_text('{"pid": "1; rm -rf /", "start": 0, "token": "x"}')
    assert leftovers.claim(tmp_path, 8000, grace=0.5) == []
    assert json.loads((tmp_path / leftovers.RUN_FILE).read_text())["pid"] == os.getpid()


def running_pids(*pids: int) -> list[int]:
    return [pid for pid in pids if leftovers.started(pid) is not None and leftovers._running(pid)]


class GatewayProcess:
    """`python -m gitmodel gateway` from a host file, its stderr in a file."""

    def __init__(self, tmp_path: Path, port: int, n: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.err = tmp_path / f"gateway-{n}.err"
        env = {**os.environ, "GITMODEL_HOST_CONFIG": str(tmp_path / "host.yaml")}
        with self.err.open("wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "gitmodel", "gateway"], stderr=err, env=env)

    def serves(self) -> bool:
        try:
            health = request("GET", self.url + "/health", timeout=1).status
            return health == 200 and self.complete().status == 200
        except OSError:
            return False

    def complete(self, model: str = "support") -> Reply:
        return request("POST", self.url + "/v1/completions", {"model": model, "prompt": "hi"}, timeout=5)

    def info(self, model: str = "support") -> dict[str, Any]:
        found: dict[str, Any] = request("GET", f"{self.url}/-/gitmodel/info?model={model}").json()
        return found

    def log(self) -> str:
        return self.err.read_text()


@pytest.mark.slow
def test_a_gateway_killed_by_sigkill_leaves_nothing_and_its_restart_serves(tmp_path: Path) -> None:
    root = host_versions(tmp_path / "root", "v1.0.0")
    port, ports = free_port(), [free_port(), free_port()]
    host = {
        "root": str(root),
        "gateway": {"listen": f"127.0.0.1:{port}"},
        "models": {"support": {"backend": {"kind": "reference", "ports": ports}}},
    }
    (tmp_path / "host.yaml").write_text(json.dumps(host))
    gateways: list[GatewayProcess] = []
    tokens: list[str] = []
    try:
        first = GatewayProcess(tmp_path, port, 1)
        gateways.append(first)
        wait_for(first.serves, timeout=30)
        server = int(str(first.info()["pid"]))
        token = json.loads((root / leftovers.RUN_FILE).read_text())["token"]
        tokens.append(token)
        first.proc.kill()  # SIGKILL: no drain, no stop, nothing cleaned up
        first.proc.wait(5)
        started = time.monotonic()
        second = GatewayProcess(tmp_path, port, 2)  # at once, on the same ports
        gateways.append(second)
        wait_for(second.serves, timeout=30)
        took = time.monotonic() - started
        assert running_pids(server) == [] and leftovers.carriers(token, 0) == []
        assert "already in use" not in second.log(), second.log()
        assert second.complete().headers["X-Gitmodel-Version"] == "v1.0.0"
        print(f"\nSIGKILLed gateway restarted on the same ports: serving again after {took:.2f} s")

        # Without a restart: the servers die with the gateway (the kernel's death signal).
        server = int(str(second.info()["pid"]))
        token = json.loads((root / leftovers.RUN_FILE).read_text())["token"]
        tokens.append(token)
        second.proc.kill()
        second.proc.wait(5)
        wait_for(lambda: running_pids(server) == [], timeout=10)
        assert leftovers.carriers(token, 0) == []
    finally:
        for gw in gateways:
            gw.proc.kill()
            gw.proc.wait(5)
        for token in tokens:  # a failed run must not leave servers on a shared machine
            leftovers.stop(leftovers.carriers(token, 0), 1.0)


# A changed host file: applied on SIGHUP and on a reload, refused whole when it is broken.


def write_host(path: Path, root: Path, backends: dict[str, list[int]], **gateway: Any) -> None:
    """A host file giving each model a `reference` backend on its two ports (JSON is YAML)."""
    models = {m: {"backend": {"kind": "reference", "ports": ports}} for m, ports in backends.items()}
    path.write_text(json.dumps({"root": str(root), "gateway": gateway, "models": models}))


def test_a_reread_applies_backends_and_settings_and_refuses_a_broken_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = host_versions(tmp_path / "root", "v1.0.0")
    path, token = tmp_path / "host.yaml", tmp_path / "token"
    token.write_text("one\n")
    write_host(path, root, {"support": [8101, 8102]}, token_file=str(token))
    gw, _, _ = make(root, localconfig.host_file(path), Options(drain=7))
    assert gw.reread is not None and gw.supervisor.backend("support") == Reference(ports=(8101, 8102))
    settings, timeouts = gw.settings, gw.supervisor.timeouts

    write_host(path, root, {"support": [8201, 8202]}, token_file=str(token), route_header="X-User", drain=2)
    token.write_text("two\n")  # rotated in place
    caplog.set_level("INFO", "gitmodel.gateway")
    gw.reread()
    assert gw.supervisor.backend("support") == Reference(ports=(8201, 8202))
    assert (settings.token, settings.route_header, settings.drain, timeouts.drain) == ("two", "X-User", 7, 7)
    assert caplog.messages[-1] == (
        f"{path} read again: support: a new backend; a new token; route header X-User"
    )  # drain: the flag wins over the file

    caplog.clear()
    for broken in (
        "models: {support: {backend: {kind: nope, ports: [1, 2]}}}",
        "root: [unclosed",
        f"root: {root}\ngateway: {{token_file: {tmp_path / 'missing'}}}",
    ):
        path.write_text(broken)
        gw.reread()
    assert gw.supervisor.backend("support") == Reference(ports=(8201, 8202))
    assert (settings.token, settings.route_header) == ("two", "X-User")
    assert len(caplog.messages) == 3
    for line in caplog.messages:
        assert line.startswith(f"{path} refused: ") and line.endswith("; the settings read before stay")
        assert "\n" not in line
    assert "models.support.backend.kind" in caplog.messages[0]
    assert "missing" in caplog.messages[2]


@pytest.mark.slow
def test_sighup_and_a_reload_apply_the_host_file_to_running_models(tmp_path: Path) -> None:
    root = host_versions(tmp_path / "root", "v1.0.0")
    host_versions(root, "v1.0.0", model="chat")
    port = free_port()
    a, b, c = [free_port(), free_port()], [free_port(), free_port()], [free_port(), free_port()]
    path = tmp_path / "host.yaml"
    write_host(path, root, {"support": a}, listen=f"127.0.0.1:{port}")
    tokens: list[str] = []
    gw = GatewayProcess(tmp_path, port, 1)
    try:
        wait_for(lambda: gw.complete().status == 200 if _up(gw) else False, timeout=30)
        tokens.append(json.loads((root / leftovers.RUN_FILE).read_text())["token"])
        assert gw.complete("chat").status == 503  # no backend for chat yet
        old = gw.info()["pid"]

        # chat gets a backend, support moves to other ports: both by SIGHUP
        write_host(path, root, {"support": b, "chat": c}, listen=f"127.0.0.1:{port}")
        gw.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: gw.complete("chat").status == 200, timeout=30)
        wait_for(lambda: gw.info()["base_url"].rsplit(":", 1)[1] in map(str, b), timeout=30)
        wait_for(lambda: running_pids(old) == [], timeout=15)  # drained and stopped
        assert gw.complete().headers["X-Gitmodel-Version"] == "v1.0.0"
        pids = (gw.info()["pid"], gw.info("chat")["pid"])

        # a broken file: one line in the log, everything serves on as before
        path.write_text("models: {support: {backend: {kind: reference, ports: [1]}}}")
        gw.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "the settings read before stay" in gw.log(), timeout=10)
        assert (gw.info()["pid"], gw.info("chat")["pid"]) == pids
        assert gw.complete().status == 200 and gw.complete("chat").status == 200

        # chat taken out of the file: the reload that names it stops it
        write_host(path, root, {"support": b}, listen=f"127.0.0.1:{port}")
        reloaded = request("POST", f"{gw.url}/-/gitmodel/reload?model=chat")
        assert reloaded.status == 409 and "names no backend for chat" in reloaded.json()["error"]
        wait_for(lambda: running_pids(pids[1]) == [], timeout=15)
        assert gw.complete("chat").status == 503 and gw.info()["pid"] == pids[0]
        refusals = [line for line in gw.log().splitlines() if " refused: " in line and "host.yaml" in line]
        assert refusals == [
            f"gitmodel gateway: {path} refused: {path}: models.support.backend.ports must be two "
            "different TCP ports, e.g. [8101, 8102], not [1]; the settings read before stay"
        ]
    finally:
        gw.proc.kill()
        gw.proc.wait(5)
        for token in tokens:
            leftovers.stop(leftovers.carriers(token, 0), 1.0)


def _up(gw: GatewayProcess) -> bool:
    try:
        return request("GET", gw.url + "/health", timeout=1).status in (200, 503)
    except OSError:
        return False
