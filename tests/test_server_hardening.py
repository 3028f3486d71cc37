"""`gitmodel serve` under hostile clients and hostile files: real sockets on 127.0.0.x.

Every malformed request gets a 4xx and is never a 5xx in /metrics; a stalled or
greedy client cannot starve others; POST /reload is loopback-only or token-only; a
crafted GGUF header is refused in bounded time and memory.
"""

from __future__ import annotations

import json
import select
import socket
import struct
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from plugin.server import make_version, swap_current, two_gguf_versions, wait_for

from gitmodel import http
from gitmodel.gguf_header import MAX_DEPTH, MAX_HEADER_BYTES, InvalidGGUF, read_header
from gitmodel.server.app import App
from gitmodel.server.errors import InvalidArtifact
from gitmodel.server.handler import Server
from gitmodel.server.limits import TOKEN_ENV, Limits, reload_refusal
from gitmodel.server.runner import bind

Reply = tuple[int, dict[str, str], bytes]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return two_gguf_versions(tmp_path / "host")


@pytest.fixture
def serve(root: Path) -> Iterator[Callable[..., Server]]:
    """serve(**limits): `gitmodel serve`'s server in this process on 127.0.0.1, any free port."""
    started: list[tuple[Server, threading.Thread]] = []

    def start(**limits: Any) -> Server:
        app = App(root, "support")
        app.start()
        server = Server(("127.0.0.1", 0), app, Limits(**limits))
        loop = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        loop.start()
        started.append((server, loop))
        return server

    yield start
    for server, loop in started:
        server.shutdown()
        loop.join(timeout=5)
        server.server_close()


def port(server: Server) -> int:
    return int(server.server_address[1])


def connect(server: Server, source: str = "127.0.0.1", timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port(server)), timeout=timeout, source_address=(source, 0))


def read_reply(sock: socket.socket) -> Reply:
    """Read until the server closes (HTTP/1.0), bounded by the socket's timeout."""
    chunks = []
    for _ in range(10_000):
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def raw(server: Server, data: bytes, source: str = "127.0.0.1", half_close: bool = False) -> Reply:
    with connect(server, source) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        return read_reply(sock)


def post(path: str, body: bytes, *headers: str) -> bytes:
    head = [f"POST {path} HTTP/1.0", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def errors_total(server: Server) -> float:
    return server.app.metrics.errors.labels("support", "v1.0.0")._value.get()  # type: ignore[no-any-return]


COMPLETE = "/v1/completions"
MALFORMED: list[tuple[str, bytes, int]] = [
    ("bad JSON", post(COMPLETE, b"{"), 400),
    ("not UTF-8", post(COMPLETE, b'{"prompt": "\xff\xfe"}'), 400),
    ("lone surrogate", post(COMPLETE, b'{"prompt": "\\ud800"}'), 400),
    ("deeply nested", post(COMPLETE, b"[" * 200_000 + b"]" * 200_000), 400),
    ("nested prompt", post(COMPLETE, b'{"prompt": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"), 400),
    ("not an object", post(COMPLETE, b"[1, 2]"), 400),
    ("prompt not a string", post(COMPLETE, b'{"prompt": 3}'), 400),
    ("max_tokens a string", post(COMPLETE, b'{"prompt": "x", "max_tokens": "8"}'), 400),
    ("max_tokens negative", post(COMPLETE, b'{"prompt": "x", "max_tokens": -1}'), 400),
    ("max_tokens NaN", post(COMPLETE, b'{"prompt": "x", "max_tokens": NaN}'), 400),
    ("max_tokens 5000 digits", post(COMPLETE, b'{"prompt": "x", "max_tokens": 1' + b"0" * 5000 + b"}"), 400),
    ("oversized", b"POST /v1/completions HTTP/1.0\r\nContent-Length: 2000000\r\n\r\n", 413),
    ("length not a number", b"POST /v1/completions HTTP/1.0\r\nContent-Length: abc\r\n\r\n", 400),
    ("length negative", b"POST /v1/completions HTTP/1.0\r\nContent-Length: -5\r\n\r\n", 400),
    ("length unicode digit", "POST /v1/completions HTTP/1.0\r\nContent-Length: ²\r\n\r\n".encode(), 400),
    (
        "two lengths",
        b"POST /v1/completions HTTP/1.0\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        400,
    ),
    (
        "chunked",
        b"POST /v1/completions HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        411,
    ),
    ("unknown path", b"GET /nope HTTP/1.0\r\n\r\n", 404),
    ("unknown path POST", post("/nope", b"{}"), 404),
    ("PUT", b"PUT /info HTTP/1.0\r\nContent-Length: 0\r\n\r\n", 405),
    ("GET a POST endpoint", b"GET /v1/completions HTTP/1.0\r\n\r\n", 405),
    ("GET /reload", b"GET /reload HTTP/1.0\r\n\r\n", 405),
    ("made-up method", b"BREW /health HTTP/1.0\r\n\r\n", 405),
    ("HEAD", b"HEAD /health HTTP/1.0\r\n\r\n", 405),
    ("garbage line", b"HELLO\r\n\r\n", 400),
    ("HTTP/2.0 line", b"GET /health HTTP/2.0\r\n\r\n", 400),
    ("long request line", b"GET /" + b"a" * 9000 + b" HTTP/1.0\r\n\r\n", 414),
    ("101 headers", b"GET /health HTTP/1.0\r\n" + b"X-A: 1\r\n" * 101 + b"\r\n", 431),
    ("a 70 KB header", b"GET /health HTTP/1.0\r\nX-A: " + b"a" * 70_000 + b"\r\n\r\n", 431),
]


@pytest.mark.parametrize(("data", "status"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_requests_get_a_4xx_never_a_5xx(serve: Any, data: bytes, status: int) -> None:
    server = serve()
    got, headers, body = raw(server, data)
    assert got == status, body
    error = json.loads(body)["error"]
    assert isinstance(error, str) and error and "\n" not in error
    if status == 405:
        assert headers["allow"] in ("GET", "POST")
    assert errors_total(server) == 0
    ok = raw(server, post(COMPLETE, b'{"prompt": "still here"}'))  # and it keeps serving
    assert ok[0] == 200 and json.loads(ok[2])["version"] == "v1.0.0"


def test_a_body_shorter_than_its_length_is_a_400(serve: Any) -> None:
    server = serve()
    got, _, body = raw(
        server, b"POST /v1/completions HTTP/1.0\r\nContent-Length: 100\r\n\r\n{", half_close=True
    )
    assert got == 400 and "ended after 1 of 100 bytes" in json.loads(body)["error"]
    assert errors_total(server) == 0


def test_an_oversized_body_already_on_its_way_still_reads_the_413(serve: Any) -> None:
    server = serve(max_body=1000)
    with connect(server) as sock:
        sock.sendall(b"POST /v1/completions HTTP/1.0\r\nContent-Length: 200000\r\n\r\n")
        sock.sendall(b"x" * 60_000)  # unread by the server when it answers and closes
        got, _, body = read_reply(sock)
    assert got == 413 and "200000 bytes, over the limit of 1000" in json.loads(body)["error"]


def test_a_server_failure_is_still_answered(serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    server = serve()

    def broken() -> tuple[bytes, str]:
        raise RuntimeError("boom")

    monkeypatch.setattr(server.app.metrics, "exposition", broken)
    got, _, body = raw(server, b"GET /metrics HTTP/1.0\r\n\r\n")
    assert got == 500 and json.loads(body) == {"error": "internal error; see the server log"}


def test_slow_loris_headers_get_408_at_the_deadline(serve: Any) -> None:
    server = serve(deadline=0.4)
    start = time.monotonic()
    with connect(server) as sock:
        sock.sendall(b"GET /health HTTP/1.0\r\nX-Drip: ")
        for _ in range(40):  # one byte every 50 ms, until the answer: no read ever times out
            if select.select([sock], [], [], 0.05)[0]:
                break
            sock.sendall(b"a")
        got, _, body = read_reply(sock)
    assert got == 408 and "within 0.4 s" in json.loads(body)["error"]
    assert 0.35 < time.monotonic() - start < 1.5


def test_a_stalled_body_gets_408_and_is_no_server_error(serve: Any) -> None:
    server = serve(deadline=0.3)
    with connect(server) as sock:
        sock.sendall(b'POST /v1/completions HTTP/1.0\r\nContent-Length: 50\r\n\r\n{"prompt"')
        got, headers, _ = read_reply(sock)
    assert got == 408 and headers["x-gitmodel-version"] == "v1.0.0"
    assert errors_total(server) == 0
    requests = server.app.metrics.requests.labels("support", "v1.0.0")._value.get()
    assert requests == 1  # counted as a request, not as an error


def test_one_greedy_client_cannot_starve_the_others(serve: Any) -> None:
    server = serve(max_connections=4, max_per_client=2, deadline=0.5)
    stalled = [connect(server) for _ in range(2)]
    try:
        for sock in stalled:
            sock.sendall(b"GET /health HTTP/1.0\r\n")  # half a request, then nothing
        # Its third connection is turned away at once, without waiting for the deadline.
        start = time.monotonic()
        got, headers, body = raw(server, b"GET /health HTTP/1.0\r\n\r\n")
        assert got == 429 and headers["retry-after"] == "1" and "127.0.0.1" in json.loads(body)["error"]
        assert time.monotonic() - start < 0.3
        # Another client is served meanwhile.
        assert raw(server, b"GET /health HTTP/1.0\r\n\r\n", source="127.0.0.2")[0] == 200
        # Fill the server: 2 more stalled from a third address -> 4 open, the cap.
        stalled += [connect(server, "127.0.0.3") for _ in range(2)]
        for sock in stalled[2:]:
            sock.sendall(b"GET /health HTTP/1.0\r\n")
        assert raw(server, b"GET /health HTTP/1.0\r\n\r\n", source="127.0.0.4")[0] == 503
        # At the deadline the stalled ones get their 408 and the slots come back.
        assert [read_reply(sock)[0] for sock in stalled] == [408] * 4
        assert wait_for(lambda: raw(server, b"GET /health HTTP/1.0\r\n\r\n", source="127.0.0.4")[0] == 200, 2)
    finally:
        for sock in stalled:
            sock.close()


def test_a_slot_is_free_again_before_the_client_sees_the_close(serve: Any) -> None:
    server = serve(max_per_client=1)
    statuses = {raw(server, b"GET /health HTTP/1.0\r\n\r\n")[0] for _ in range(50)}
    assert statuses == {200}  # never a 429 from its own previous connection


def test_reload_is_loopback_only_by_default() -> None:
    limits = Limits()
    assert reload_refusal(limits, "127.0.0.1", None) is None
    assert reload_refusal(limits, "::1", None) is None
    assert reload_refusal(limits, "::ffff:127.0.0.1", None) is None
    status, why = reload_refusal(limits, "10.0.0.7", "Bearer x") or (0, "")
    assert status == 403 and TOKEN_ENV in why
    assert (reload_refusal(limits, "::ffff:10.0.0.7", None) or (0,))[0] == 403


@pytest.mark.parametrize(
    ("authorization", "allowed"),
    [
        (None, False),
        ("Bearer wrong", False),
        ("Bearer s3cret", True),
        ("bearer  s3cret ", True),
        ("Basic Z2l0bW9kZWw6czNjcmV0", True),  # gitmodel:s3cret
        ("Basic Z2l0bW9kZWw6d3Jvbmc=", False),  # gitmodel:wrong
        ("Basic !!!", False),
        ("Token s3cret", False),
    ],
)
def test_reload_token_rules(authorization: str | None, allowed: bool) -> None:
    limits = Limits(reload_token="s3cret")
    for peer in ("127.0.0.1", "10.0.0.7"):  # with a token, loopback needs it too
        refusal = reload_refusal(limits, peer, authorization)
        assert (refusal is None) == allowed
        if refusal:
            assert refusal[0] == 401


def test_reload_with_a_token_over_real_sockets(serve: Any, root: Path) -> None:
    server = serve(reload_token="s3cret")
    url = f"http://127.0.0.1:{port(server)}"
    swap_current(root, "support", "v1.1.0")
    refused = http.post(f"{url}/reload", timeout=5)
    assert refused.status == 401 and "reload token" in refused.json_object()["error"]
    assert http.get(f"{url}/info", timeout=5).json_object()["version"] == "v1.0.0"  # nothing reloaded
    assert server.app.metrics.reloads.labels("support", "ok")._value.get() == 0
    # The deployer's own client, with the token in the host file's reload URL.
    done = http.post(f"http://gitmodel:s3cret@127.0.0.1:{port(server)}/reload", timeout=5)
    assert done.status == 200 and done.json_object()["version"] == "v1.1.0"


def test_reload_from_loopback_without_a_token(serve: Any, root: Path) -> None:
    server = serve()
    swap_current(root, "support", "v1.1.0")
    answer = http.post(f"http://127.0.0.1:{port(server)}/reload", timeout=5)
    assert answer.status == 200 and answer.json_object()["version"] == "v1.1.0"


def test_bind_reads_the_token_from_the_environment(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "from-env")
    app = App(root, "support")
    server = bind(app, "127.0.0.1", 0)
    try:
        assert server.limits.reload_token == "from-env"
        assert server.limits.max_body == 1 << 20  # the documented defaults
        assert (server.limits.max_connections, server.limits.max_per_client) == (64, 16)
    finally:
        server.server_close()


# --- crafted GGUF headers ------------------------------------------------------------

U32, U64, STRING, ARRAY, UINT8 = "<I", "<Q", 8, 9, 0


def gguf(tensors: int, kvs: int, *body: bytes) -> bytes:
    return struct.pack("<4sIQQ", b"GGUF", 3, tensors, kvs) + b"".join(body)


def s(text: str) -> bytes:
    return struct.pack(U64, len(text)) + text.encode()


def kv(key: str, vtype: int, value: bytes) -> bytes:
    return s(key) + struct.pack(U32, vtype) + value


def nested(depth: int) -> bytes:
    """An array of one array of one array ... of nothing, `depth` arrays deep."""
    out = struct.pack("<IQ", UINT8, 0)
    for _ in range(depth - 1):
        out = struct.pack("<IQ", ARRAY, 1) + out
    return out


CRAFTED: list[tuple[str, bytes, str]] = [
    (
        "string array of 2^60",
        gguf(0, 1, kv("a", ARRAY, struct.pack("<IQ", STRING, 1 << 60))),
        "more than the header",
    ),
    ("uint8 array of 2^62", gguf(0, 1, kv("a", ARRAY, struct.pack("<IQ", UINT8, 1 << 62))), "ends early"),
    ("value string of 2^63", gguf(0, 1, kv("a", STRING, struct.pack(U64, 1 << 63))), "ends early"),
    ("key of 2^63", gguf(0, 1, struct.pack(U64, 1 << 63)), "ends early"),
    ("2^40 key-value pairs", gguf(0, 1 << 40), "entries in all"),
    ("2^40 tensors", gguf(1 << 40, 0), "entries in all"),
    ("arrays 10,000 deep", gguf(0, 1, kv("a", ARRAY, nested(10_000))), f"nested more than {MAX_DEPTH} deep"),
    (f"arrays {MAX_DEPTH + 1} deep", gguf(0, 1, kv("a", ARRAY, nested(MAX_DEPTH + 1))), "nested more than"),
    ("a 70 KB key", gguf(0, 1, kv("k" * 70_000, UINT8, b"\x00")), "bytes long (at most 65535)"),
]


@pytest.mark.parametrize(("data", "words"), [c[1:] for c in CRAFTED], ids=[c[0] for c in CRAFTED])
def test_crafted_gguf_headers_are_refused_in_bounded_time_and_memory(
    tmp_path: Path, data: bytes, words: str
) -> None:
    path = tmp_path / "evil.gguf"
    path.write_bytes(data + bytes(64))
    tracemalloc.start()
    start = time.monotonic()
    try:
        with pytest.raises(InvalidGGUF) as err:
            read_header(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert words in err.value.message and err.value.exit_code == 2
    assert time.monotonic() - start < 1.0
    assert peak < 2 << 20, peak


def test_nesting_within_the_bound_is_read(tmp_path: Path) -> None:
    path = tmp_path / "ok.gguf"
    path.write_bytes(gguf(0, 1, kv("a", ARRAY, nested(MAX_DEPTH))))
    assert read_header(path).kv_count == 1


def test_a_header_past_the_byte_bound_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.gguf"
    length = MAX_HEADER_BYTES + (8 << 20)  # a sparse string of zeros, past the bound
    path.write_bytes(gguf(0, 1, kv("general.chat", STRING, struct.pack(U64, length))))
    with open(path, "r+b") as fh:
        fh.truncate(length + 100)
    start = time.monotonic()
    with pytest.raises(InvalidGGUF, match=f"runs past {MAX_HEADER_BYTES} bytes"):
        read_header(path)
    assert time.monotonic() - start < 1.0


def test_the_item_budget_stops_a_long_walk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gitmodel.gguf_header as gh

    monkeypatch.setattr(gh, "MAX_ITEMS", 1000)
    path = tmp_path / "many.gguf"
    path.write_bytes(gguf(0, 1, kv("a", ARRAY, struct.pack("<IQ", STRING, 2000) + s("") * 2000)))
    with pytest.raises(InvalidGGUF, match="2000 array entries would take the header past 1000"):
        read_header(path)


def test_server_refuses_a_nested_gguf_at_start_and_at_reload(serve: Any, root: Path) -> None:
    evil = gguf(0, 1, kv("a", ARRAY, nested(10_000))) + bytes(64)
    make_version(root, "support", "v1.2.0", artifact="support.gguf", data=evil)
    server = serve()
    swap_current(root, "support", "v1.2.0")
    answer = http.post(f"http://127.0.0.1:{port(server)}/reload", timeout=5)
    assert answer.status == 409 and "nested more than" in answer.json_object()["error"]
    assert server.app.models.get() is not None and server.app.models.get().version == "v1.0.0"  # type: ignore[union-attr]
    with pytest.raises(InvalidArtifact, match="nested more than"):
        App(root, "support").start()
