"""The `llama-cpp-router` backend against a real llama-server in router mode.

The router's unload answers before the model has stopped; a load of the same name right
after got 400 "model is already running" about half the time (FACTS.md).  Switching back
and forth here is the proof that the backend waits.
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from plugin.backend_stubs import VllmStub
from plugin.llama import cmdlines_naming, complete
from plugin.server import free_port

from gitmodel import validate as v
from gitmodel.backends import config, process
from gitmodel.backends.base import BackendRefused, VersionFiles
from gitmodel.backends.router import Router

pytestmark = pytest.mark.usefixtures("reap_servers")
AT = v.Field("host.yaml", "backend")
Versions = Callable[..., VersionFiles]


def router(binary: Path) -> Router:
    backend = config.parse(
        {
            "kind": "llama-cpp-router",
            "binary": str(binary),
            "port": free_port(),
            "args": ["-c", "256", "-t", "1", "-np", "1"],
        },
        AT,
    )
    assert isinstance(backend, Router)
    return backend


@pytest.mark.slow
def test_router_switches_back_and_forth_and_each_load_proves_its_version(
    llama_server_bin: Path, llama_versions: Versions
) -> None:
    backend = router(llama_server_bin)
    v1, v2 = llama_versions("v1.0.0", 1), llama_versions("v2.0.0", 2)
    live = backend.start(v1, 0, 30)
    pid = live.pid
    assert pid is not None
    answers = {"v1.0.0": complete(live.base_url, model=live.upstream_model)}
    try:
        for step in range(6):  # v1 -> v2 -> v1 ...: each load of a name just unloaded
            files = v2 if step % 2 == 0 else v1
            new = backend.start(files, 1 - step % 2, 30)
            assert backend.confirm(new) is None
            said = complete(new.base_url, model=new.upstream_model)
            assert answers.setdefault(files.version, said) == said
            backend.stop(live, 10)
            assert "the router reports" in (backend.confirm(live) or "") or "lists no model" in (
                backend.confirm(live) or ""
            )
            live = new
        assert answers["v1.0.0"] != answers["v2.0.0"]
        assert live.pid == pid  # one router all along
    finally:
        backend.stop(live, 10)
    assert process.group_members(pid) == []  # the last stop ends the router and its children
    assert cmdlines_naming(v1.artifact) == [] and cmdlines_naming(v2.artifact) == []


@pytest.mark.slow
def test_router_refuses_a_broken_model_at_once_and_keeps_serving(
    llama_server_bin: Path, llama_versions: Versions
) -> None:
    backend = router(llama_server_bin)
    good, bad = llama_versions("v1.0.0", 1), llama_versions("v2.0.0", 2, broken=True)
    live = backend.start(good, 0, 30)
    try:
        started = time.monotonic()
        with pytest.raises(BackendRefused) as caught:
            backend.start(bad, 1, 30)
        assert time.monotonic() - started < 2.0
        assert "could not load acme=support-v2.0.0 (exit code" in caught.value.message
        assert "\n" not in caught.value.message
        assert backend.confirm(live) is None and complete(live.base_url, model=live.upstream_model)
        # The refused name left the presets: a confirm of it finds nothing.
        assert "acme=support-v2.0.0" not in (backend._dir / "presets.ini").read_text()  # type: ignore[operator]
    finally:
        backend.stop(live, 10)
    assert live.pid is not None and process.group_members(live.pid) == []


@pytest.mark.slow
def test_a_dead_router_is_seen_and_the_next_start_runs_a_new_one(
    llama_server_bin: Path, llama_versions: Versions
) -> None:
    backend = router(llama_server_bin)
    v1, v2 = llama_versions("v1.0.0", 1), llama_versions("v2.0.0", 2)
    old = backend.start(v1, 0, 30)
    with pytest.raises(BackendRefused, match=r"acme=support-v1\.0\.0 is already loaded .*: stop it first"):
        backend.start(v1, 1, 30)  # one instance per version, said at once
    assert old.pid is not None
    os.killpg(old.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while "was killed by signal 9" not in (backend.confirm(old) or "") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "was killed by signal 9" in (backend.confirm(old) or "")
    new = backend.start(v2, 1, 30)
    try:
        assert new.pid != old.pid and backend.confirm(new) is None
        backend.stop(old, 5)  # the dead router's instance: stopping it leaves the new one alone
        assert backend.confirm(new) is None
    finally:
        backend.stop(new, 10)
    assert new.pid is not None and process.group_members(new.pid) == []


def test_a_router_that_cannot_start_is_refused_and_leaves_nothing(
    llama_server_bin: Path, llama_versions: Versions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = VllmStub()  # holds the router's port
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    try:
        backend = config.parse(
            {
                "kind": "llama-cpp-router",
                "binary": str(llama_server_bin),
                "port": int(taken.url.rsplit(":")[-1]),
            },
            AT,
        )
        files = llama_versions("v1.0.0", 1)
        started = time.monotonic()
        with pytest.raises(
            BackendRefused, match=r"llama-server router on port \d+ refused: .* exited with code"
        ):
            backend.start(files, 0, 30)
        assert time.monotonic() - started < 2.0
        assert list(scratch.iterdir()) == []  # no presets directory, no log
    finally:
        taken.close()
