"""The gateway's own HTTP/1.1 client (gateway/upstream.py) against raw servers on 127.0.0.1:
bodies by length, by chunks and to the close; keep-alive reuse; a connection the server closed
while idle is replaced, not failed; a broken answer is one UpstreamError."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from gitmodel.gateway.upstream import Client, Unchunk, UpstreamError

Reply = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]]  # True: keep the connection


async def serving(reply: Reply, test: Callable[[str, list[int]], Awaitable[None]]) -> list[int]:
    """Run `test(base_url, connections)` against a server answering each request with `reply`."""
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                await reader.readexactly(length)
                if not await reply(reader, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        await test(f"http://127.0.0.1:{port}", connections)
    finally:
        server.close()
    return connections


def run(reply: Reply, test: Callable[[str, list[int]], Awaitable[None]]) -> list[int]:
    return asyncio.run(asyncio.wait_for(serving(reply, test), 10))


async def by_length(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    body = b'{"ok": true}'
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    writer.write(body[:5])  # the body in two writes: read to its length, not to the first packet
    await writer.drain()
    writer.write(body[5:])
    return True


def test_bodies_by_length_reuse_one_connection() -> None:
    async def test(url: str, connections: list[int]) -> None:
        client = Client(1.0, 5.0)
        for _ in range(3):
            answer = await client.pool(url).post("/v1/completions", b"{}", {"X-Request-Id": "r1"})
            assert (answer.status, answer.headers["content-length"]) == (200, "12")
            assert await answer.read() == b'{"ok": true}'
        client.close()

    assert run(by_length, test) == [1]


def test_chunked_body_is_decoded_chunk_by_chunk() -> None:
    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        for event in (b"data: 1\n\n", b"data: [DONE]\n\n"):
            writer.write(b"%x\r\n%s\r\n" % (len(event), event))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        return True

    async def test(url: str, connections: list[int]) -> None:
        client = Client(1.0, 5.0)
        for _ in range(2):
            answer = await client.pool(url).post("/v1/completions", b"{}", {})
            assert b"".join([c async for c in answer.chunks()]) == b"data: 1\n\ndata: [DONE]\n\n"

    assert run(chunked, test) == [1]


def test_a_connection_closed_while_idle_is_replaced() -> None:
    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        await by_length(reader, writer)
        return False  # keep-alive promised, then closed: what an idle timeout does

    async def test(url: str, connections: list[int]) -> None:
        client = Client(1.0, 5.0)
        for _ in range(3):
            answer = await client.pool(url).post("/v1/completions", b"{}", {})
            assert await answer.read() == b'{"ok": true}'
            await asyncio.sleep(0.05)

    assert run(once, test) == [1, 1, 1]


def test_a_body_to_the_close_and_an_answer_cut_short() -> None:
    async def http10(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it")
        return False

    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
        return False

    async def to_close(url: str, connections: list[int]) -> None:
        answer = await Client(1.0, 5.0).pool(url).post("/", b"", {})
        assert await answer.read() == b"all of it" and not answer.keep

    async def short(url: str, connections: list[int]) -> None:
        answer = await Client(1.0, 5.0).pool(url).post("/", b"", {})
        with pytest.raises(UpstreamError, match="broke off"):
            await answer.read()

    run(http10, to_close)
    run(cut, short)


def test_not_http_and_no_answer_are_upstream_errors() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
        return False

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        return False

    async def expect(url: str, connections: list[int], match: str) -> None:
        with pytest.raises(UpstreamError, match=match):
            await Client(1.0, 5.0).pool(url).post("/", b"", {})

    run(garbage, lambda url, c: expect(url, c, "not an HTTP answer"))
    run(silent, lambda url, c: expect(url, c, "closed the connection without an answer"))

    async def refused() -> None:
        with pytest.raises(ConnectionRefusedError):
            await Client(1.0, 5.0).pool("http://127.0.0.1:9").post("/", b"", {})

    asyncio.run(refused())


def test_chunked_framing_split_anywhere_and_broken() -> None:
    wire = b"9\r\ndata: 1\n\n\r\n3;ext=1\r\nabc\r\n0\r\n\r\n"
    for cut in range(len(wire) + 1):  # the bytes may arrive split at any point
        unchunk = Unchunk()
        got = unchunk.feed(wire[:cut]) + unchunk.feed(wire[cut:])
        assert (got, unchunk.ended) == (b"data: 1\n\nabc", True)
    byte_by_byte = Unchunk()
    assert b"".join(byte_by_byte.feed(wire[i : i + 1]) for i in range(len(wire))) == b"data: 1\n\nabc"
    with pytest.raises(ValueError):
        Unchunk().feed(b"zz\r\n")
    with pytest.raises(ValueError, match="over 1 KiB"):
        Unchunk().feed(b"1" * 2000)


def test_a_silent_backend_times_out_and_its_connection_is_not_reused() -> None:
    answered: list[bool] = []

    async def first_then_silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        if not answered:
            answered.append(True)
            return await by_length(reader, writer)
        await asyncio.sleep(2)  # longer than the client's read timeout
        return False

    async def test(url: str, connections: list[int]) -> None:
        pool = Client(1.0, 0.3).pool(url)
        assert await (await pool.post("/", b"", {})).read() == b'{"ok": true}'
        with pytest.raises(TimeoutError):
            await pool.post("/", b"", {})  # on the pooled connection, which then is closed
        assert pool._idle == []

    run(first_then_silent, test)
