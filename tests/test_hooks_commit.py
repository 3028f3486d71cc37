"""pre-commit: schema, immutable version files, no bytes in Git; and its fast path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from plugin.hooks import refused
from plugin.registry import Registry, git, random_bytes

from gitmodel import yamlio


@pytest.fixture
def reg(registered: Registry) -> Registry:
    return registered


def commit(reg: Registry, *paths: str) -> subprocess.CompletedProcess[str]:
    git(reg.root, "add", "-A", "--", *paths)
    return git(reg.root, "commit", "-q", "-m", "change", check=False)


def head(reg: Registry) -> str:
    return git(reg.root, "rev-parse", "HEAD").stdout.strip()


def edit_meta(reg: Registry, folder: str = "models/support", **fields: object) -> None:
    path = reg.root / folder / "model.yaml"
    data = yamlio.load_mapping(path)
    data.update(fields)
    path.write_text(yamlio.dumps(data))


def test_commit_touching_no_model_passes_without_heavy_imports(reg: Registry) -> None:
    reg.write("README.md", "hello")
    git(reg.root, "add", "README.md")
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gitmodel", "hook", "pre-commit"],
        cwd=reg.root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    heavy = sorted(m for m in imported if m.split(".")[0] in ("dvc", "jsonschema", "ruamel", "git"))
    assert heavy == [], heavy
    assert "gitmodel.hooks.staged" in imported  # the check did run
    assert commit(reg, "README.md").returncode == 0


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"metrics": {"accuracy": "high"}}, "metrics.accuracy"),
        ({"base_model": ""}, "base_model"),
        ({"version": "1.1.0"}, "version"),
        ({"inference": {"temperature": -1}}, "inference.temperature"),
    ],
)
def test_schema_breaking_edit_is_refused(reg: Registry, fields: dict[str, object], words: str) -> None:
    edit_meta(reg, **{"version": "v1.1.0", **fields})
    before = head(reg)
    err = refused(commit(reg, "models"), "models/support/model.yaml", "schema")
    assert words in err
    assert head(reg) == before
    assert len(err.strip().splitlines()) == 1


def test_not_yaml_is_refused(reg: Registry) -> None:
    (reg.root / "models/support/model.yaml").write_text("base_model: [unclosed\n")
    assert "not valid YAML" in refused(commit(reg, "models"), "models/support/model.yaml", "schema")


def test_wrong_name_is_refused(reg: Registry) -> None:
    edit_meta(reg, version="v1.1.0", name="other")
    assert "folder of 'support'" in refused(commit(reg, "models"), "models/support/model.yaml", "schema")


@pytest.mark.parametrize("what", ["metadata", "pointer", "pointer-removed"])
def test_editing_a_registered_version_in_place_is_refused(reg: Registry, what: str) -> None:
    pointer = reg.root / "models/support/m.gguf.dvc"
    if what == "metadata":
        edit_meta(reg, description="quietly edited")
        subject = "models/support/model.yaml"
    elif what == "pointer":
        pointer.write_text(pointer.read_text().replace("md5: ", "md5: 0"))
        subject = "models/support/m.gguf.dvc"
    else:
        pointer.unlink()
        subject = "models/support/m.gguf.dvc"
    before = head(reg)
    err = refused(commit(reg, "models"), subject, "immutable-version-files")
    assert "support@v1.0.0" in err and "gitmodel register" in err
    assert head(reg) == before


def test_a_new_version_may_rewrite_the_folder(reg: Registry) -> None:
    edit_meta(reg, version="v1.0.1", parent_version="v1.0.0", prompt_template="v4")
    assert commit(reg, "models").returncode == 0


def test_a_new_version_must_be_greater(reg: Registry) -> None:
    edit_meta(reg, version="v0.9.0", prompt_template="v4")
    err = refused(commit(reg, "models"), "models/support/model.yaml", "version-order")
    assert "lower than support@v1.0.0" in err


def test_removing_a_model_from_the_branch_is_allowed(reg: Registry) -> None:
    git(reg.root, "rm", "-q", "-r", "--cached", "models/support")
    assert git(reg.root, "commit", "-q", "-m", "retire").returncode == 0


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("models/support/extra.bin", False),
        ("models/support/sub/weights.safetensors", False),
        ("models/loose.gguf", False),
        ("models/support/README.md", True),
        ("models/README.md", True),
        ("src/models/layers/net.py", True),
    ],
)
def test_bytes_in_model_folders(reg: Registry, path: str, allowed: bool) -> None:
    reg.write(path, random_bytes(100, 3))
    proc = commit(reg, path)
    if allowed:
        assert proc.returncode == 0, proc.stderr
    else:
        assert "dvc" in refused(proc, path, "no-bytes-in-git").lower()


def test_namespaced_model_folder(registry: Registry) -> None:
    registry.write("w.gguf", random_bytes(2000, 4))
    registry.ok("register", "acme/support", "w.gguf", "--meta", str(registry.meta()))
    registry.write("acme/models/support/extra.bin", b"x" * 10)
    refused(commit(registry, "acme"), "acme/models/support/extra.bin", "no-bytes-in-git")
    git(registry.root, "rm", "-q", "--cached", "acme/models/support/extra.bin")
    edit_meta(registry, "acme/models/support", description="edited")
    err = refused(
        commit(registry, "acme/models"), "acme/models/support/model.yaml", "immutable-version-files"
    )
    assert "acme=support@v1.0.0" in err


def test_large_files_anywhere_are_refused_and_the_limit_is_configurable(reg: Registry) -> None:
    reg.write("data/train.jsonl", random_bytes(6 * 1024 * 1024, 5))
    err = refused(commit(reg, "data"), "data/train.jsonl", "max-file-size")
    assert "6.0 MiB is over the 5.0 MiB limit" in err
    git(reg.root, "rm", "-q", "--cached", "data/train.jsonl")
    (reg.root / "data/train.jsonl").unlink()
    cfg = reg.root / "gitmodel.yaml"
    cfg.write_text(cfg.read_text() + "hooks:\n  max_file_size: 1KiB\n")
    assert commit(reg, "gitmodel.yaml").returncode == 0
    reg.write("notes.txt", "x" * 2000)
    assert "over the 1.0 KiB limit" in refused(commit(reg, "notes.txt"), "notes.txt", "max-file-size")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("environments: [staging, Prod]\n", "invalid environment name"),
        ("environments: [staging]\nhooks:\n  max_file_size: huge\n", "not a size"),
        ("environments: [staging]\nhooks:\n  typo: 1\n", "gitmodel.yaml: hooks.typo is not a hooks setting"),
    ],
)
def test_broken_config_is_refused(reg: Registry, text: str, words: str) -> None:
    (reg.root / "gitmodel.yaml").write_text(text)
    err = refused(commit(reg, "gitmodel.yaml"), "gitmodel.yaml", "config")
    assert words in err
    assert len(err.strip().splitlines()) == 1  # reported once, though the work tree has it too


def with_line(text: str, extra: str) -> str:
    """The default gitmodel.yaml with `extra` in place of its line of the same key, or appended."""
    first = extra.splitlines(keepends=True)[0]
    key = first.split(":")[0] + ":"
    lines = text.splitlines(keepends=True)
    same = [i for i, line in enumerate(lines) if line.startswith(key)]
    if not same:
        return text + extra
    lines[same[0]] = extra
    return "".join(lines)


# Each section, read in full by the one reader: a typo anywhere is refused at commit.
BAD_SECTIONS = [
    (
        "  metrics: {accuracy: {tolerence: 0.02}}\n",
        "gitmodel.yaml: gate.metrics.accuracy.tolerence is not a gate rule key; did you mean tolerance?",
    ),
    (
        "  metrics: {accuracy: {tolerance: low}}\n",
        "gitmodel.yaml: gate.metrics.accuracy.tolerance must be a number, not 'low'",
    ),
    (
        "rollout:\n  triggers:\n    - {metric: error_rate, abovee: 0.1}\n",
        "gitmodel.yaml: rollout.triggers.0.abovee is not a trigger key; did you mean above?",
    ),
    (
        "rollout:\n  triggers:\n    - {metric: gpu_temp, above: 90}\n",
        "gitmodel.yaml: rollout.triggers.0.metric must be one of error_rate",
    ),
    ("smoke:\n  command: python eval.py\n", "gitmodel.yaml: smoke.command is a command line"),
    ("  hot_versions: 3\n  reload: {command: systemctl reload x}\n", "host.reload.command is a command line"),
    ("  hot_versions: 3\n  info_url: http://10.0.0.1/\n", "gitmodel.yaml: host.info_url is a URL hosts call"),
    ("gates:\n  tolerance: 0.1\n", "gitmodel.yaml: gates is not a section; did you mean gate?"),
]


@pytest.mark.parametrize(("extra", "words"), BAD_SECTIONS)
def test_a_bad_section_is_refused_and_nothing_is_committed(reg: Registry, extra: str, words: str) -> None:
    before = head(reg)
    cfg = reg.root / "gitmodel.yaml"
    cfg.write_text(with_line(cfg.read_text(), extra))
    proc = commit(reg, "gitmodel.yaml")
    assert proc.returncode == 1
    err = refused(proc, "gitmodel.yaml", "config")
    assert words in err and len(err.strip().splitlines()) == 1
    assert head(reg) == before


def test_every_problem_is_reported(reg: Registry) -> None:
    edit_meta(reg, description="edited in place")
    reg.write("models/support/extra.bin", b"x")
    err = commit(reg, "models").stderr
    assert "[immutable-version-files]" in err and "[no-bytes-in-git]" in err


def test_first_commit_of_a_repository(tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    root.mkdir()
    git(root, "init", "-q")
    (root / "models/x").mkdir(parents=True)
    (root / "models/x/w.bin").write_bytes(b"weights")
    git(root, "add", "-A")
    proc = subprocess.run(
        [sys.executable, "-m", "gitmodel", "hook", "pre-commit"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "refused models/x/w.bin [no-bytes-in-git]" in proc.stderr
