"""A minimal HTTP/1.1 client for the backends: keep-alive connections, one request at a time each.

aiohttp's client was half of the gateway's CPU per proxied request (cProfile, bench/README.md):
sessions, URL objects, header multidicts, trace hooks and timers per request.  A backend is
a local server speaking plain HTTP/1.1, so this client does only what a proxy to it needs:
write the request in one go, read the status line and headers, then the body by
Content-Length, by chunks (Transfer-Encoding: chunked, how llama-server streams), or until
the server closes.  A connection whose answer was read to its end goes back to its pool.

A request is sent at most once to a backend: a second send after a crash would run the
generation twice (double cost, double side effects).  A pooled connection the backend closed
while idle is seen before anything is written to it (poll: its FIN is in the socket even when
the event loop has not run since) and replaced; a request is sent again on a new connection
only when the close came before all of its bytes reached the kernel.  Once they did, the
backend may hold it: a close without an answer is then an UpstreamError, never a retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

_IDLE_PER_BACKEND = 64  # idle keep-alive connections kept per backend; more are closed
_MAX_HEAD = 64 << 10  # a status line and headers beyond this are not a backend's answer


class UpstreamError(OSError):
    """The backend broke the protocol or the connection."""


class Unsent(UpstreamError):
    """The connection broke before the whole request was written: the backend cannot hold it."""


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.fd = writer.get_extra_info("socket").fileno()
        # drain() then returns only once every byte is in the kernel: "sent" is provable
        writer.transport.set_write_buffer_limits(high=0)

    def usable(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()

    def quiet(self) -> bool:
        """Nothing arrived while idle: no FIN, no reset, no stray bytes (one poll(2), no wait)."""
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        return not poller.poll(0)

    def close(self) -> None:
        self.writer.close()


class Answer:
    """A backend's answer: status and headers read; the body is read by `read` or `chunks`."""

    def __init__(self, pool: Pool, conn: Connection, status: int, headers: dict[str, str], timeout: float):
        self.status, self.headers = status, headers  # header names in lower case
        self._pool, self._conn, self._timeout = pool, conn, timeout
        self._done = False
        self.chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        length = headers.get("content-length")
        self.length = int(length) if length is not None and length.isdigit() else None
        if status in (204, 304):
            self.length, self.chunked = 0, False
        self.keep = headers.get("connection", "").lower() != "close" and (
            self.chunked or self.length is not None
        )

    async def read(self) -> bytes:
        if self.length is None or self.chunked:
            return b"".join([chunk async for chunk in self.chunks()])
        try:  # the usual answer: one read, no generator
            async with asyncio.timeout(self._timeout):
                data = await self._conn.reader.readexactly(self.length)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise UpstreamError(f"the answer broke off ({type(exc).__name__})") from None
        self._done = True
        self.release()
        return data

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives; the connection is pooled again once it is read to its end."""
        reader = self._conn.reader
        try:
            if self.chunked:
                # One read per arrival, every complete chunk in it yielded at once: a stream's
                # events are small and many, so two awaits per chunk would cost more than the data.
                unchunk = Unchunk()
                while not unchunk.ended:
                    async with asyncio.timeout(self._timeout):
                        data = await reader.read(1 << 16)
                    if not data:
                        raise UpstreamError("the stream ended before its last chunk")
                    out = unchunk.feed(data)
                    if out:
                        yield out
            elif self.length is not None:
                left = self.length
                while left:
                    async with asyncio.timeout(self._timeout):
                        data = await reader.read(min(left, 1 << 16))
                    if not data:
                        raise UpstreamError(f"the answer ended {left} bytes early")
                    left -= len(data)
                    yield data
            else:  # neither: the body ends when the backend closes the connection
                while True:
                    async with asyncio.timeout(self._timeout):
                        data = await reader.read(1 << 16)
                    if not data:
                        break
                    yield data
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, ConnectionError) as exc:
            # ConnectionError too: a reset by the backend is not the client hanging up
            raise UpstreamError(f"the answer broke off ({type(exc).__name__})") from None
        self._done = True
        self.release()

    def release(self) -> None:
        """Pool the connection when the answer was read to its end, else close it (stops a generation)."""
        conn, self._conn = self._conn, None  # type: ignore[assignment]
        if conn is None:
            return
        if self._done and self.keep:
            self._pool.put(conn)
        else:
            conn.close()


class Unchunk:
    """Transfer-Encoding: chunked, decoded from whatever bytes have arrived."""

    def __init__(self) -> None:
        self.buffer = b""
        self.ended = False

    def feed(self, data: bytes) -> bytes:
        buf, out = self.buffer + data, []
        while True:
            end = buf.find(b"\r\n")
            if end < 0:
                if len(buf) > 1024:
                    raise ValueError("a chunk size line over 1 KiB")
                break
            size = int(buf[:end].split(b";", 1)[0], 16)  # ValueError: not chunked framing
            if size == 0:  # the last chunk; a backend we proxy sends no trailers
                if len(buf) < end + 4:
                    break
                self.ended = True
                buf = b""
                break
            if len(buf) < end + 4 + size:
                break
            out.append(buf[end + 2 : end + 2 + size])
            buf = buf[end + 4 + size :]
        self.buffer = buf
        return b"".join(out)


class Pool:
    """Keep-alive connections to one backend (host, port)."""

    def __init__(self, host: str, port: int, connect_timeout: float, read_timeout: float) -> None:
        self.host, self.port = host, port
        self.hostport = f"{host}:{port}".encode()
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self._idle: list[Connection] = []

    def put(self, conn: Connection) -> None:
        if len(self._idle) < _IDLE_PER_BACKEND and conn.usable():
            self._idle.append(conn)
        else:
            conn.close()

    async def _connect(self) -> Connection:
        async with asyncio.timeout(self.connect_timeout):
            reader, writer = await asyncio.open_connection(self.host, self.port, limit=_MAX_HEAD)
        return Connection(reader, writer)

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> Answer:
        head = [b"POST ", path.encode(), b" HTTP/1.1\r\nHost: ", self.hostport, b"\r\n"]
        for name, value in headers.items():
            head += [name.encode(), b": ", value.encode("latin-1", "replace"), b"\r\n"]
        head += [b"Content-Length: ", str(len(body)).encode(), b"\r\n\r\n", body]
        request = b"".join(head)
        while self._idle:
            conn = self._idle.pop()
            if not conn.usable() or not conn.quiet():  # closed while idle: nothing was written to it
                conn.close()
                continue
            try:
                return await self._exchange(conn, request)
            except Unsent:
                break  # the backend cannot hold the request: once more on a new connection
        return await self._exchange(await self._connect(), request)

    async def _exchange(self, conn: Connection, request: bytes) -> Answer:
        """Send REQUEST once and read the answer's head; the connection is closed on any failure."""
        try:
            conn.writer.write(request)
            try:
                await conn.writer.drain()
            except ConnectionError as exc:
                raise Unsent(
                    f"the connection broke before the request was sent ({type(exc).__name__})"
                ) from None
            try:
                async with asyncio.timeout(self.read_timeout):
                    head = await conn.reader.readuntil(b"\r\n\r\n")
            except asyncio.LimitOverrunError:
                raise UpstreamError("the answer's headers are over 64 KiB") from None
            except asyncio.IncompleteReadError as exc:
                if exc.partial:
                    raise UpstreamError("the answer broke off in its headers") from None
                raise UpstreamError("the backend closed the connection without an answer") from None
            except ConnectionError as exc:
                raise UpstreamError(f"the connection broke before an answer ({type(exc).__name__})") from None
        except BaseException:  # a timeout, a cancelled request: the connection is in an unknown state
            conn.close()
            raise
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            conn.close()
            raise UpstreamError(f"not an HTTP answer: {lines[0][:80]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if parts[0] == "HTTP/1.0" and headers.get("connection", "").lower() != "keep-alive":
            headers["connection"] = "close"
        return Answer(self, conn, int(parts[1]), headers, self.read_timeout)

    def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()


class Client:
    """One pool per backend base URL (http://HOST:PORT)."""

    def __init__(self, connect_timeout: float, read_timeout: float) -> None:
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self._pools: dict[str, Pool] = {}

    def pool(self, base_url: str) -> Pool:
        found = self._pools.get(base_url)
        if found is None:
            url = urlsplit(base_url)
            host = url.hostname or "127.0.0.1"
            found = Pool(host, url.port or 80, self.connect_timeout, self.read_timeout)
            self._pools[base_url] = found
        return found

    def close(self) -> None:
        for pool in self._pools.values():
            with contextlib.suppress(Exception):
                pool.close()
        self._pools.clear()
