"""register reads a `.gguf` artifact's header (bounded) and refuses one a server would refuse."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest
from plugin.fsguard import Guard
from plugin.registry import Registry, git, random_bytes

from gitmodel.demo import gguf_bytes, write_gguf

NOT_GGUF = {
    "random bytes": random_bytes(40, 1) * 50,
    "the magic, then noise": b"GGUF" + bytes(range(256)) * 8,
    "cut in the tensor data": gguf_bytes(2000, 1)[:-100],
    "2^40 tensors": struct.pack("<4sIQQ", b"GGUF", 3, 1 << 40, 0) + bytes(64),
}


@pytest.mark.parametrize("data", NOT_GGUF.values(), ids=NOT_GGUF.keys())
def test_an_invalid_gguf_file_is_refused_with_one_line_and_nothing_written(
    registry: Registry, fs_guard: Callable[..., Guard], data: bytes
) -> None:
    registry.write("m.gguf", data)
    guard = fs_guard(registry.root, registry.remote)
    head = git(registry.root, "rev-parse", "HEAD").stdout
    result = registry.run("register", "support", "m.gguf")
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gitmodel: error: m.gguf: not a valid GGUF file ("), lines
    assert "register a GGUF that llama.cpp wrote" in lines[0]
    guard.assert_only(registry.root / ".git" / "gitmodel.lock")  # the (empty) lock a register takes first
    assert git(registry.root, "rev-parse", "HEAD").stdout == head and not git(registry.root, "tag").stdout


def test_an_invalid_gguf_inside_a_folder_is_named(registry: Registry, fs_guard: Callable[..., Guard]) -> None:
    registry.write("adapter/adapter_config.json", b'{"r": 16}')
    registry.write("adapter/sub/good.gguf", gguf_bytes(500, 1))
    registry.write("adapter/sub/bad.gguf", b"not a gguf at all" * 10)
    guard = fs_guard(registry.root, registry.remote)
    result = registry.run("register", "support", "adapter")
    assert result.exit_code == 1
    named = "gitmodel: error: adapter/sub/bad.gguf: not a valid GGUF file (no GGUF magic"
    assert result.stderr.startswith(named)
    guard.assert_only(registry.root / ".git" / "gitmodel.lock")


def test_a_valid_gguf_and_other_formats_register(registry: Registry) -> None:
    write_gguf(registry.root / "real.gguf", seed=3)
    out = registry.ok("register", "support", "real.gguf", "--meta", str(registry.meta())).stdout
    assert "registered support v1.0.0" in out
    # Not named .gguf: not read as one (safetensors, bins, archives are other formats).
    registry.write("w.safetensors", b"not gguf" * 100)
    assert "registered support v" in registry.ok("register", "support", "w.safetensors").stdout
