"""dvc.yaml `artifacts:` edits: the one-block splice writes what the ruamel round-trip writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitmodel import dvcyaml, yamlio

META = {"description": "Support bot\nmore", "base_model": "llama-3-8b", "labels": ["nlp", "support"]}


def seeded(root: Path, names: list[str]) -> Path:
    for name in names:
        dvcyaml._round_trip(root, name, "weights.gguf", {**META, "base_model": f"base-{name}"})
    return root / "dvc.yaml"


@pytest.mark.parametrize(
    ("model", "meta"),
    [
        ("m01", {**META, "base_model": "other"}),  # an entry in the middle changes
        ("m02", {"base_model": "base-m02"}),  # the last one, no labels now
        ("m10", META),  # a new model goes last
        ("m0", META),  # a new name that prefixes others
    ],
)
def test_the_splice_writes_what_the_round_trip_writes(
    tmp_path: Path, model: str, meta: dict[str, object]
) -> None:
    spliced, round_tripped = tmp_path / "a", tmp_path / "b"
    for root in (spliced, round_tripped):
        root.mkdir()
        seeded(root, ["m00", "m01", "m02"])
    dvcyaml.declare(spliced, model, "weights.gguf", meta)
    dvcyaml._round_trip(round_tripped, model, "weights.gguf", meta)
    assert (spliced / "dvc.yaml").read_text() == (round_tripped / "dvc.yaml").read_text()


def test_a_first_model_and_a_namespaced_one(tmp_path: Path) -> None:
    dvcyaml.declare(tmp_path, "support", "s.gguf", META)
    (tmp_path / "acme").mkdir()  # register makes the model's folder first
    dvcyaml.declare(tmp_path, "acme:adapter", "adapter", META)
    assert (
        yamlio.load_mapping(tmp_path / "dvc.yaml")["artifacts"]["support"]["path"] == "models/support/s.gguf"
    )
    acme = yamlio.load_mapping(tmp_path / "acme/dvc.yaml")["artifacts"]["adapter"]
    assert acme["path"] == "models/adapter/adapter"


def test_an_unchanged_entry_is_not_rewritten(tmp_path: Path) -> None:
    path = seeded(tmp_path, ["m00", "m01"])
    before = path.stat()
    dvcyaml.declare(tmp_path, "m01", "weights.gguf", {**META, "base_model": "base-m01"})
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_comments_and_odd_documents_take_the_round_trip(tmp_path: Path) -> None:
    path = seeded(tmp_path, ["m00", "m01"])
    text = path.read_text().replace("  m01:\n", "  m01:  # the team's favourite\n")
    path.write_text("# top comment\n" + text + "stages: {}\n")
    dvcyaml.declare(tmp_path, "m01", "weights.gguf", {**META, "base_model": "new"})
    out = path.read_text()
    assert "# the team's favourite" in out and "# top comment" in out
    assert yamlio.load_mapping(path)["artifacts"]["m01"]["meta"] == {"base_model": "new"}
    # anchors and aliases are never read by the unbounded loader
    path.write_text("base: &b {base_model: x}\nartifacts:\n  m00: {path: p, meta: *b}\n")
    dvcyaml.declare(tmp_path, "m00", "weights.gguf", META)
    assert yamlio.load_mapping(path)["artifacts"]["m00"]["meta"] == {"base_model": "llama-3-8b"}
