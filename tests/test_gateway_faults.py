"""Faults of `gitmodel gateway` with real processes on 127.0.0.1: a backend that dies holding a
request gets it once, never twice."""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from plugin.gateway import GatewayThread, host_versions
from plugin.server import free_port

from gitmodel import validate as v
from gitmodel.backends import command
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
