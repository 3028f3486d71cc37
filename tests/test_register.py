"""register: real git, real DVC cache and local remote; refusals leave nothing behind."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from plugin.registry import META, Registry, git, random_bytes, refs

from gitmodel import yamlio


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_register_file_fills_metadata_and_tags(registry: Registry) -> None:
    data = random_bytes(50_000, 1)
    registry.write("support.gguf", data)
    out = registry.ok("register", "support", "support.gguf", "--meta", str(registry.meta())).stdout
    assert "registered support v1.0.0" in out
    meta = yamlio.load_mapping(registry.root / "models/support/model.yaml")
    assert meta["version"] == "v1.0.0"
    assert meta["parent_version"] is None
    assert meta["created_by"] == "Ada Tester <ada@example.com>"
    assert meta["artifact"]["files"] == {"support.gguf": sha(data)}
    assert meta["artifact"]["dvc_md5"] == hashlib.md5(data).hexdigest()
    assert meta["metrics"]["accuracy"] == 0.942
    tag = git(registry.root, "cat-file", "-t", "support@v1.0.0").stdout.strip()
    assert tag == "tag"  # annotated
    dvc_yaml = yamlio.load_mapping(registry.root / "dvc.yaml")
    assert dvc_yaml["artifacts"]["support"]["path"] == "models/support/support.gguf"
    assert dvc_yaml["artifacts"]["support"]["type"] == "model"
    assert git(registry.root, "status", "--porcelain", "--untracked-files=no").stdout == ""
    assert not (registry.root / "support.gguf").exists()  # moved under models/support


def test_register_folder_adapter(registry: Registry) -> None:
    registry.write("adapter/adapter_config.json", '{"r": 16}')
    registry.write("adapter/adapter_model.safetensors", random_bytes(20_000, 2))
    registry.ok("register", "support", "adapter", "--meta", str(registry.meta()))
    meta = yamlio.load_mapping(registry.root / "models/support/model.yaml")
    assert meta["artifact"]["kind"] == "directory"
    assert sorted(meta["artifact"]["files"]) == ["adapter_config.json", "adapter_model.safetensors"]
    assert meta["artifact"]["dvc_md5"].endswith(".dir")


def test_bump_auto_follows_the_change(registry: Registry) -> None:
    meta = registry.meta()
    registry.write("m.gguf", random_bytes(1000, 1))
    registry.ok("register", "support", "m.gguf", "--meta", str(meta))
    # new bytes -> minor; metadata inherited from the parent when --meta is not given
    registry.write("models/support/m.gguf.new", random_bytes(1000, 2))
    (registry.root / "models/support/m.gguf").unlink()
    (registry.root / "models/support/m.gguf.new").rename(registry.root / "models/support/m.gguf")
    out = registry.ok("register", "support", "models/support/m.gguf", "-m", "more tickets").stdout
    assert "v1.1.0" in out and "minor" in out
    # only the prompt template -> patch
    patch_meta = registry.meta("prompt_template: support-v3.3\n", "p.yaml")
    out = registry.ok("register", "support", "models/support/m.gguf", "--meta", str(patch_meta)).stdout
    assert "v1.1.1" in out and "patch" in out
    # a new base model -> major
    major_meta = registry.meta("base_model: qwen-2.5-7b\n", "q.yaml")
    out = registry.ok("register", "support", "models/support/m.gguf", "--meta", str(major_meta)).stdout
    assert "v2.0.0" in out and "major" in out
    hist = json.loads(registry.ok("history", "support", "--json").stdout)
    assert [e["version"] for e in hist["events"]] == ["v1.0.0", "v1.1.0", "v1.1.1", "v2.0.0"]
    assert [e["from"] for e in hist["events"]] == [None, "v1.0.0", "v1.1.0", "v1.1.1"]


def test_nothing_changed_is_refused(registry: Registry) -> None:
    registry.write("m.gguf", random_bytes(1000, 1))
    registry.ok("register", "support", "m.gguf", "--meta", str(registry.meta()))
    before = registry.snapshot()
    result = registry.fails(1, "register", "support", "models/support/m.gguf")
    assert "nothing" in result.stderr
    assert registry.snapshot() == before


@pytest.mark.parametrize(
    ("version", "code", "words"),
    [
        ("v1.0.0", 1, "already registered"),
        ("v0.9.0", 1, "not greater"),
        ("v2.0.0", 1, "needs a minor bump"),
        ("v1.0.1", 1, "needs a minor bump"),
        ("1.1.0", 2, "vMAJOR.MINOR.PATCH"),
        ("v1.1", 2, "vMAJOR.MINOR.PATCH"),
    ],
)
def test_explicit_version_rules(registry: Registry, version: str, code: int, words: str) -> None:
    registry.write("m.gguf", random_bytes(1000, 1))
    registry.ok("register", "support", "m.gguf", "--meta", str(registry.meta()))
    registry.write("n.gguf", random_bytes(1000, 2))
    before = registry.snapshot()
    result = registry.fails(code, "register", "support", "n.gguf", "--version", version)
    assert words in result.stderr
    assert registry.snapshot() == before
    assert (registry.root / "n.gguf").exists()


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("", "empty"),
        ("..", "'.'"),
        ("a/../b", "'.'"),
        ("my model", "space"),
        ("a@b", "'@'"),
        ("a#b", "'#'"),
        ("Support", "'S'"),
        ("-x", "start and end"),
        ("x" * 101, "longer"),
    ],
)
def test_invalid_names_write_nothing(registry: Registry, name: str, words: str) -> None:
    registry.write("m.gguf", random_bytes(1000, 1))
    meta = str(registry.meta())
    before = registry.snapshot()
    result = registry.fails(2, "register", "--meta", meta, "--", name, "m.gguf")
    assert words in result.stderr
    assert registry.snapshot() == before


def test_bad_paths(registry: Registry, tmp_path: Path) -> None:
    outside = tmp_path / "outside.gguf"
    outside.write_bytes(b"x" * 10)
    registry.write("empty.gguf", b"")
    (registry.root / "emptydir").mkdir()
    meta = str(registry.meta())
    before = registry.snapshot()
    assert "does not exist" in registry.fails(2, "register", "s", "nope.gguf", "--meta", meta).stderr
    assert "is empty" in registry.fails(2, "register", "s", "empty.gguf", "--meta", meta).stderr
    assert "no non-empty file" in registry.fails(2, "register", "s", "emptydir", "--meta", meta).stderr
    assert "outside the registry" in registry.fails(2, "register", "s", str(outside), "--meta", meta).stderr
    assert registry.snapshot() == before


@pytest.mark.parametrize(
    ("meta", "words"),
    [
        ("- a\n- b\n", "must hold a YAML mapping"),
        ("quantization: q4\n", "base_model is required"),
        ("base_model: x\nmetrics: {accuracy: high}\n", "metrics.accuracy"),
        ("base_model: x\ninference: {temperature: -1}\n", "inference.temperature"),
        ("base_model: x\nversion: v9.9.9\n", "filled in by gitmodel"),
        ("base_model: [x\n", "not valid YAML"),
    ],
)
def test_bad_metadata_names_the_field(registry: Registry, meta: str, words: str) -> None:
    registry.write("m.gguf", random_bytes(1000, 1))
    path = registry.meta(meta, "bad.yaml")
    before = registry.snapshot()
    result = registry.fails(2, "register", "support", "m.gguf", "--meta", str(path))
    assert words in result.stderr
    assert "bad.yaml" in result.stderr
    assert registry.snapshot() == before


def test_not_a_git_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from plugin.registry import make_runner

    plain = tmp_path / "plain"
    plain.mkdir()
    result = make_runner(monkeypatch, plain)("init")
    assert result.exit_code == 2
    assert "not inside a git repository" in result.stderr
    assert list(plain.iterdir()) == []


def test_push_without_dvc_remote_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from plugin.registry import make_runner

    root = tmp_path / "r"
    root.mkdir()
    git(root, "init", "-q")
    git(tmp_path, "init", "-q", "--bare", "o.git")
    git(root, "remote", "add", "origin", str(tmp_path / "o.git"))
    run = make_runner(monkeypatch, root)
    assert run("init").exit_code == 0
    (root / "m.gguf").write_bytes(b"weights")
    (root / "meta.yaml").write_text(META)
    before = refs(root)
    result = run("register", "support", "m.gguf", "--meta", "meta.yaml", "--push")
    assert result.exit_code == 2
    assert "default DVC remote" in result.stderr
    assert refs(root) == before
    assert not (root / ".dvc" / "cache" / "files").exists()


def test_push_sends_bytes_then_commit_and_tag(registry: Registry) -> None:
    registry.write("m.gguf", random_bytes(3000, 7))
    registry.ok("register", "support", "m.gguf", "--meta", str(registry.meta()), "--push")
    origin = registry.root.parent / "origin.git"
    remote_tags = git(origin, "tag").stdout.split()
    assert remote_tags == ["support@v1.0.0"]
    md5 = yamlio.load_mapping(registry.root / "models/support/model.yaml")["artifact"]["dvc_md5"]
    assert (registry.remote / "files" / "md5" / md5[:2] / md5[2:]).is_file()


def test_push_conflict_undoes_the_registration(registry: Registry, tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(origin), str(other))
    git(registry.root, "push", "-q", "origin", "main")
    git(other, "pull", "-q", "origin", "main")
    (other / "README").write_text("someone else")
    git(other, "add", "README")
    git(other, "commit", "-q", "-m", "other")
    git(other, "push", "-q", "origin", "main")
    registry.write("m.gguf", random_bytes(3000, 8))
    before_refs = refs(registry.root)
    result = registry.fails(3, "register", "support", "m.gguf", "--meta", str(registry.meta()), "--push")
    assert "pull" in result.stderr
    assert refs(registry.root) == before_refs
    assert (registry.root / "m.gguf").read_bytes() == random_bytes(3000, 8)
    assert not (registry.root / "models/support/m.gguf.dvc").exists()
    assert git(origin, "tag").stdout == ""


def test_namespaced_model(registry: Registry) -> None:
    registry.write("w.gguf", random_bytes(2000, 3))
    registry.ok("register", "acme/support", "w.gguf", "--meta", str(registry.meta()))
    assert git(registry.root, "tag").stdout.split() == ["acme=support@v1.0.0"]
    dvc_yaml = yamlio.load_mapping(registry.root / "acme/dvc.yaml")
    assert dvc_yaml["artifacts"]["support"]["path"] == "models/support/w.gguf"
    listing = json.loads(registry.ok("list", "--json").stdout)
    assert [m["name"] for m in listing["models"]] == ["acme:support"]
    shown = json.loads(registry.ok("show", "acme/support@v1.0.0", "--json").stdout)
    assert shown["metadata"]["name"] == "acme:support"
