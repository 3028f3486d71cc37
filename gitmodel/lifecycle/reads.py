"""Many versions' model.yaml in one `git cat-file --batch` (any number of models)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gitmodel import git
from gitmodel.errors import GitModelError
from gitmodel.refs import Version, model_dir
from gitmodel.registry import ModelState
from gitmodel.yamlio import loads, plain

Key = tuple[str, Version]


def texts(repo: Path, wanted: list[tuple[ModelState, Version]]) -> dict[Key, str | None]:
    """Each version's model.yaml text, read from its registration commit (None if absent)."""
    blobs = git.read_blobs(repo, [spec(s.versions[v].commit, s.name) for s, v in wanted])
    return {
        (s.name, v): None if raw is None else raw.decode("utf-8", errors="replace")
        for (s, v), raw in zip(wanted, blobs, strict=True)
    }


def spec(commit: str, model: str) -> str:
    """Where a version's model.yaml is, as git names it: COMMIT:models/NAME/model.yaml."""
    return f"{commit}:{model_dir(model)}/model.yaml"


def parse(text: str | None, source: str) -> dict[str, Any] | None:
    """A model.yaml text as plain data; None when absent or not a readable mapping."""
    if text is None:
        return None
    try:
        data = plain(loads(text, source))
    except (GitModelError, ValueError):  # ValueError: a value YAML reads as an impossible date
        return None
    return data if isinstance(data, dict) else None


def metadata(repo: Path, wanted: list[tuple[ModelState, Version]]) -> dict[Key, dict[str, Any] | None]:
    return {key: parse(t, f"{key[0]}@{key[1]} model.yaml") for key, t in texts(repo, wanted).items()}
