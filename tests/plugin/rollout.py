"""Rollout helpers: expositions, canned Prometheus answers, a tiny HTTP server, real Prometheus.

The registry with a stable version and a staged candidate is the `model` fixture, a copy
of a session template (plugin.templates).

`exposition()` builds real Prometheus text with the reference server's own metrics class,
so the parsers are tested against what `gitmodel serve` writes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest


def exposition(model: str, versions: dict[str, dict[str, Any]]) -> str:
    """Prometheus text as `gitmodel serve` writes it.

    versions: {"v1.0.0": {"ok": [seconds...], "errors": [seconds...], "tokens": (prompt, completion)}}
    """
    from gitmodel.server.metrics import Metrics

    m = Metrics()
    for version, spec in versions.items():
        m.set_loaded(model, "stable", version, None)
        for s in spec.get("ok", []):
            m.observe(model, version, s, 200)
        for s in spec.get("errors", []):
            m.observe(model, version, s, 500)
        if "tokens" in spec:
            m.count_tokens(model, version, *spec["tokens"])
    body, _ = m.exposition()
    return body.decode()


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler], path: str = "") -> Iterator[str]:
    """Run `handler` on a loopback port; yield its URL (plus `path`)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{path}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def http_server(answer: Callable[[str], tuple[int, str, str]]) -> Iterator[str]:
    """A loopback HTTP server answering GETs with answer(path) -> (status, content type, body)."""

    class Handler(_Quiet):
        def do_GET(self) -> None:
            status, ctype, body = answer(self.path)
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    with _serving(Handler) as url:
        yield url


@contextmanager
def receiver(status: int = 200, path: str = "") -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A loopback webhook (alerts, notify) keeping each POST's path, headers and JSON body;
    it answers `status`, and its URL ends in `path`."""
    got: list[dict[str, Any]] = []

    class Handler(_Quiet):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append({"path": self.path, "headers": dict(self.headers), "json": json.loads(body)})
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    with _serving(Handler, path) as url:
        yield url, got


def user_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str) -> Path:
    """This machine's user config file (GITMODEL_CONFIG) holding `text`."""
    path = tmp_path / "user-config.yaml"
    path.write_text(text)
    monkeypatch.setenv("GITMODEL_CONFIG", str(path))
    return path


def metrics_page(text: Callable[[], str]) -> Callable[[str], tuple[int, str, str]]:
    def answer(path: str) -> tuple[int, str, str]:
        if path.split("?")[0] == "/metrics":
            return 200, "text/plain; version=0.0.4", text()
        return 404, "text/plain", "no"

    return answer


def prom_vector(rows: list[tuple[dict[str, str], float]]) -> str:
    return json.dumps(
        {
            "status": "success",
            "data": {
                "resultType": "vector",
                "result": [{"metric": labels, "value": [1700000000.0, str(value)]} for labels, value in rows],
            },
        }
    )


class PrometheusProcess:
    """Debian's `prometheus` on a free loopback port, scraping `targets` every second.

    Skips the test (saying why) when the binary is missing, rather than faking it.
    """

    def __init__(self, workdir: Path, targets: list[str]) -> None:
        import shutil as sh
        import subprocess

        from plugin.server import free_port

        exe = sh.which("prometheus")
        if exe is None:
            pytest.skip(
                "Prometheus is not installed (Debian: apt-get install -y prometheus); "
                "this end-to-end test needs the real server"
            )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = workdir / "prometheus.yml"
        cfg.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            "  - job_name: gitmodel\n"
            f"    static_configs: [{{targets: {json.dumps(targets)}}}]\n"
        )
        self.log = workdir / "prometheus.log"
        self._log = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                exe,
                f"--config.file={cfg}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            cwd=workdir,
        )

    def wait_ready(self, timeout: float = 30.0) -> PrometheusProcess:
        from plugin.server import http, wait_for

        def ready() -> bool:
            if self.proc.poll() is not None:
                tail = self.log.read_text()[-2000:]
                raise AssertionError(f"prometheus exited {self.proc.returncode}: {tail}")
            try:
                return http("GET", self.url + "/-/ready", timeout=1.0).status == 200
            except OSError:
                return False

        wait_for(ready, timeout=timeout, step=0.1)
        return self

    def value(self, promql: str) -> float | None:
        """One instant query's single value (None when the result is empty)."""
        import urllib.parse

        from plugin.server import http

        query = urllib.parse.urlencode({"query": promql})
        resp = http("GET", self.url + "/api/v1/query?" + query, timeout=5.0)
        result = resp.json()["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    def stop(self) -> None:
        import subprocess

        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()
