"""The `command` and `reference` backends: real processes on 127.0.0.1, seen dying at once,
proven by the kernel (PID, port owner), stopped with nothing left in their group."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from plugin.backend_stubs import VllmStub
from plugin.llama import cmdlines_naming, version_files
from plugin.server import free_port, make_version

from gitmodel import validate as v
from gitmodel.backends import config, process
from gitmodel.backends.base import Backend, BackendRefused, BackendUnreachable, Instance, VersionFiles

pytestmark = pytest.mark.usefixtures("reap_servers")
AT = v.Field("host.yaml", "backend")
PY = sys.executable


@pytest.fixture
def versions(tmp_path: Path) -> Callable[[str], VersionFiles]:
    root = tmp_path / "root"
    return lambda version: version_files(
        make_version(root, "acme/support", version, gguf_seed=int(version[1]))
    )


def command(start: str, **extra: object) -> Backend:
    ports = [free_port(), free_port()]
    return config.parse(
        {"kind": "command", "start": start, "health": "http://127.0.0.1:{port}/", "ports": ports, **extra}, AT
    )


def http_server(tail: str = "") -> str:
    return f"{PY} -m http.server {{port}} --bind 127.0.0.1 --directory {{dir}}{tail}"


def assert_gone(instance: Instance) -> None:
    assert instance.pid is not None
    assert process.group_members(instance.pid) == []  # zombies awaiting init's reaping aside


@pytest.mark.slow
def test_a_command_starts_beside_another_is_confirmed_and_stops_whole(
    versions: Callable[[str], VersionFiles],
) -> None:
    backend = command(http_server())
    one = backend.start(versions("v1.0.0"), 0, 20)
    two = backend.start(versions("v2.0.0"), 1, 20)
    try:
        assert one.base_url != two.base_url and one.pid != two.pid
        assert backend.confirm(one) is None and backend.confirm(two) is None
        # The instance names a process that is not the one started for it: refused.
        mixed = replace(one, pid=two.pid)
        assert "the process started for it is pid" in (backend.confirm(mixed) or "")
    finally:
        backend.stop(one, 5)
        backend.stop(two, 5)
    assert_gone(one)
    assert_gone(two)
    assert "exited" in (backend.confirm(one) or "") or "killed" in (backend.confirm(one) or "")


def test_an_early_exit_is_refused_at_once_with_its_last_line(
    versions: Callable[[str], VersionFiles],
) -> None:
    backend = command("/bin/sh -c 'echo loading {path}; echo \"error: bad magic in {version}\" >&2; exit 3'")
    started = time.monotonic()
    with pytest.raises(BackendRefused) as caught:
        backend.start(versions("v1.0.0"), 0, 60)
    took = time.monotonic() - started
    message = caught.value.message
    # at once: the exit is noticed, not the 60 s start timeout (a bound a loaded box keeps)
    assert took < 20, took
    assert "\n" not in message
    assert "exited with code 3" in message and "error: bad magic in v1.0.0" in message, message


def test_stop_leaves_no_orphan_even_when_the_server_forks(versions: Callable[[str], VersionFiles]) -> None:
    backend = command(f"/bin/sh -c 'sleep 300 & exec {http_server()}'")
    instance = backend.start(versions("v1.0.0"), 0, 20)
    assert instance.pid is not None
    assert len(process.group_members(instance.pid)) == 2  # the server and the forked sleep
    backend.stop(instance, 5)
    assert_gone(instance)


def test_a_stop_command_runs_first_with_the_pid(
    versions: Callable[[str], VersionFiles], tmp_path: Path
) -> None:
    said = tmp_path / "stopped"
    stop = f"/bin/sh -c 'echo {{pid}} {{version}} > {said}; kill -TERM {{pid}}'"
    backend = command(http_server(), stop=stop)
    instance = backend.start(versions("v1.0.0"), 0, 20)
    backend.stop(instance, 5)
    assert said.read_text().split() == [str(instance.pid), "v1.0.0"]
    assert_gone(instance)


@pytest.mark.slow
def test_another_server_answering_on_the_port_is_never_taken_for_ours(
    versions: Callable[[str], VersionFiles],
) -> None:
    """The recipe's old mistake: /health answered by someone else's server counted as ours."""
    impostor = VllmStub()
    port = int(impostor.url.rsplit(":", 1)[1])
    start = {"kind": "command", "start": "/bin/sleep 300", "health": "http://127.0.0.1:{port}/v1/models"}
    backend = config.parse({**start, "ports": [port, free_port()]}, AT)
    try:
        files = versions("v1.0.0")
        with pytest.raises(BackendUnreachable, match="did not answer within 1 s"):
            backend.start(files, 0, 1)  # the impostor answers, but does not own our process's port
        # A server that is ours, asked about a port another process holds: refused too.
        real = command(http_server())
        instance = real.start(files, 0, 20)
        moved = replace(instance, state={**instance.state, "port": port})
        assert f"port {port} is not held by process {instance.pid}" in (real.confirm(moved) or "")
        real.stop(instance, 5)
        assert_gone(instance)
    finally:
        impostor.close()


@pytest.mark.slow
def test_the_reference_server_serves_exactly_its_version(versions: Callable[[str], VersionFiles]) -> None:
    backend = config.parse({"kind": "reference", "ports": [free_port(), free_port()]}, AT)
    v1, v2 = versions("v1.0.0"), versions("v2.0.0")
    one = backend.start(v1, 0, 30)
    two = backend.start(v2, 1, 30)
    try:
        assert backend.confirm(one) is None and backend.confirm(two) is None
        # v2's process asked to prove v1: /info names v2.
        crossed = Instance(v1, two.base_url, pid=two.pid, state=two.state)
        assert "reports acme:support v2.0.0" in (backend.confirm(crossed) or "")
    finally:
        backend.stop(one, 5)
        backend.stop(two, 5)
    assert_gone(one)
    assert_gone(two)


def test_a_stop_command_that_leaves_a_child_holding_its_output_does_not_hold_us_up(
    versions: Callable[[str], VersionFiles],
) -> None:
    """A child of the stop command keeps stdout open: the old recipe waited 60 s for it."""
    backend = command(http_server(), stop="/bin/sh -c 'sleep 31.7 & kill -TERM {pid}'")
    instance = backend.start(versions("v1.0.0"), 0, 20)
    started = time.monotonic()
    backend.stop(instance, 5)
    assert time.monotonic() - started < 2.0
    assert_gone(instance)
    assert cmdlines_naming(Path("31.7")) == []  # the stop command's child was ended too
