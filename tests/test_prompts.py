"""gitmodel/prompts.py: the template files' one parser, the matrix, the compatibility check (pure)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from plugin.fsguard import Guard

from gitmodel import config, prompts, versioning
from gitmodel.errors import PolicyError
from gitmodel.refs import Version
from gitmodel.validate import ConfigError

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64


@pytest.mark.parametrize(
    ("files", "error"),
    [
        ({"Support.txt": b"x"}, "prompts/'Support.txt' is refused: a template is NAME.txt"),
        ({"support.j2": b"x"}, "prompts/'support.j2' is refused: a template is NAME.txt"),
        ({"..txt": b"x"}, "a template is NAME.txt"),
        ({"a\u202etxt.txt": b"x"}, "prompts/'a\\u202etxt.txt' is refused"),
        ({"support.txt": b"\xff\xfe"}, "prompts/'support.txt' is refused: it is not UTF-8 text"),
        ({"support.txt": b"x" * (prompts.MAX_BYTES + 1)}, "(65537 bytes) is refused: at most 65536 bytes"),
        (
            {"evil.txt": "a symbolic link"},
            "prompts/'evil.txt' is refused: it is a symbolic link, not a plain file",
        ),
        ({f"t{i}.txt": b"x" for i in range(33)}, "prompts/ (33 entries) is refused: at most 32 templates"),
    ],
    ids=["uppercase", "suffix", "dots", "bidi", "not-utf8", "too-big", "symlink", "too-many"],
)
def test_the_parser_refuses_with_one_line(files: dict[str, bytes | str], error: str) -> None:
    with pytest.raises(prompts.PromptError) as caught:
        prompts.parse(files, "models/support")
    message = str(caught.value)
    assert message.startswith("models/support: ") and error in message, message
    assert "\n" not in message


def test_hashes_are_the_files_sha256() -> None:
    found = prompts.parse({"support.txt": b"hi\n", "qa-v3.2.txt": b""}, "x")
    assert found.hashes() == {
        "qa-v3.2": "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "support": "sha256:98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4",
    }


def test_read_dir_refuses_links_fifos_and_folders_and_changes_nothing(
    tmp_path: Path, fs_guard: Callable[..., Guard]
) -> None:
    model = tmp_path / "models" / "support"
    (model / "prompts").mkdir(parents=True)
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours\n")
    guard = fs_guard(tmp_path)
    attacks: list[tuple[Callable[[Path], None], str]] = [
        (lambda p: p.symlink_to(secret), "it is a symbolic link"),
        (lambda p: os.mkfifo(p), "it is not a plain file"),
        (lambda p: p.mkdir(), "it is a folder"),
    ]
    for make, error in attacks:
        target = model / "prompts" / "evil.txt"
        make(target)
        guard = fs_guard(tmp_path)
        with pytest.raises(prompts.PromptError, match=error):
            prompts.read_dir(model, "models/support")
        guard.assert_only()
        target.unlink() if not target.is_dir() or target.is_symlink() else target.rmdir()

    (model / "prompts").rmdir()
    (model / "prompts").symlink_to(tmp_path)  # the whole folder a link elsewhere
    with pytest.raises(prompts.PromptError, match="it is not a plain folder"):
        prompts.read_dir(model, "models/support")
    (model / "prompts").unlink()
    assert prompts.read_dir(model, "models/support") is None


def test_check_hashes_names_the_template_that_disagrees() -> None:
    found = prompts.parse({"support.txt": b"hi\n"}, "x")
    prompts.check_hashes({"prompts": found.hashes()}, found, "model.yaml")
    with pytest.raises(
        PolicyError, match=r"prompts.support says sha256:a+ but prompts/support.txt is sha256:98"
    ):
        prompts.check_hashes({"prompts": {"support": A}}, found, "model.yaml")
    with pytest.raises(PolicyError, match=r"prompts.gone says sha256:a+ but prompts/gone.txt is no file"):
        prompts.check_hashes({"prompts": {"gone": A}}, None, "model.yaml")


MATRIX = f"""\
environments: [staging, production]
compatibility:
  support:
    - versions: ">=1.0.0, <2.0.0"
      prompts: [support, "qa@{A}"]
      embeddings: [bge-small]
    - versions: ">= 2.0.0"
      prompts: [support]
"""


@pytest.mark.parametrize(
    ("version", "templates", "embedding", "error"),
    [
        ("v1.2.0", {"support": B, "qa": A}, "bge-small", None),
        ("v1.2.0", {}, None, None),
        ("v2.5.0", {"support": B}, "anything", None),
        ("v1.2.0", {"qa": B}, None, "with prompt template qa (sha256:bbbbbbbbbbbb…) is incompatible: "),
        (
            "v1.2.0",
            {"other": A},
            None,
            "compatibility.support[0] (versions >=1.0.0, <2.0.0) does not list it",
        ),
        ("v1.2.0", {}, "e5", "with embedding model 'e5' (its embedding_model) is incompatible"),
        ("v2.0.0", {"qa": A}, None, "compatibility.support[1] (versions >= 2.0.0) does not list it"),
        ("v0.9.0", {}, None, "support v0.9.0 is in no range of gitmodel.yaml compatibility.support"),
    ],
)
def test_the_matrix_refuses_the_pair_and_names_the_rule(
    version: str, templates: dict[str, str], embedding: str | None, error: str | None
) -> None:
    matrix = config.parse_text(MATRIX).compatibility
    if error is None:
        prompts.check(matrix, "support", Version.parse(version), templates, embedding)
        return
    with pytest.raises(prompts.Incompatible) as caught:
        prompts.check(matrix, "support", Version.parse(version), templates, embedding)
    assert error in str(caught.value), str(caught.value)
    prompts.check(matrix, "other-model", Version.parse(version), templates, embedding)  # unconstrained


@pytest.mark.parametrize(
    ("section", "error"),
    [
        ("{support: [{versions: '~1.0'}]}", "compatibility.support.0.versions has '~1.0'; write comparisons"),
        (
            "{support: [{prompt: [x]}]}",
            "compatibility.support.0.prompt is not a rule key; did you mean prompts?",
        ),
        ("{support: [{prompts: ['x@sha256:12']}]}", "a template is NAME or NAME@sha256:HEX"),
        ("{support: [{prompts: ['Bad Name']}]}", "has 'Bad Name'"),
        ("{support: []}", "compatibility.support must be a list of 1 to 100 rules"),
        ("{'Bad Model': [{versions: '*'}]}", "compatibility.Bad Model is not a model name: invalid"),
        ("{support: [{embeddings: 7}]}", "compatibility.support.0.embeddings must be a list of names"),
        ("[support]", "compatibility must be a mapping of model names"),
    ],
)
def test_a_broken_matrix_is_one_config_error(section: str, error: str) -> None:
    with pytest.raises((ConfigError, PolicyError)) as caught:
        config.parse_text(f"environments: [staging]\ncompatibility: {section}\n")
    assert error in str(caught.value), str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_template_text_change_needs_a_patch_and_bytes_still_a_minor() -> None:
    art = {"files": {"m.gguf": A}}
    old = {"base_model": "b", "artifact": art, "prompts": {"support": A}}
    assert versioning.change_level(old, {**old, "prompts": {"support": B}}) == (
        "patch",
        "prompt template support changed",
    )
    assert versioning.change_level(old, {**old, "prompts": {"support": A, "qa": A}})[0] == "patch"
    assert versioning.change_level(old, {**old, "prompts": {}})[1] == "prompt template support changed"
    new_bytes = {**old, "artifact": {"files": {"m.gguf": B}}, "prompts": {"support": B}}
    assert versioning.change_level(old, new_bytes) == ("minor", "artifact bytes changed")
    assert versioning.change_level(old, dict(old))[0] is None
