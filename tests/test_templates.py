"""The session templates: each copy is a registry of its own (repo, origin, DVC remote)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from plugin.fsguard import listing
from plugin.registry import Registry, git, make_runner, refs
from plugin.templates import GOOD, Templates, new_version

from gitmodel import dvc


def _texts(root: Path) -> dict[Path, str]:
    """Every readable text file under ROOT except git's objects (compressed)."""
    out = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink() and "objects" not in path.parts:
            with contextlib.suppress(UnicodeDecodeError, OSError):
                out[path] = path.read_text()
    return out


def test_a_copy_names_no_path_of_its_template(model: Registry, templates: Templates, tmp_path: Path) -> None:
    texts = {**_texts(model.root), **_texts(tmp_path / "origin.git")}
    template = str(templates.base / "staged")
    assert not [p for p, text in texts.items() if template in text]
    assert git(model.root, "remote", "get-url", "origin").stdout.strip() == str(tmp_path / "origin.git")
    assert dvc.config.local_remote(model.root) is not None
    assert dvc.config.local_remote(model.root).resolve() == model.remote  # type: ignore[union-attr]


def test_pushes_land_in_the_copy_only(
    model: Registry, templates: Templates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = templates.base / "staged"
    before = listing(template)
    new_version(model, 7, GOOD, "--push")
    model.ok("promote", "support", "v1.2.0", "staging", "--push")
    model.ok("promote", "support", "v1.2.0", "production", "--push")
    model.ok("promote", "support", "v1.1.0", "production", "--push")
    assert "refs/tags/support@v1.2.0" in " ".join(refs(tmp_path / "origin.git"))
    assert listing(template) == before
    # A clone of the copy's origin reads the committed DVC config: it reaches this copy's remote.
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(clone))
    assert dvc.config.local_remote(clone).resolve() == model.remote  # type: ignore[union-attr]
    other = Registry(clone, model.remote, make_runner(monkeypatch, clone))
    shown = json.loads(other.ok("list", "--json").stdout)["models"][0]["environments"]
    assert shown["production"] == "v1.1.0"
    # Rolling back checks the DVC remote holds v1.2.0: only this copy's remote does.
    assert "v1.2.0" in other.ok("rollback", "production", "support", "--push").stdout


def test_two_copies_do_not_share_tags(
    released: Registry,
    templates: Templates,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    second = templates.copy("released", tmp_path_factory.mktemp("second"), monkeypatch)
    released.ok("promote", "support", "v1.1.0", "staging")
    assert "support#staging#3" in " ".join(refs(released.root))
    assert "support#staging#3" not in " ".join(refs(second.root))
