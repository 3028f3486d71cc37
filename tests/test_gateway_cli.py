"""`gitmodel gateway` as a command and a process: host file lines, one-line refusals, SIGTERM drain."""

from __future__ import annotations

import json
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from plugin.gateway import request
from plugin.server import free_port, make_version, swap_current, wait_for

from gitmodel import localconfig
from gitmodel.cli.main import cli
from gitmodel.errors import UsageError
from gitmodel.gateway.config import Options, backend_for, make
from gitmodel.validate import ConfigError

TESTS = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def gateway_logger() -> Iterator[None]:
    """The command sends the gateway's log to stderr; later tests in this process must not see it."""
    logger = logging.getLogger("gitmodel.gateway")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers, logger.level, logger.propagate = saved


def host_file(tmp_path: Path, text: str) -> localconfig.HostFile:
    path = tmp_path / "host.yaml"
    path.write_text(text)
    return localconfig.host_file(path)


def test_the_host_file_holds_gateway_settings_and_backends(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t0ken\n")
    host = host_file(
        tmp_path,
        f"""
root: {tmp_path}
backend: {{kind: llama-cpp, binary: /opt/llama-server, ports: [8101, 8102]}}
gateway: {{listen: "127.0.0.1:8900", token_file: {token}, route_header: X-User, drain: 5, start_timeout: 9}}
models:
  support:
    backend: {{kind: reference, ports: [8201, 8202]}}
    reload: {{url: "http://127.0.0.1:8900/-/gitmodel/reload?model=support"}}
    info_url: "http://127.0.0.1:8900/-/gitmodel/info?model=support"
  acme/chat: {{info_url: "http://127.0.0.1:8900/-/gitmodel/info?model=acme/chat"}}
""",
    )
    mapping, at = host.backend("support") or ({}, None)
    assert mapping == {"kind": "reference", "ports": [8201, 8202]}
    assert str(at).endswith("host.yaml: models.support.backend")
    default = host.backend("acme:chat")
    assert default is not None and default[0]["kind"] == "llama-cpp" and str(default[1]).endswith(": backend")
    gw, address, port = make(tmp_path, host, Options())
    assert (address, port) == ("127.0.0.1", 8900)
    settings = gw.settings
    assert (settings.token, settings.route_header, settings.drain) == ("t0ken", "X-User", 5.0)
    assert gw.supervisor.timeouts.start == 9.0
    _, _, port = make(tmp_path, host, Options(listen="127.0.0.1:0"))
    assert port == 0


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            "gateway: {listen: 'localhost'}",
            "gateway.listen must be HOST:PORT like 127.0.0.1:8000, not 'localhost'",
        ),
        ("gateway: {route_header: 'X Route'}", "gateway.route_header must be a header name"),
        ("gateway: {token_file: relative/token}", "gateway.token_file must be an absolute path"),
        ("gateway: {listn: x}", "listn"),
        ("models: {support: {backend: llama-cpp}}", "models.support.backend must be a mapping"),
    ],
)
def test_a_bad_gateway_line_is_refused_naming_the_field(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        host_file(tmp_path, text)
    assert words in caught.value.message and "\n" not in caught.value.message


def test_a_model_without_a_backend_says_where_to_add_one(tmp_path: Path) -> None:
    host = host_file(tmp_path, "models: {support: {info_url: 'http://127.0.0.1:1/info'}}\n")
    with pytest.raises(UsageError) as caught:
        backend_for(host)("support")
    assert caught.value.message.startswith(
        f"{tmp_path / 'host.yaml'} names no backend for support; add `models:"
    )


def test_an_empty_token_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("\n")
    host = host_file(tmp_path, f"gateway: {{token_file: {tmp_path / 'token'}}}\n")
    with pytest.raises(UsageError, match="is empty; write a long random token"):
        make(tmp_path, host, Options())


def test_the_command_refuses_a_port_in_use_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            cli, ["gateway", "--root", str(tmp_path), "--listen", f"127.0.0.1:{port}"]
        )
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"gitmodel: error: 127.0.0.1:{port} is already in use; pick another --listen"
    )


def test_the_command_needs_a_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(localconfig.HOST_ENV, str(tmp_path / "none.yaml"))
    result = CliRunner().invoke(cli, ["gateway"])
    assert result.exit_code == 2 and "give --root DIR" in result.stderr


@pytest.mark.slow
def test_sighup_reloads_and_sigterm_drains_stops_backends_and_exits_0(tmp_path: Path) -> None:
    root = tmp_path / "root"
    make_version(root, "support", "v1.0.0", artifact="model.bin", data=b"v1")
    make_version(root, "support", "v1.1.0", artifact="model.bin", data=b"v2")
    swap_current(root, "support", "v1.0.0")
    port, events = free_port(), tmp_path / "events.json"
    code = "import sys; sys.path.insert(0, sys.argv.pop(1)); from plugin.gateway import main; main()"
    plans = json.dumps({"v1.1.0": {"delay": 1.5}})
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(TESTS), str(root), str(port), plans, str(events)],
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _health(url) == 200, timeout=20)
        swap_current(root, "support", "v1.1.0")
        proc.send_signal(signal.SIGHUP)
        info = f"{url}/-/gitmodel/info?model=support"
        wait_for(lambda: request("GET", info).json()["version"] == "v1.1.0", timeout=20)
        answers: list[Any] = []
        slow = threading.Thread(
            target=lambda: answers.append(request("POST", url + "/v1/completions", {"prompt": "x"}))
        )
        slow.start()
        time.sleep(0.3)  # the request is at the backend now
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        with pytest.raises(ConnectionRefusedError):  # the listener closed at once
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        slow.join(10)
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        stderr = proc.communicate()[1]
    assert answers[0].status == 200 and answers[0].headers["X-Gitmodel-Version"] == "v1.1.0"
    assert json.loads(events.read_text()) == [
        ["start", "v1.0.0", 0],
        ["start", "v1.1.0", 1],
        ["stop", "v1.0.0", 0],
        ["stop", "v1.1.0", 1],
    ]
    assert stderr.strip().splitlines()[-1] == "gitmodel gateway: stopped (SIGTERM)"


def _health(url: str) -> int:
    try:
        return request("GET", url + "/health", timeout=1).status
    except OSError:
        return 0
