"""The host file's `backend:` mapping: every kind parses, every mistake is one line naming the field."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from gitmodel import validate as v
from gitmodel.backends import config
from gitmodel.backends.command import Command, fill
from gitmodel.backends.llama_cpp import LlamaCpp
from gitmodel.backends.ollama import Ollama
from gitmodel.backends.reference import Reference
from gitmodel.backends.router import Router
from gitmodel.backends.vllm import Vllm
from gitmodel.errors import EXIT_USAGE

AT = v.Field("/etc/gitmodel/host.yaml", "backend")
EXE = sys.executable


def parse(mapping: Any) -> Any:
    return config.parse(mapping, AT)


def test_each_kind_parses_to_its_backend() -> None:
    llama = parse({"kind": "llama-cpp", "binary": EXE, "args": "-c 2048 --threads 2", "ports": [8101, 8102]})
    assert isinstance(llama, LlamaCpp) and llama.args == ("-c", "2048", "--threads", "2")
    assert llama.host == "127.0.0.1" and llama.kind == "llama-cpp"
    assert isinstance(parse({"kind": "llama-cpp-router", "binary": EXE, "port": 8100}), Router)
    assert isinstance(parse({"kind": "vllm", "url": "http://127.0.0.1:8000/"}), Vllm)
    assert parse({"kind": "vllm", "url": "http://127.0.0.1:8000/"}).url == "http://127.0.0.1:8000"
    assert isinstance(parse({"kind": "ollama", "url": "http://127.0.0.1:11434"}), Ollama)
    assert isinstance(parse({"kind": "reference", "ports": [8101, 8102]}), Reference)
    cmd = parse(
        {
            "kind": "command",
            "start": f"{EXE} -m http.server {{port}} --directory {{dir}}",
            "health": "http://127.0.0.1:{port}/",
            "ports": [8101, 8102],
        }
    )
    assert isinstance(cmd, Command) and cmd.start_argv[-1] == "{dir}"
    assert set(config.kinds()) == {"llama-cpp", "llama-cpp-router", "vllm", "ollama", "command", "reference"}


@pytest.mark.parametrize(
    ("mapping", "expect"),
    [
        ("llama-cpp", "backend must be a mapping with a kind"),
        ({"binary": EXE}, "backend.kind is missing; use one of llama-cpp"),
        ({"kind": "tgi"}, "backend.kind must be one of llama-cpp, llama-cpp-router, vllm"),
        (
            {"kind": "llama-cpp", "binray": EXE, "ports": [1, 2]},
            "backend.binray is not a backend setting; did you mean binary?",
        ),
        ({"kind": "llama-cpp", "ports": [1, 2]}, "backend.binary is missing"),
        (
            {"kind": "llama-cpp", "binary": "llama-server", "ports": [1, 2]},
            "backend.binary must be an absolute path",
        ),
        (
            {"kind": "llama-cpp", "binary": "/nonexistent/llama-server", "ports": [1, 2]},
            "is not an executable file",
        ),
        (
            {"kind": "llama-cpp", "binary": EXE, "ports": [8101]},
            "backend.ports must be two different TCP ports",
        ),
        ({"kind": "llama-cpp", "binary": EXE, "ports": [8101, 8101]}, "backend.ports must be two different"),
        (
            {"kind": "llama-cpp", "binary": EXE, "ports": [1, 2], "args": ["-m", "x.gguf"]},
            "backend.args may not set -m",
        ),
        ({"kind": "llama-cpp", "binary": EXE, "ports": [1, 2], "args": ["--port=9"]}, "may not set --port"),
        (
            {"kind": "llama-cpp", "binary": EXE, "ports": [1, 2], "host": "0.0.0.0"},
            "backend.host must be a loopback",
        ),
        ({"kind": "llama-cpp-router", "binary": EXE, "port": 70000}, "backend.port must be a TCP port"),
        (
            {"kind": "llama-cpp-router", "binary": EXE, "port": 1, "args": ["--models-dir", "/m"]},
            "may not set --models-dir",
        ),
        ({"kind": "vllm", "url": "127.0.0.1:8000"}, "backend.url must be an http:// or https:// URL"),
        ({"kind": "ollama"}, "backend.url is missing"),
        (
            {"kind": "command", "start": "srv {port}", "health": "http://127.0.0.1:{port}/", "ports": [1, 2]},
            "must start with an absolute path",
        ),
        (
            {
                "kind": "command",
                "start": f"{EXE} {{file}}",
                "health": "http://127.0.0.1:{port}/",
                "ports": [1, 2],
            },
            "unknown placeholder {file}",
        ),
        (
            {
                "kind": "command",
                "start": f"{EXE} {{port}}",
                "health": "http://127.0.0.1:8000/",
                "ports": [1, 2],
            },
            "backend.health must contain {port}",
        ),
        (
            {
                "kind": "command",
                "start": f"{EXE} {{port}}",
                "health": "http://10.0.0.7:{port}/",
                "ports": [1, 2],
            },
            "must be a loopback http URL",
        ),
        (
            {
                "kind": "command",
                "start": f"{EXE} '{{port}}",
                "health": "http://127.0.0.1:{port}/",
                "ports": [1, 2],
            },
            "cannot be split into arguments",
        ),
    ],
)
def test_a_mistake_is_one_line_naming_the_field(mapping: Any, expect: str) -> None:
    with pytest.raises(v.ConfigError) as caught:
        parse(mapping)
    message = caught.value.message
    assert expect in message and "\n" not in message, message
    assert message.startswith("/etc/gitmodel/host.yaml: backend")
    assert caught.value.exit_code == EXIT_USAGE


def test_placeholders_are_replaced_inside_one_argument_never_through_a_shell() -> None:
    values = {"port": "8101", "path": "/srv/m/versions/v1.0.0/a b;rm -rf ~.gguf"}
    argv = [fill(a, values) for a in ("--model={path}", "{port}", "{unknown}")]
    assert argv == ["--model=/srv/m/versions/v1.0.0/a b;rm -rf ~.gguf", "8101", "{unknown}"]


def test_the_binary_must_be_executable(tmp_path: Path) -> None:
    plain = tmp_path / "llama-server"
    plain.write_text("not a program")
    with pytest.raises(v.ConfigError, match="is not an executable file"):
        parse({"kind": "llama-cpp", "binary": str(plain), "ports": [1, 2]})
