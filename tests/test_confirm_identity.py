"""A deploy's confirmation checks which model the info endpoint reports, not only the version.

Before: `wait_for` took any answer with the right version, so another model's server that
happens to run v1.0.0 confirmed our deploy.  Now an answer naming another model is "not
this model": keep polling, then revert with a line saying which model answered.  An answer
that names no model is taken on its version alone, as before (docs/host.md).
Real HTTP servers on 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from plugin.attacks import refused, run_git
from plugin.registry import Registry

from gitmodel import hostlayout
from gitmodel.host import reload


class Info:
    """A real /info endpoint on 127.0.0.1 whose JSON document a test can change."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        info = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps(info.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/info"

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)
        self.server.server_close()


@pytest.fixture
def info() -> Iterator[Info]:
    server = Info({})
    yield server
    server.stop()


# --- reload.wait_for / other_model (pure enough to run in-process) --------------------------


@pytest.mark.parametrize(
    ("document", "accepted"),
    [
        ({"model": "support", "version": "v1.0.0"}, True),
        ({"model": "acme/support", "version": "v1.0.0"}, False),
        ({"version": "v1.0.0"}, True),  # names no model: taken at its word, as before
        ({"model": "other", "version": "v1.0.0"}, False),
        ({"model": None, "version": "v1.0.0"}, False),  # a claim we cannot read is not ours
    ],
)
def test_wait_for_takes_only_this_models_answer(info: Info, document: dict[str, Any], accepted: bool) -> None:
    info.document = document
    problem, _ = reload.wait_for(info.url, "v1.0.0", 0.3, model="support")
    assert (problem is None) == accepted
    if not accepted:
        assert problem is not None and not problem.unreachable  # an answer that says no: exit 1
        assert f"answers for model {document['model']!r}, not support" in problem.detail
        assert "give support its own info_url" in problem.detail


def test_namespaced_names_compare_as_parsed() -> None:
    assert reload.other_model({"model": "acme/support"}, "acme:support") is None
    assert reload.other_model({"model": "acme:support"}, "acme/support") is None
    assert reload.other_model({"model": "acme/other"}, "acme:support") == "'acme/other'"
    assert reload.other_model({"version": "v1"}, "support") is None


def test_watch_keeps_polling_past_another_model_until_ours_answers(info: Info) -> None:
    """A server restarting with our model after another's: the later answer is taken."""
    info.document = {"model": "other", "version": "v1.0.0"}
    timer = threading.Timer(0.3, lambda: setattr(info, "document", {"model": "support", "version": "v1.0.0"}))
    timer.start()
    try:
        problem, waited = reload.wait_for(info.url, "v1.0.0", 5.0, model="support")
    finally:
        timer.cancel()
    assert problem is None and waited >= 0.25


# --- a deploy end to end -------------------------------------------------------------------


@pytest.fixture
def host(released: Registry, tmp_path: Path) -> tuple[Registry, Path, Path]:
    run_git(released.root, "push", "-q", "--no-verify", "origin", "--tags")
    clone = tmp_path / "host-clone"
    run_git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(clone))
    return released, clone, tmp_path / "root"


def _deploy(host: tuple[Registry, Path, Path], url: str) -> Any:
    registry, clone, root = host
    return registry.run(
        "deploy",
        "production",
        "support",
        "--root",
        str(root),
        "--info-url",
        url,
        "--health-timeout",
        "0.5",
        cwd=clone,
    )


@pytest.mark.slow
def test_a_deploy_confirmed_by_another_models_server_is_reverted(
    host: tuple[Registry, Path, Path], info: Info
) -> None:
    info.document = {"model": "other", "version": "v1.0.0"}  # same version, wrong model
    err = refused(_deploy(host, info.url), 1, "answers for model 'other', not support", "not confirmed")
    assert "removed `current`" in err
    assert not hostlayout.current_link(host[2], "support").exists()

    info.document = {"version": "v1.0.0"}  # no model named: accepted as before
    result = _deploy(host, info.url)
    assert result.exit_code == 0, result.stderr
    assert hostlayout.current_version(host[2], "support") is not None


@pytest.mark.slow
def test_already_serving_asks_which_model(host: tuple[Registry, Path, Path], info: Info) -> None:
    """A converged host whose info URL now reaches another model's v1.0.0 is not "nothing to do"."""
    info.document = {"model": "support", "version": "v1.0.0"}
    first = _deploy(host, info.url)
    assert first.exit_code == 0, first.stderr
    info.document = {"model": "other", "version": "v1.0.0"}
    again = _deploy(host, info.url)
    assert again.exit_code == 1 and "answers for model 'other'" in again.stderr, again.stderr
