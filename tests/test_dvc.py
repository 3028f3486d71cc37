"""gitmodel.dvc against a real DVC cache and remote: the no-import fast path agrees with DVC."""

from __future__ import annotations

from pathlib import Path

import pytest
from plugin.registry import Registry, git, random_bytes

from gitmodel import dvc


def pointers(registry: Registry, rev: str, path: str) -> list[str]:
    return [git(registry.root, "show", f"{rev}:{path}").stdout]


@pytest.fixture
def adapter(registry: Registry) -> Registry:
    registry.write("adapter/adapter_config.json", '{"r": 8}')
    registry.write("adapter/weights.safetensors", random_bytes(5000, 4))
    registry.ok("register", "lora", "adapter", "--meta", str(registry.meta()), "--push")
    return registry


def both_views(
    registry: Registry, texts: list[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[list[str], list[str]]:
    fast = dvc.missing_on_remote(registry.root, texts)
    with monkeypatch.context() as patch:
        patch.setattr(dvc.config, "local_remote", lambda *_: None)  # force DVC's own remote API
        slow = dvc.missing_on_remote(registry.root, texts)
    return sorted(fast), sorted(slow)


def test_missing_on_remote_agrees_with_dvc(adapter: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = pointers(adapter, "lora@v1.0.0", "models/lora/adapter.dvc")
    assert both_views(adapter, texts, monkeypatch) == ([], [])
    # Lose one file of the folder from the remote: both views name exactly that object.
    victim = next(
        p
        for p in (adapter.remote / "files" / "md5").rglob("*")
        if p.is_file() and not p.name.endswith(".dir") and p.stat().st_size == 5000
    )
    victim.unlink()
    fast, slow = both_views(adapter, texts, monkeypatch)
    assert fast == slow == [victim.parent.name + victim.name]


def test_materialise_lays_out_the_exact_bytes(adapter: Registry, tmp_path: Path) -> None:
    texts = pointers(adapter, "lora@v1.0.0", "models/lora/adapter.dvc")
    # An empty cache: everything comes from the remote.
    import shutil

    shutil.rmtree(adapter.root / ".dvc" / "cache")
    out = dvc.materialise(adapter.root, texts[0], tmp_path / "m")
    assert (out / "weights.safetensors").read_bytes() == random_bytes(5000, 4)
    assert (out / "adapter_config.json").read_text() == '{"r": 8}'


def test_repo_config_reads_default_remote(registry: Registry) -> None:
    assert dvc.default_remote(registry.root) == "storage"
    assert dvc.config.local_remote(registry.root) == registry.remote
