"""The one HTTP client: a GET or a POST with a deadline, a bounded body and one proxy rule.

Every endpoint gitmodel calls is internal: a server's reload and info URLs on the host
it deploys to, and the Prometheus server or /metrics page next to those servers.  So the
rule is: **never use the environment's proxies** (HTTP_PROXY, HTTPS_PROXY, NO_PROXY are
ignored).  A host's proxy variables are set for the outside world (pip, package mirrors,
the DVC remote's own client); sent through them, an internal request at best fails and
at worst comes back as the proxy's 403/502 page, which a deploy would read as the
server's answer and revert on.  NO_PROXY cannot fix that reliably: urllib matches it
by host-name suffix only (no CIDR ranges), so `10.0.0.7` or a bare service name still
goes to the proxy unless someone remembers to list it.  One rule that does not depend
on the environment is also one a test can prove.  An endpoint only reachable through a
proxy is not supported: give gitmodel its direct URL.

Any HTTP status is an answer and comes back as a `Response`; only silence raises
(`Unreachable`, exit 4, naming the URL).  Only http and https URLs are followed, also
across redirects, so a URL in gitmodel.yaml can never read a local file.
"""

from __future__ import annotations

import base64
import http.client
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from gitmodel.errors import RemoteUnreachable, UsageError

MAX_BODY = 1 << 20  # an info or reload answer is a few hundred bytes; 1 MiB is generous
_CHUNK = 1 << 16
_SCHEMES = ("http", "https")


class Unreachable(RemoteUnreachable):
    """Nobody answered `url` in time (refused, reset, timed out, no such host)."""

    def __init__(self, url: str, why: str) -> None:
        super().__init__(f"{shown(url)} did not answer ({why}); check that it runs and the URL is right")
        self.url = url
        self.why = why


class BadURL(UsageError):
    def __init__(self, url: str, why: str) -> None:
        super().__init__(f"cannot use URL {shown(url)!r}: {why}; give an http:// or https:// URL")
        self.url = url


class TooLarge(UsageError):
    def __init__(self, url: str, limit: int) -> None:
        super().__init__(
            f"{shown(url)} answered more than {limit} bytes, which no endpoint gitmodel reads "
            "should; check the URL"
        )
        self.url = url


@dataclass(frozen=True)
class Response:
    url: str  # as `shown`: without credentials
    status: int
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The body as JSON; None when it is empty or not JSON."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:  # UnicodeDecodeError is one too
            return None

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; {} when it is anything else."""
        data = self.json()
        return data if isinstance(data, dict) else {}

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def get(url: str, *, timeout: float, limit: int = MAX_BODY) -> Response:
    return _request("GET", url, None, timeout, limit)


def post(url: str, payload: Any = None, *, timeout: float, limit: int = MAX_BODY) -> Response:
    """POST `payload` as JSON (None: an empty body)."""
    return _request("POST", url, payload, timeout, limit)


def request(method: str, url: str, payload: Any = None, *, timeout: float, limit: int = MAX_BODY) -> Response:
    """Another method (DELETE, HEAD) with an optional JSON payload: the HTTP-managed servers' APIs."""
    return _request(method, url, payload, timeout, limit)


def upload(url: str, path: Path, *, timeout: float, limit: int = MAX_BODY) -> Response:
    """POST the bytes of the file PATH, streamed from disk (a model pushed to its server)."""
    with path.open("rb") as body:
        return _request("POST", url, None, timeout, limit, (body, path.stat().st_size))


def shown(url: str) -> str:
    """`url` fit for a message: no credentials, no query string."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        return url.split("?")[0]


def _request(
    method: str,
    url: str,
    payload: Any,
    timeout: float,
    limit: int,
    stream: tuple[IO[bytes], int] | None = None,
) -> Response:
    _check(url)
    data: bytes | IO[bytes] | None = (
        None if method in ("GET", "HEAD") else b"" if payload is None else json.dumps(payload).encode()
    )
    headers = {} if payload is None else {"Content-Type": "application/json"}
    if stream is not None:
        data = stream[0]
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(stream[1])}
    target, auth = _credentials(url)
    if auth:
        headers["Authorization"] = auth
    try:
        request = urllib.request.Request(target, data=data, headers=headers, method=method)
    except ValueError as exc:
        raise BadURL(url, str(exc)) from None
    deadline = time.monotonic() + timeout
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            return Response(shown(url), answer.status, _read(answer, url, limit, deadline))
    except urllib.error.HTTPError as exc:  # an answer with an error status: still an answer
        with exc:
            try:
                body = _read(exc, url, limit, deadline) if exc.fp is not None else b""
            except OSError:  # the status is the answer; a torn error page adds nothing
                body = b""
        return Response(shown(url), exc.code, body)
    except urllib.error.URLError as exc:
        raise Unreachable(url, _reason(exc.reason)) from None
    except OSError as exc:  # reset, or timed out after the headers
        raise Unreachable(url, _reason(exc)) from None
    except http.client.HTTPException as exc:  # something answered, but not in HTTP
        raise Unreachable(url, f"not an HTTP answer: {type(exc).__name__}") from None
    except ValueError as exc:  # urllib's word for a URL it cannot use (no host, bad port)
        raise BadURL(url, str(exc)) from None


def _read(answer: IO[bytes], url: str, limit: int, deadline: float) -> bytes:
    """At most `limit` bytes, all of them by the deadline (give or take one socket timeout).

    The socket timeout alone bounds each read, not the whole: a server dripping one byte
    a second would never time out."""
    chunks: list[bytes] = []
    size = 0
    # read1: whatever has arrived, so the deadline is checked while a slow body trickles in.
    read = getattr(answer, "read1", answer.read)
    while chunk := read(min(_CHUNK, limit + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise TooLarge(url, limit)
        if time.monotonic() > deadline:
            raise Unreachable(url, "the answer did not finish in time")
    return b"".join(chunks)


def _credentials(url: str) -> tuple[str, str | None]:
    """`http://user:pass@host/` as basic auth (a Prometheus behind a password): urllib alone
    would look the whole `user:pass@host` up as a host name."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
    return urlunsplit(parts._replace(netloc=host)), f"Basic {token}"


def _check(url: str) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError as exc:
        raise BadURL(url, str(exc)) from None
    if parts.scheme.lower() not in _SCHEMES:
        raise BadURL(url, "only http and https are supported")
    if not parts.hostname:
        raise BadURL(url, "it names no host")


def _reason(reason: object) -> str:
    if isinstance(reason, TimeoutError):
        return "timed out"
    return str(getattr(reason, "strerror", None) or reason)


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to http(s), never to ftp or a local file; basic-auth
    credentials go along only to the same host and port."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        target = urlsplit(newurl)
        if target.scheme.lower() not in _SCHEMES:
            raise urllib.error.HTTPError(newurl, code, f"redirect to {shown(newurl)} refused", headers, fp)
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and target.netloc != urlsplit(req.full_url).netloc:
            new.remove_header("Authorization")
        return new


# An empty ProxyHandler replaces the default one, which reads the environment's proxies.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _Redirects())
