"""The `llama-cpp` backend against a real llama-server and tiny real llama GGUFs.

Skips with the way to build the binary when it is missing (`make llama-server`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from plugin.backend_stubs import VllmStub
from plugin.llama import cmdlines_naming, complete
from plugin.server import free_port

from gitmodel import validate as v
from gitmodel.backends import config, process
from gitmodel.backends.base import Backend, BackendRefused, Instance, VersionFiles

AT = v.Field("host.yaml", "backend")
Versions = Callable[..., VersionFiles]


def llama(binary: Path, ports: list[int] | None = None) -> Backend:
    ports = ports or [free_port(), free_port()]
    return config.parse(
        {
            "kind": "llama-cpp",
            "binary": str(binary),
            "ports": ports,
            "args": ["-c", "256", "-t", "1", "-np", "1"],
        },
        AT,
    )


def assert_nothing_left(instance: Instance) -> None:
    assert instance.pid is not None
    assert process.group_members(instance.pid) == []
    assert cmdlines_naming(instance.files.artifact) == []


@pytest.mark.slow
def test_two_versions_run_side_by_side_and_each_proves_its_own(
    llama_server_bin: Path, llama_versions: Versions
) -> None:
    backend = llama(llama_server_bin)
    v1, v2 = llama_versions("v1.0.0", 1), llama_versions("v2.0.0", 2)
    one = backend.start(v1, 0, 30)
    two = backend.start(v2, 1, 30)
    try:
        assert backend.confirm(one) is None and backend.confirm(two) is None
        # Greedy decoding: each version answers the same every time, and the two differ.
        first, second = complete(one.base_url), complete(two.base_url)
        assert first == complete(one.base_url) and second == complete(two.base_url)
        assert first != second and first.strip() and second.strip()
        # v1's files asked of v2's process: the kernel says it maps another file.
        crossed = Instance(v1, two.base_url, pid=two.pid, state=two.state)
        assert f"does not map or hold {v1.artifact}" in (backend.confirm(crossed) or "")
        # A refused model on a port another llama-server answers: refused, not mistaken for it.
        bad = llama_versions("v3.0.0", 3, broken=True)
        with pytest.raises(BackendRefused, match="exited with code"):
            backend.start(bad, 0, 30)
        assert backend.confirm(one) is None
        # An instance naming a PID other than the one started for it.
        assert "the process started for it is pid" in (backend.confirm(replace(one, pid=two.pid)) or "")
    finally:
        backend.stop(one, 5)
        backend.stop(two, 5)
    assert_nothing_left(one)
    assert_nothing_left(two)
    assert "exited" in (backend.confirm(one) or "") or "signal" in (backend.confirm(one) or "")


def test_a_model_llama_refuses_is_refused_in_under_a_second(
    llama_server_bin: Path, llama_versions: Versions
) -> None:
    backend = llama(llama_server_bin)
    bad = llama_versions("v1.0.0", 1, broken=True)
    started = time.monotonic()
    with pytest.raises(BackendRefused) as caught:
        backend.start(bad, 0, 60)
    took = time.monotonic() - started
    message = caught.value.message
    assert took < 1.0, took
    assert "\n" not in message and len(message) < 400
    assert (
        message.startswith("llama-server for acme:support v1.0.0 on port") and "exited with code" in message
    )
    assert cmdlines_naming(bad.artifact) == []


def test_a_port_held_by_another_server_is_refused_at_once(
    llama_server_bin: Path, llama_versions: Versions
) -> None:
    other = VllmStub()
    try:
        backend = llama(llama_server_bin, [int(other.url.rsplit(":", 1)[1]), free_port()])
        files = llama_versions("v1.0.0", 1)
        started = time.monotonic()
        with pytest.raises(BackendRefused, match="exited with code"):
            backend.start(files, 0, 30)
        assert time.monotonic() - started < 2.0
        assert cmdlines_naming(files.artifact) == []
    finally:
        other.close()


def test_the_model_is_given_by_its_version_directory_never_current(
    llama_server_bin: Path, llama_versions: Versions
) -> None:
    files = llama_versions("v1.0.0", 1)
    current = files.directory.parent.parent / "current"
    current.symlink_to(files.directory)
    through = replace(files, directory=current, artifact=current / "model.gguf")
    argv = llama(llama_server_bin).argv(through, 8101)  # type: ignore[attr-defined]
    assert argv[argv.index("-m") + 1] == str(files.artifact)  # resolved: it names v1.0.0
    other = llama_versions("v2.0.0", 2)
    with pytest.raises(BackendRefused, match=r"not inside the directory of v1\.0\.0"):
        llama(llama_server_bin).start(replace(files, directory=other.directory), 0, 5)
