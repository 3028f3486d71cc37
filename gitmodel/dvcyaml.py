"""The `artifacts:` declarations in dvc.yaml that DVC and GTO read (DVC's own format).

A plain model is declared in the root dvc.yaml; a namespaced `acme:support` in
`acme/dvc.yaml`, with paths relative to `acme/`, which is how DVC resolves `dir:name`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gitmodel.refs import dvc_yaml_dir, model_dir, short_name
from gitmodel.yamlio import dump_atomic, load_mapping, plain


def path_for(model: str) -> str:
    folder = dvc_yaml_dir(model)
    return f"{folder}/dvc.yaml" if folder else "dvc.yaml"


def declare(repo: Path, model: str, artifact_name: str, meta: dict[str, Any]) -> None:
    from ruamel.yaml.comments import CommentedMap

    path = repo / path_for(model)
    data = load_mapping(path) if path.exists() else CommentedMap()
    artifacts = data.get("artifacts")
    if artifacts is None:
        artifacts = data["artifacts"] = CommentedMap()
    folder = dvc_yaml_dir(model)
    rel = model_dir(model)[len(folder) + 1 :] if folder else model_dir(model)
    old = artifacts.get(short_name(model))
    entry = CommentedMap(old or {})
    entry["path"] = f"{rel}/{artifact_name}"
    entry["type"] = "model"
    desc = meta.get("description")
    if desc and "desc" not in entry:  # describes the model, so set once, from its first version
        entry["desc"] = str(desc).strip().splitlines()[0][:200]
    labels = meta.get("labels")
    if labels:
        entry["labels"] = list(labels)
    # Only what stays true across versions: the version itself lives in model.yaml and tags.
    entry["meta"] = {"base_model": meta.get("base_model")}
    if old is not None and plain(old) == plain(entry):
        return  # unchanged: no rewrite (a ruamel round-trip of a big dvc.yaml costs ~0.3 s)
    artifacts[short_name(model)] = entry
    dump_atomic(path, data)
