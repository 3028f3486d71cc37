"""The one HTTP client, the one poll and the one file lock, against real sockets and files."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gitmodel import http, lock, poll
from gitmodel.errors import EXIT_CONFLICT, EXIT_UNREACHABLE, EXIT_USAGE, ConflictError
from gitmodel.host import reload

Handler = Callable[[BaseHTTPRequestHandler], None]


class Server:
    """A real HTTP server on 127.0.0.1 whose answer a test chooses; it counts requests."""

    def __init__(self, answer: Handler) -> None:
        hits: list[str] = []
        self.hits = hits
        self.auth: list[str | None] = []
        auth = self.auth

        class _H(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(f"GET {self.path}")
                auth.append(self.headers.get("Authorization"))
                answer(self)

            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                hits.append(f"POST {self.path} {self.rfile.read(size).decode()}")
                answer(self)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def send(status: int, body: bytes, headers: dict[str, str] | None = None) -> Handler:
    def answer(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return answer


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], Server]]:
    servers: list[Server] = []

    def start(answer: Handler) -> Server:
        servers.append(Server(answer))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def dead_url() -> str:
    """A loopback port nobody listens on (bound, then closed)."""
    s = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = s.server_address[1]
    s.server_close()
    return f"http://127.0.0.1:{port}"


def test_get_and_post_json(serve: Callable[[Handler], Server]) -> None:
    server = serve(send(200, b'{"version": "v1.0.0"}'))
    got = http.get(server.url + "/info", timeout=2)
    assert (got.status, got.ok, got.json_object()) == (200, True, {"version": "v1.0.0"})
    posted = http.post(server.url + "/reload", {"a": 1}, timeout=2)
    assert posted.ok and server.hits == ["GET /info", 'POST /reload {"a": 1}']


def test_an_error_status_is_an_answer_with_its_body(serve: Callable[[Handler], Server]) -> None:
    server = serve(send(503, b'{"error": "nothing loaded"}'))
    got = http.get(server.url, timeout=2)
    assert (got.status, got.ok, got.json_object()) == (503, False, {"error": "nothing loaded"})
    assert http.get(serve(send(200, b"not json")).url, timeout=2).json() is None


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_environment_proxies_are_never_used(
    serve: Callable[[Handler], Server], monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    proxy = serve(send(502, b"proxy says no"))
    target = serve(send(200, b'{"ok": true}'))
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    got = http.get(target.url.replace("127.0.0.1", host) + "/info", timeout=2)
    assert got.json_object() == {"ok": True}
    assert proxy.hits == [] and target.hits == ["GET /info"]


def test_nobody_listening_is_unreachable_naming_the_url_without_secrets() -> None:
    base = dead_url()
    with pytest.raises(http.Unreachable) as caught:
        http.get(base.replace("http://", "http://user:s3cret@") + "/metrics?token=abc", timeout=2)
    err = caught.value
    assert err.exit_code == EXIT_UNREACHABLE
    assert str(err).startswith(f"{base}/metrics did not answer (Connection refused)")
    assert "s3cret" not in str(err) and "token" not in str(err) and "\n" not in str(err)


def test_credentials_in_the_url_become_basic_auth(serve: Callable[[Handler], Server]) -> None:
    server = serve(send(200, b"{}"))
    assert http.get(server.url.replace("http://", "http://ops:p%40ss@") + "/q", timeout=2).ok
    assert server.auth == [_basic("ops:p@ss")]
    assert http.get(server.url, timeout=2).ok and server.auth[-1] is None
    # A redirect to another host does not take the password along; one to the same host does.
    elsewhere = serve(send(200, b"{}"))
    away = serve(send(302, b"", {"Location": elsewhere.url + "/x"}))
    assert http.get(away.url.replace("http://", "http://ops:pw@"), timeout=2).ok
    assert away.auth == [_basic("ops:pw")] and elsewhere.auth == [None]


def _basic(userinfo: str) -> str:
    return "Basic " + base64.b64encode(userinfo.encode()).decode()


def test_a_silent_server_times_out(serve: Callable[[Handler], Server]) -> None:
    server = serve(lambda h: time.sleep(1.5))
    began = time.monotonic()
    with pytest.raises(http.Unreachable, match="timed out"):
        http.get(server.url, timeout=0.3)
    assert time.monotonic() - began < 1.2


def test_a_dripping_answer_is_bounded_by_the_deadline(serve: Callable[[Handler], Server]) -> None:
    def drip(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "100")
        h.end_headers()
        for _ in range(100):
            h.wfile.write(b"x")
            h.wfile.flush()
            time.sleep(0.05)

    began = time.monotonic()
    with pytest.raises(http.Unreachable, match="did not finish in time"):
        http.get(serve(drip).url, timeout=0.4)
    assert time.monotonic() - began < 1.5


def test_an_oversized_answer_is_refused(serve: Callable[[Handler], Server]) -> None:
    server = serve(send(200, b"x" * 1001))
    assert len(http.get(server.url, timeout=2, limit=1001).body) == 1001
    with pytest.raises(http.TooLarge) as caught:
        http.get(server.url, timeout=2, limit=1000)
    assert caught.value.exit_code == EXIT_USAGE and "more than 1000 bytes" in str(caught.value)


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://127.0.0.1/x", "localhost:8080/info", "http:///info", "http://h:99999/"],
)
def test_only_http_urls_with_a_host_are_used(url: str) -> None:
    with pytest.raises(http.BadURL) as caught:
        http.get(url, timeout=1)
    assert caught.value.exit_code == EXIT_USAGE


def test_a_redirect_to_a_local_file_is_not_followed(
    serve: Callable[[Handler], Server], tmp_path: Path
) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text('{"leaked": true}')
    server = serve(send(302, b"", {"Location": secret.as_uri()}))
    got = http.get(server.url, timeout=2)
    assert got.status == 302 and b"leaked" not in got.body
    followed = serve(send(302, b"", {"Location": serve(send(200, b"{}")).url + "/there"}))
    assert http.get(followed.url, timeout=2).ok


# --- the host's reload and info calls map the client's errors to Problems ---------------


def test_reload_url_answers_become_problems(serve: Callable[[Handler], Server]) -> None:
    refused = serve(send(409, b'{"error": "busy\\nloading"}'))
    problem, _ = reload._post(refused.url + "/reload", 2)
    assert problem is not None and not problem.unreachable
    assert problem.detail == f"reload URL {refused.url}/reload answered HTTP 409: busy loading"
    problem, _ = reload._post(dead_url(), 2)
    assert problem is not None and problem.unreachable and "did not answer" in problem.detail
    problem, _ = reload._post("file:///etc/passwd", 2)
    assert problem is not None and not problem.unreachable and "only http and https" in problem.detail


def test_info_reads_an_error_answer_with_json_but_not_silence(serve: Callable[[Handler], Server]) -> None:
    assert reload.info(serve(send(503, b'{"version": null}')).url) == {"version": None}
    assert reload.info(serve(send(500, b"oops")).url) is None
    assert reload.info(dead_url()) is None


# --- the one poll ---------------------------------------------------------------------


class FakeClock:
    def __init__(self, step: float = 0.0) -> None:
        self.t = 100.0
        self.slept: list[float] = []
        self.step = step  # seconds each look at the clock costs (0: a clock that stands still)

    def now(self) -> float:
        self.t += self.step
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


def test_poll_returns_the_first_good_answer() -> None:
    clock = FakeClock()
    answers = iter([None, None, "ok", "later"])
    fake = poll.Clock(clock.now, clock.sleep)
    polled = poll.until(lambda left: next(answers), timeout=5, interval=1, clock=fake)
    assert (polled.result, polled.waited, clock.slept) == ("ok", 2.0, [1, 1])


def test_poll_stops_at_the_deadline_and_passes_the_time_left() -> None:
    clock = FakeClock()
    lefts: list[float] = []
    polled = poll.until(
        lambda left: lefts.append(left), timeout=2.5, interval=1, clock=poll.Clock(clock.now, clock.sleep)
    )
    assert polled.result is None and lefts == [2.5, 1.5, 0.5] and polled.waited == 2.0


def test_poll_is_bounded_even_when_the_clock_stands_still() -> None:
    tries: list[float] = []
    still = poll.Clock(lambda: 0.0, lambda s: None)
    polled = poll.until(lambda left: tries.append(left), timeout=1, interval=0.1, clock=still)
    assert polled.result is None and len(tries) == 12


def test_wait_for_uses_the_injected_clock(serve: Callable[[Handler], Server]) -> None:
    server = serve(send(200, b'{"version": "v1.0.0"}'))
    clock = FakeClock()
    problem, waited = reload.wait_for(server.url, "v2.0.0", 1.0, clock=poll.Clock(clock.now, clock.sleep))
    assert problem is not None and "still reports 'v1.0.0' after 1 s, expected v2.0.0" in problem.detail
    assert len(server.hits) == 11 and waited == pytest.approx(1.0)


# --- the one file lock ----------------------------------------------------------------


def enter(held: AbstractContextManager[None]) -> None:
    with held:
        pass


def test_lock_refuses_a_second_holder_with_the_callers_error(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"

    def busy(waited: float) -> ConflictError:
        return ConflictError(f"held, waited {waited:g} s")

    with lock.hold(path, 1, busy), pytest.raises(ConflictError, match=r"held, waited 0\.1 s") as caught:
        enter(lock.hold(path, 0.1, busy))
    assert caught.value.exit_code == EXIT_CONFLICT
    enter(lock.hold(path, 0.1, busy))  # the first holder released it on exit


def test_registry_lock_message(tmp_path: Path) -> None:
    with lock.locked(tmp_path), pytest.raises(ConflictError, match="another gitmodel command") as caught:
        enter(lock.locked(tmp_path, timeout=0.05))
    assert str(tmp_path / "gitmodel.lock") in str(caught.value)


def test_lock_in_an_unwritable_place_is_one_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "x.lock"
    (tmp_path / "no").write_text("a file, not a directory")
    with pytest.raises(Exception) as caught:
        enter(lock.hold(missing, 0.1, busy=lambda waited: ConflictError("held")))
    assert getattr(caught.value, "exit_code", None) == EXIT_USAGE
    assert str(missing) in str(caught.value)
