"""`status --info-url` checks which model the server reports before comparing versions.

Real servers on 127.0.0.1: `gitmodel serve` (in this process) for another model, and a
bare HTTP server answering a chosen /info document.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from plugin.registry import Registry
from plugin.server import make_version, swap_current

from gitmodel.host.status import status
from gitmodel.server.app import App
from gitmodel.server.handler import Server
from gitmodel.server.limits import Limits


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A host serving support v1.0.0 (what `released` puts in production), and other v1.0.0."""
    root = tmp_path / "host"
    for name in ("support", "other"):
        make_version(root, name, "v1.0.0", artifact=f"{name}.gguf", gguf_seed=3)
        swap_current(root, name, "v1.0.0")
    return root


@pytest.fixture
def listen() -> Iterator[Callable[[ThreadingHTTPServer], str]]:
    """listen(server): serve it on its own thread; returns its base URL."""
    running: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    def start(server: ThreadingHTTPServer) -> str:
        loop = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        loop.start()
        running.append((server, loop))
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server, loop in running:
        server.shutdown()
        loop.join(timeout=5)
        server.server_close()


def gitmodel_serve(root: Path, model: str) -> ThreadingHTTPServer:
    app = App(root, model)
    app.start()
    return Server(("127.0.0.1", 0), app, Limits())


def info_server(document: dict[str, Any]) -> ThreadingHTTPServer:
    body = json.dumps(document).encode()

    class Info(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Info)


def row(registry: Registry, root: Path, url: str) -> dict[str, Any]:
    data = status(registry.root, "production", root, "support", fetch=False, info_url=f"{url}/info").to_json()
    (only,) = data["models"]
    return only  # type: ignore[no-any-return]


def test_another_models_server_with_the_same_version_is_not_serving(
    released: Registry, root: Path, listen: Any
) -> None:
    """Before: SERVING v1.0.0, in sync, because `other` also runs v1.0.0."""
    url = listen(gitmodel_serve(root, "other"))
    got = row(released, root, url)
    assert got["serving"] is None and got["info_url"] == f"{url}/info"
    assert got["drift"] == [] and got["in_sync"] is True  # unknown is not drift
    (note,) = got["notes"]
    assert note == (
        f"serving unknown: info endpoint {url}/info reports model 'other', not support; "
        "give support its own info_url (host file `models: {support: {info_url: URL}}`)"
    )


def test_another_models_server_with_another_version_is_not_drift(
    released: Registry, root: Path, listen: Any
) -> None:
    """Before: DRIFT, "the server reports 'v9.9.9' but current holds v1.0.0"."""
    url = listen(info_server({"model": "acme/other", "version": "v9.9.9", "canary": {"version": "v9.9.8"}}))
    got = row(released, root, url)
    assert (got["serving"], got["drift"], got["in_sync"]) == (None, [], True)
    assert "reports model 'acme/other', not support" in got["notes"][0]
    assert got["canary"] is None  # the other model's canary is not compared either


@pytest.mark.parametrize("named", [None, 7, "", "../x"])
def test_a_model_field_that_names_no_model_is_unknown(
    released: Registry, root: Path, listen: Any, named: Any
) -> None:
    url = listen(info_server({"model": named, "version": "v1.0.0"}))
    got = row(released, root, url)
    assert (got["serving"], got["drift"]) == (None, [])
    assert got["notes"][0].startswith(f"serving unknown: info endpoint {url}/info reports model {named!r}")


def test_this_models_server_is_still_compared(released: Registry, root: Path, listen: Any) -> None:
    url = listen(gitmodel_serve(root, "support"))
    got = row(released, root, url)
    assert (got["serving"], got["drift"], got["notes"], got["in_sync"]) == ("v1.0.0", [], [], True)
    # Its own model reporting a wrong version is drift, as before.
    url = listen(info_server({"model": "support", "version": "v1.1.0"}))
    got = row(released, root, url)
    assert got["serving"] == "v1.1.0" and got["notes"] == []
    assert got["drift"] == ["the server reports 'v1.1.0' but current holds v1.0.0"]


def test_an_answer_naming_no_model_is_taken_at_its_word(released: Registry, root: Path, listen: Any) -> None:
    url = listen(info_server({"version": "v1.0.0"}))
    got = row(released, root, url)
    assert (got["serving"], got["notes"], got["in_sync"]) == ("v1.0.0", [], True)


def test_cli_prints_the_one_line_explanation(released: Registry, root: Path, listen: Any) -> None:
    url = listen(gitmodel_serve(root, "other"))
    result = released.ok(
        "status", "production", "--root", str(root), "support", "--no-fetch", "--info-url", f"{url}/info"
    )
    lines = result.stderr.splitlines() + result.stdout.splitlines()
    assert (
        f"support: serving unknown: info endpoint {url}/info reports model 'other', not support; "
        in "\n".join(lines)
    )
    table = next(line for line in result.stdout.splitlines() if line.startswith("support"))
    assert "?" in table.split() and "in sync" in table and "DRIFT" not in result.stdout
