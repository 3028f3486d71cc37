"""What one client may cost the server (connections, bytes, seconds) and who may reload it.

Each connection carries one request (HTTP/1.0) and holds a thread, so three bounds keep
a hostile or broken client from starving the others: a cap on connections per client
address (beyond it: 429 at once, no thread), a cap on all connections (503), and a
deadline for the whole request, line, headers and body together (408).  The deadline is
what a per-read socket timeout is not: a client dripping one byte a second never trips a
read timeout, but it runs out of deadline.  docs/server.md lists the figures.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import io
import ipaddress
import json
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

TOKEN_ENV = "GITMODEL_SERVE_RELOAD_TOKEN"
LINGER = 0.25  # seconds to keep reading after an error answer (see linger)
LOG_EVERY = 10.0  # seconds between "turned away" log lines: a flood must not flood the log


@dataclass(frozen=True)
class Limits:
    max_body: int = 1 << 20  # a toy prompt; anything larger is a client bug
    max_connections: int = 64
    max_per_client: int = 16
    deadline: float = 10.0  # seconds for a whole request to arrive; also for each write
    reload_token: str | None = None  # None: POST /reload from loopback peers only

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Limits:
        return cls(reload_token=env.get(TOKEN_ENV) or None)


class Gate:
    """Counts open connections, in total and per client address."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._open: Counter[str] = Counter()
        self._refused = 0  # turned away since the last log line
        self._logged = float("-inf")

    def enter(self, peer: str) -> tuple[int, str] | None:
        """None when the connection may go on; else the status and reason to turn it away."""
        with self._lock:
            if self._open[peer] >= self.limits.max_per_client:
                self._refused += 1
                return 429, f"{peer} already has {self.limits.max_per_client} connections open"
            if self._open.total() >= self.limits.max_connections:
                self._refused += 1
                return 503, f"the server is at its cap of {self.limits.max_connections} connections"
            self._open[peer] += 1
            return None

    def refusals_to_log(self, now: float) -> int:
        """How many turn-aways to report now: all since the last report, at most one report
        per LOG_EVERY seconds (0: nothing to say yet)."""
        with self._lock:
            if not self._refused or now - self._logged < LOG_EVERY:
                return 0
            count, self._refused, self._logged = self._refused, 0, now
            return count

    def leave(self, peer: str) -> None:
        with self._lock:
            self._open[peer] -= 1
            if self._open[peer] <= 0:
                del self._open[peer]


def turn_away(sock: socket.socket, status: int, reason: str) -> None:
    """Answer `status` on a connection that gets no thread, without ever blocking the accept loop."""
    body = (json.dumps({"error": f"{reason}; retry later"}) + "\n").encode()
    phrase = {429: "Too Many Requests", 503: "Service Unavailable"}[status]
    head = (
        f"HTTP/1.0 {status} {phrase}\r\nServer: gitmodel-serve\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    )
    try:
        sock.setblocking(False)
        # Read what has already arrived: closing on unread bytes sends a reset, which can
        # reach the client before it has read our answer.
        for _ in range(16):  # bounded: a client flooding bytes cannot hold the accept loop
            if not sock.recv(1 << 16):
                break
    except OSError:
        pass
    try:
        sock.send(head.encode() + body)
        sock.shutdown(socket.SHUT_WR)
    except OSError:  # a full buffer or a client already gone: the close says enough
        pass


def linger(sock: socket.socket, seconds: float = LINGER) -> None:
    """After an error answer to a request we did not read to its end: stop writing, then
    read (and drop) what still arrives for a moment before the close.  Closing on unread
    bytes sends a reset, which can reach the client before it has read our answer; this
    is nginx's "lingering close", bounded in time and reads."""
    end = time.monotonic() + seconds
    try:
        sock.shutdown(socket.SHUT_WR)
        for _ in range(64):
            left = end - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(left)
            if not sock.recv(1 << 16):
                break
    except OSError:  # timed out, or the client is gone: either way, time to close
        pass


class DeadlineReader(io.RawIOBase):
    """A socket's read side that fails with TimeoutError once `deadline` (monotonic) passes."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request did not arrive in time")
        self.sock.settimeout(left)
        return self.sock.recv_into(buffer)


def is_loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost"
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 from a dual-stack socket
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


def reload_refusal(limits: Limits, peer: str, authorization: str | None) -> tuple[int, str] | None:
    """None when this peer may POST /reload; else the status and the one-line reason."""
    if limits.reload_token is None:
        if is_loopback(peer):
            return None
        return 403, (
            f"POST /reload is accepted from loopback only; set {TOKEN_ENV} on the server "
            "to accept it from other hosts with that token"
        )
    given = _token(authorization or "")
    if given is not None and hmac.compare_digest(given.encode(), limits.reload_token.encode()):
        return None
    return 401, (
        "POST /reload needs the server's reload token: send `Authorization: Bearer TOKEN`, "
        "or use the reload URL http://gitmodel:TOKEN@HOST:PORT/reload"
    )


def _token(authorization: str) -> str | None:
    """The token from `Bearer TOKEN`, or the password of `Basic base64(user:TOKEN)`."""
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None
