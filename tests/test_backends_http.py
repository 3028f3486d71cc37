"""The `vllm` and `ollama` backends against stubs of their published HTTP APIs (plugin/backend_stubs.py).

Neither server runs on these machines; these tests prove the calls follow the documented
API and that confirm refuses what the API says is not this version.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from plugin.backend_stubs import OllamaStub, VllmStub
from plugin.llama import version_files
from plugin.server import free_port, make_version

from gitmodel import http
from gitmodel import validate as v
from gitmodel.backends import config
from gitmodel.backends.base import BackendRefused, BackendUnreachable, VersionFiles
from gitmodel.backends.ollama import sha256

AT = v.Field("host.yaml", "backend")


@pytest.fixture
def vllm() -> Iterator[VllmStub]:
    stub = VllmStub()
    yield stub
    stub.close()


@pytest.fixture
def ollama() -> Iterator[OllamaStub]:
    stub = OllamaStub()
    yield stub
    stub.close()


@pytest.fixture
def adapters(tmp_path: Path) -> Callable[[str], VersionFiles]:
    root = tmp_path / "root"
    return lambda version: version_files(
        make_version(root, "acme/support", version, artifact="adapter", adapter=True)
    )


@pytest.fixture
def ggufs(tmp_path: Path) -> Callable[[str], VersionFiles]:
    root = tmp_path / "root"
    return lambda version: version_files(
        make_version(root, "acme/support", version, gguf_seed=int(version[1]))
    )


def test_vllm_loads_each_version_as_an_adapter_beside_the_other(
    vllm: VllmStub, adapters: Callable[[str], VersionFiles]
) -> None:
    backend = config.parse({"kind": "vllm", "url": vllm.url, "base_model": vllm.base_model}, AT)
    v1, v2 = adapters("v1.0.0"), adapters("v2.0.0")
    one, two = backend.start(v1, 0, 10), backend.start(v2, 1, 10)
    assert (one.upstream_model, two.upstream_model) == ("acme=support-v1.0.0", "acme=support-v2.0.0")
    assert vllm.adapters == {"acme=support-v1.0.0": str(v1.artifact), "acme=support-v2.0.0": str(v2.artifact)}
    assert backend.confirm(one) is None and backend.confirm(two) is None
    # A request naming the adapter reaches it; the base model stays loaded.
    said = http.post(f"{one.base_url}/v1/completions", {"model": one.upstream_model}, timeout=5).json_object()
    assert said["model"] == "acme=support-v1.0.0"
    # The adapter name of v1 with v2's files: vLLM reports another path.
    assert "was loaded from" in (backend.confirm(replace(one, files=v2)) or "")
    backend.stop(one, 5)
    assert list(vllm.adapters) == ["acme=support-v2.0.0"]
    assert "lists no adapter acme=support-v1.0.0" in (backend.confirm(one) or "")
    backend.stop(one, 5)  # stopping twice is not an error: it is gone either way
    backend.stop(two, 5)
    assert vllm.adapters == {}


def test_vllm_refusals_are_one_line(vllm: VllmStub, tmp_path: Path) -> None:
    backend = config.parse({"kind": "vllm", "url": vllm.url, "base_model": "other/base"}, AT)
    # A GGUF file is no adapter directory: vLLM answers 404 "No adapter found".
    files = version_files(make_version(tmp_path / "root", "acme/support", "v1.0.0"))
    with pytest.raises(BackendRefused) as caught:
        backend.start(files, 0, 5)
    assert "refused to load adapter acme=support-v1.0.0: HTTP 404 No adapter found" in caught.value.message
    assert "\n" not in caught.value.message
    adapter = version_files(
        make_version(tmp_path / "root", "acme/support", "v2.0.0", artifact="a", adapter=True)
    )
    instance = backend.start(adapter, 0, 5)
    assert "sits on 'meta-llama/Llama-3.1-8B', not other/base" in (backend.confirm(instance) or "")
    gone = config.parse({"kind": "vllm", "url": f"http://127.0.0.1:{free_port()}"}, AT)
    with pytest.raises(
        BackendUnreachable, match=r"vLLM: http://127\.0\.0\.1:\d+/v1/load_lora_adapter did not answer"
    ):
        gone.start(adapter, 0, 1)


def test_vllm_takes_an_adapter_already_loaded_from_the_same_path(
    vllm: VllmStub, adapters: Callable[[str], VersionFiles]
) -> None:
    """A gateway that restarted finds its adapter still loaded: that is the version, not a refusal."""
    backend = config.parse({"kind": "vllm", "url": vllm.url}, AT)
    v1 = adapters("v1.0.0")
    backend.start(v1, 0, 5)
    again = backend.start(v1, 0, 5)
    assert backend.confirm(again) is None
    vllm.adapters["acme=support-v1.0.0"] = "/elsewhere"
    with pytest.raises(BackendRefused, match="has already been loaded"):
        backend.start(v1, 0, 5)


def test_ollama_creates_loads_confirms_and_deletes_each_version(
    ollama: OllamaStub, ggufs: Callable[[str], VersionFiles]
) -> None:
    backend = config.parse({"kind": "ollama", "url": ollama.url}, AT)
    v1, v2 = ggufs("v1.0.0"), ggufs("v2.0.0")
    one, two = backend.start(v1, 0, 10), backend.start(v2, 1, 10)
    assert (one.upstream_model, two.upstream_model) == ("acme-support:v1.0.0", "acme-support:v2.0.0")
    assert set(ollama.blobs) == {f"sha256:{sha256(v1.artifact)}", f"sha256:{sha256(v2.artifact)}"}
    assert backend.confirm(one) is None and backend.confirm(two) is None
    # The tag's blob is not these bytes: refused.
    ollama.models["acme-support:v1.0.0"] = f"sha256:{sha256(v2.artifact)}"
    assert "is not built from this version's GGUF" in (backend.confirm(one) or "")
    ollama.models["acme-support:v1.0.0"] = f"sha256:{sha256(v1.artifact)}"
    ollama.running.discard("acme-support:v1.0.0")  # Ollama unloaded it (keep_alive ran out)
    assert "it is not loaded (/api/ps)" in (backend.confirm(one) or "")
    backend.stop(one, 5)
    backend.stop(two, 5)
    assert ollama.models == {} and ollama.running == set()
    # A second start of the same bytes does not upload the blob again.
    uploads = sum(1 for method, path in ollama.calls if method == "POST" and path.startswith("/api/blobs/"))
    backend.start(v1, 0, 10)
    assert sum(1 for m, p in ollama.calls if m == "POST" and p.startswith("/api/blobs/")) == uploads == 2


def test_ollama_refuses_a_folder_artifact(
    ollama: OllamaStub, adapters: Callable[[str], VersionFiles]
) -> None:
    backend = config.parse({"kind": "ollama", "url": ollama.url}, AT)
    with pytest.raises(BackendRefused, match="Ollama creates models from one GGUF file"):
        backend.start(adapters("v1.0.0"), 0, 5)
    assert ollama.calls == []
