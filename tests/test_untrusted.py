"""The one door for repo data (gitmodel/untrusted.py) and bounded YAML (gitmodel/yamlio.py).

Tables of what the contract allows and what it refuses, and the YAML limits, with the
alias bomb read through the real CLI and the real pre-commit hook.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from plugin.registry import Registry, git, random_bytes

from gitmodel import untrusted, yamlio
from gitmodel.errors import EXIT_POLICY

SHA = "sha256:" + "a" * 64
MD5 = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    "path", ["a", "adapter/weights.bin", "a b/c-d_e.f", "ünïcode/名前.bin", "x" * 255, "/".join(["d"] * 500)]
)
def test_relative_paths_are_accepted(path: str) -> None:
    assert untrusted.relpath(path, "field") == path
    assert untrusted.join(Path("/base"), path, "field") == Path("/base") / path


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("", "empty"),
        ("/etc/passwd", "absolute"),
        ("../x", "'..'"),
        ("x/../../somewhere", "'..'"),
        ("a/..", "'..'"),
        ("./a", "'.'"),
        ("a/./b", "'.'"),
        ("a//b", "empty part"),
        ("a/", "empty part"),
        ("a\\..\\b", "backslashes"),
        ("a\x00b", "control"),
        ("a\nb", "control"),
        ("a\x1b[31mb", "control"),
        ("a\x7f", "control"),
        ("a\u0085b", "control"),
        ("evil\u202efsg.gguf", "bidi"),
        ("a\u2028b", "bidi"),
        ("x" * 256, "255 bytes"),
        ("/".join(["dd"] * 400), "1024 bytes"),
        (None, "string"),
        (7, "string"),
    ],
)
def test_bad_paths_are_refused_naming_the_field(path: object, rule: str) -> None:
    with pytest.raises(untrusted.UntrustedData) as info:
        untrusted.relpath(path, "support@v1.0.1 model.yaml artifact.files key")
    err = info.value
    assert err.exit_code == EXIT_POLICY
    assert err.message.startswith("support@v1.0.1 model.yaml artifact.files key ")
    assert rule in err.message
    assert "\n" not in err.message and "\x1b" not in err.message and "\x00" not in err.message
    assert len(err.message) < 400


@pytest.mark.parametrize(
    "name",
    [
        "gitmodel-version.json",
        "model.yaml",
        "dvc.yaml",
        "gitmodel.yaml",
        ".gitignore",
        ".dvc",
        ".git",
        "weights.dvc",
        "a/b",
        "..",
    ],
)
def test_reserved_or_nested_artifact_names_are_refused(name: str) -> None:
    with pytest.raises(untrusted.UntrustedData, match=r"artifact\.path"):
        untrusted.artifact_name(name, "artifact.path")


def test_plain_artifact_names_are_accepted() -> None:
    for name in ("support.gguf", "adapter", "model.yaml.bak", "dvc"):
        assert untrusted.artifact_name(name, "artifact.path") == name


@pytest.mark.parametrize(
    ("value", "folder", "ok"),
    [
        (MD5, None, True),
        (MD5 + ".dir", None, True),
        (MD5 + ".dir", True, True),
        (MD5, True, False),
        (MD5 + ".dir", False, False),
        (MD5.upper(), None, False),
        (MD5[:-1], None, False),
        (MD5 + "0", None, False),
        ("../../../target", None, False),
        (".." + "/" + "0" * 30, None, False),
        (MD5 + ".dir/../x", None, False),
        (MD5 + "\n", None, False),
        (123, None, False),
    ],
)
def test_md5s(value: object, folder: bool | None, ok: bool) -> None:
    if ok:
        assert untrusted.dvc_md5(value, "md5", folder=folder) == value
    else:
        with pytest.raises(untrusted.UntrustedData, match=r"^md5 "):
            untrusted.dvc_md5(value, "md5", folder=folder)


@pytest.mark.parametrize(
    ("value", "ok"),
    [(SHA, True), ("sha256:" + "A" * 64, False), ("sha256:" + "a" * 63, False), ("md5:" + "a" * 64, False)],
)
def test_sha256(value: str, ok: bool) -> None:
    if ok:
        assert untrusted.sha256(value, "digest") == value
    else:
        with pytest.raises(untrusted.UntrustedData):
            untrusted.sha256(value, "digest")


@pytest.mark.parametrize(
    ("relpaths", "words"),
    [
        (["a", "a"], "listed twice"),
        (["a", "a/b"], "'a' is listed as a file and used as a folder"),
        (["x/y/z", "x/y"], "'x/y' is listed as a file"),
        (["../../evil"], "'..'"),
        (["/abs/evil"], "absolute"),
    ],
)
def test_bad_dir_manifests_are_refused(relpaths: list[str], words: str) -> None:
    entries = [{"md5": MD5, "relpath": r} for r in relpaths]
    with pytest.raises(untrusted.UntrustedData, match="manifest") as info:
        untrusted.dir_entries(entries, "manifest")
    assert words in info.value.message


def test_a_sound_dir_manifest_maps_paths_to_md5s() -> None:
    entries = [
        {"md5": MD5, "relpath": "a/b"},
        {"md5": "f" * 32, "relpath": "a/c"},
        {"md5": MD5, "relpath": "ab"},
    ]
    assert untrusted.dir_entries(entries, "m") == {"a/b": MD5, "a/c": "f" * 32, "ab": MD5}
    for bad in ({"relpath": "a"}, {"md5": MD5 + ".dir", "relpath": "a"}, "a", {"md5": MD5}):
        with pytest.raises(untrusted.UntrustedData):
            untrusted.dir_entries([bad], "m")
    with pytest.raises(untrusted.UntrustedData):
        untrusted.dir_entries({"a": MD5}, "m")


def test_version_artifact_checks_every_field() -> None:
    good = {
        "artifact": {"path": "adapter", "kind": "directory", "dvc_md5": MD5 + ".dir", "files": {"w/a": SHA}}
    }
    assert untrusted.version_artifact(good, "m.yaml")["files"] == {"w/a": SHA}
    cases = [
        ({"path": "x/../../y"}, "artifact.path"),
        ({"path": "gitmodel-version.json"}, "artifact.path"),
        ({"kind": "symlink"}, "artifact.kind"),
        ({"dvc_md5": MD5}, "artifact.dvc_md5"),
        ({"files": {"w/a": "sha256:00"}}, "artifact.files"),
        ({"files": {"w": SHA, "w/a": SHA}}, "artifact.files"),
        ({"files": {}}, "artifact.files"),
        ({"kind": "file", "dvc_md5": MD5, "files": {"other": SHA}}, "artifact.files"),
    ]
    for change, field in cases:
        meta = {"artifact": {**good["artifact"], **change}}
        with pytest.raises(untrusted.UntrustedData, match=rf"^m\.yaml {re.escape(field)}[ []"):
            untrusted.version_artifact(meta, "m.yaml")
    with pytest.raises(untrusted.UntrustedData, match=r"^m\.yaml artifact "):
        untrusted.version_artifact({"artifact": "x"}, "m.yaml")


def test_time_budget_stops_a_slow_block_with_one_line() -> None:
    start = time.monotonic()
    with pytest.raises(untrusted.OverBudget) as info, untrusted.time_budget(0.2, "the pre-receive check"):
        time.sleep(5)
    assert time.monotonic() - start < 1.5
    assert info.value.exit_code == EXIT_POLICY
    assert info.value.message.startswith("the pre-receive check took longer than its 0.2 s budget")
    with untrusted.time_budget(1, "quick"):
        pass
    time.sleep(1.2)  # the timer was cancelled: nothing fires after the block


# --- bounded YAML ----------------------------------------------------------------------


def bomb(depth: int, width: int = 9) -> str:
    """A sub-kilobyte document whose aliases expand to width**(depth+1) scalars."""
    lines = ["a0: &a0 [" + ", ".join(['"lol"'] * width) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, depth + 1)]
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_within_a_second() -> None:
    text = bomb(7)
    assert len(text) < 1024
    start = time.monotonic()
    with pytest.raises(yamlio.YamlTooBig) as info:
        yamlio.loads(text, "models/support/model.yaml")
    assert time.monotonic() - start < 1.0
    assert info.value.exit_code == EXIT_POLICY
    assert info.value.message.startswith("models/support/model.yaml is refused: its aliases expand it past")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a: " + "[" * 70 + "]" * 70 + "\n", "nests deeper than 64"),
        ("a: " + "[" * 5000 + "]" * 5000 + "\n", "nests deeper than 64"),
        ("a: " + "{b: " * 70 + "1" + "}" * 70 + "\n", "nests deeper than 64"),
        ("a: '" + "x" * (1024 * 1024) + "'\n", "over the 1048576 byte limit"),
    ],
    ids=["deep", "very-deep", "deep-maps", "big"],
)
def test_deep_or_big_documents_are_refused(text: str, words: str) -> None:
    with pytest.raises(yamlio.YamlTooBig, match=words):
        yamlio.loads(text, "gitmodel.yaml")


@pytest.mark.parametrize("depth", [1000, 5000])
def test_a_deep_document_is_refused_before_ruamel_parses_it(
    depth: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ruamel spends seconds of CPU on a kilobyte of brackets; the server hook must not."""

    def no_ruamel() -> None:
        raise AssertionError("ruamel was asked to parse a document nested past the limit")

    monkeypatch.setattr(yamlio, "_yaml", no_ruamel)
    for text in (
        "a: " + "[" * depth + "]" * depth + "\n",
        "".join(
            "  " * i + f"k{i}:\n" for i in range(depth // 10)
        ),  # block style: 100 and 500 levels under 1 MiB,
    ):
        with pytest.raises(yamlio.YamlTooBig, match="nests deeper than 64"):
            yamlio.loads(text, "gitmodel.yaml")


def test_ordinary_anchors_and_big_plain_documents_still_load() -> None:
    shared = "defaults: &d {tolerance: 0.05, required: true}\nmetrics:\n" + "".join(
        f"  m{i}: *d\n" for i in range(100)
    )
    assert yamlio.plain(yamlio.loads(shared, "gitmodel.yaml"))["metrics"]["m99"]["tolerance"] == 0.05
    files = "".join(f"  w/{i:05}.bin: sha256:{'a' * 64}\n" for i in range(10_000))
    assert len(yamlio.loads("files:\n" + files, "model.yaml")["files"]) == 10_000


def _commit_bomb(registry: Registry) -> None:
    """A version whose model.yaml ends in an alias bomb, committed past the hooks."""
    registry.write("m.gguf", random_bytes(2000, 1))
    registry.ok("register", "support", "m.gguf", "--meta", str(registry.meta()))
    path = registry.root / "models" / "support" / "model.yaml"
    path.write_text(path.read_text().replace("v1.0.0", "v1.0.1") + bomb(7))
    git(registry.root, "add", str(path))
    git(registry.root, "-c", "core.hooksPath=/dev/null", "commit", "-q", "-m", "bomb")
    git(registry.root, "tag", "-a", "support@v1.0.1", "-m", "bomb")


def _gitmodel(cwd: Path, *args: str, timeout: float) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "gitmodel", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    return proc, time.monotonic() - start


@pytest.mark.slow
def test_show_refuses_a_pushed_alias_bomb_quickly(registry: Registry) -> None:
    _commit_bomb(registry)
    proc, took = _gitmodel(registry.root, "show", "support@v1.0.1", "--json", timeout=20)
    assert proc.returncode == EXIT_POLICY, proc.stderr
    assert proc.stderr.startswith("gitmodel: error: support@v1.0.1 model.yaml is refused: its aliases")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert took < 5  # interpreter start-up and imports included; the check itself is milliseconds


@pytest.mark.slow
def test_pre_commit_refuses_a_staged_alias_bomb_quickly(registry: Registry) -> None:
    registry.write("m.gguf", random_bytes(2000, 1))
    registry.ok("register", "support", "m.gguf", "--meta", str(registry.meta()))
    path = registry.root / "models" / "support" / "model.yaml"
    path.write_text(path.read_text() + bomb(7))
    before = git(registry.root, "rev-parse", "HEAD").stdout
    git(registry.root, "add", str(path))
    start = time.monotonic()
    proc = subprocess.run(
        ["git", "commit", "-q", "-m", "bomb"], cwd=registry.root, capture_output=True, text=True, timeout=30
    )
    assert time.monotonic() - start < 10
    assert proc.returncode != 0
    assert "model.yaml is refused: its aliases expand it past" in proc.stderr
    assert git(registry.root, "rev-parse", "HEAD").stdout == before


def test_register_refuses_a_reserved_artifact_name(registry: Registry) -> None:
    registry.write("gitmodel-version.json", random_bytes(2000, 1))
    meta = str(registry.meta())
    before = registry.snapshot()
    result = registry.fails(1, "register", "support", "gitmodel-version.json", "--meta", meta)
    assert "artifact.path 'gitmodel-version.json' is refused" in result.stderr
    assert result.stderr.rstrip().endswith("rename it and register again")
    assert registry.snapshot() == before


def test_register_refuses_a_file_name_hosts_would_refuse(registry: Registry) -> None:
    registry.write("adapter/ok.json", "{}")
    registry.write("adapter/bad\x1bname.bin", random_bytes(100, 2))
    meta = str(registry.meta())
    before = registry.snapshot()
    result = registry.fails(1, "register", "support", "adapter", "--meta", meta)
    assert (
        "artifact.files key 'bad\\x1bname.bin' is refused: backslashes, control characters" in result.stderr
    )
    assert registry.snapshot() == before


@pytest.mark.slow
def test_register_refuses_a_folder_whose_model_yaml_hosts_could_not_read(registry: Registry) -> None:
    folder = registry.root / "shards"
    folder.mkdir()
    for i in range(13_000):
        (folder / f"shard-{i:05}.bin").write_bytes(b"x")
    meta = str(registry.meta())
    before = registry.snapshot()
    result = registry.fails(1, "register", "support", "shards", "--meta", meta)
    assert "a folder of 13000 files makes a model.yaml over the 1048576 byte limit" in result.stderr
    assert registry.snapshot() == before
