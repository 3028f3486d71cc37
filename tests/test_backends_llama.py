"""The `llama-cpp` backend against a real llama-server and tiny real llama GGUFs.

Skips with the way to build the binary when it is missing (`make llama-server`).
"""

from __future__ import annotations

import tempfile
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
from gitmodel.demo import llama_vocab, write_llama_gguf

pytestmark = pytest.mark.usefixtures("reap_servers")
AT = v.Field("host.yaml", "backend")
Versions = Callable[..., VersionFiles]


def llama(binary: Path, ports: list[int] | None = None, extra: list[str] | None = None) -> Backend:
    ports = ports or [free_port(), free_port()]
    return config.parse(
        {
            "kind": "llama-cpp",
            "binary": str(binary),
            "ports": ports,
            "args": ["-c", "256", "-t", "1", "-np", "1", *(extra or [])],
        },
        AT,
    )


def assert_nothing_left(instance: Instance) -> None:
    assert instance.pid is not None
    assert process.group_members(instance.pid) == []
    assert cmdlines_naming(instance.files.artifact) == []


@pytest.mark.slow
@pytest.mark.parametrize("load_mode", ["auto", "none"])  # none: read, not mapped (as on some GPUs)
def test_two_versions_run_side_by_side_and_each_proves_its_own(
    llama_server_bin: Path, llama_versions: Versions, load_mode: str
) -> None:
    backend = llama(llama_server_bin, extra=["--load-mode", load_mode])
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
        assert f"neither maps nor was started with {v1.artifact}" in (backend.confirm(crossed) or "")
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


def test_a_model_llama_refuses_is_refused_at_once(
    llama_server_bin: Path, llama_versions: Versions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = llama(llama_server_bin)
    bad = llama_versions("v1.0.0", 1, broken=True)
    scratch = tmp_path / "tmp"  # where the temporary server log goes: gone again after
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    started = time.monotonic()
    with pytest.raises(BackendRefused) as caught:
        backend.start(bad, 0, 60)
    took = time.monotonic() - started
    message = caught.value.message
    # at once: llama-server's exit is noticed, not the 60 s start timeout (a bound a loaded box keeps)
    assert took < 20, took
    assert "\n" not in message and len(message) < 400
    assert (
        message.startswith("llama-server for acme:support v1.0.0 on port") and "exited with code" in message
    )
    assert "error loading model: check_tensor_dims: tensor 'blk.1.ffn_up.weight' not found" in message
    assert cmdlines_naming(bad.artifact) == []
    assert list(scratch.iterdir()) == []


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


def test_the_tiny_llama_is_a_complete_model_and_broken_leaves_out_one_tensor(tmp_path: Path) -> None:
    """No server needed: the file's own header, read back with the gguf package's reader."""
    from gguf import GGUFReader

    good = GGUFReader(write_llama_gguf(tmp_path / "good.gguf", seed=1))
    bad = GGUFReader(write_llama_gguf(tmp_path / "bad.gguf", seed=1, broken=True))
    names = {t.name for t in good.tensors}
    assert len(names) == 3 + 2 * 9 and "output.weight" in names
    assert names - {t.name for t in bad.tensors} == {"blk.1.ffn_up.weight"}
    assert int(good.fields["llama.embedding_length"].parts[-1][0]) == 64
    assert len(good.fields["tokenizer.ggml.tokens"].data) == len(llama_vocab()) == 401
    assert 400_000 < (tmp_path / "good.gguf").stat().st_size < 700_000
    again = write_llama_gguf(tmp_path / "again.gguf", seed=1).read_bytes()
    assert again == (tmp_path / "good.gguf").read_bytes()  # seeded: the same file every time
    assert write_llama_gguf(tmp_path / "other.gguf", seed=2).read_bytes() != again
