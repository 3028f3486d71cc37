"""Version metadata: read what the user wrote, fill what gitmodel knows, validate.

The schema (schema/model.schema.json) describes the complete model.yaml; a user's
`--meta FILE` supplies the descriptive part and gitmodel fills the rest.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from gitmodel import git, untrusted
from gitmodel.errors import MetadataError
from gitmodel.refs import Version, model_dir
from gitmodel.registry import ModelState
from gitmodel.yamlio import load_mapping, loads, plain

# `prompts` holds the sha256 of each prompts/NAME.txt beside model.yaml (gitmodel/prompts.py)
COMPUTED = ("name", "version", "parent_version", "artifact", "created_at", "created_by", "prompts")


@cache
def schema() -> dict[str, Any]:
    text = resources.files("gitmodel").joinpath("schema/model.schema.json").read_text()
    return json.loads(text)  # type: ignore[no-any-return]


def read_user_meta(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    data = plain(load_mapping(path))
    given = [k for k in COMPUTED if k in data]
    if given:
        raise MetadataError(
            f"{path}: {', '.join(given)} {'is' if len(given) == 1 else 'are'} filled in by "
            f"gitmodel; remove {'it' if len(given) == 1 else 'them'} from the file"
        )
    return data  # type: ignore[no-any-return]


NOT_INHERITED = (*COMPUTED, "metrics", "description")


def inherit(parent: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
    """The parent version's descriptive fields, deep-merged with what the user gave (`merge`).

    Metrics and the description belong to one version and are never carried over.
    """
    return merge({k: v for k, v in parent.items() if k not in NOT_INHERITED}, user)


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`: mappings merge key by key, `null` removes a key, anything else replaces.

    So `inference: {temperature: 0.1}` keeps the parent's top_p and max_tokens; lists are
    values, replaced whole, as a list has no keys to merge by.
    """
    merged = dict(base)
    for key, value in over.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def complete(
    user: dict[str, Any],
    *,
    name: str,
    version: str,
    parent: str | None,
    artifact: dict[str, Any],
    created_by: str,
    message: str | None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    when = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    meta: dict[str, Any] = {
        "name": name,
        "version": version,
        "parent_version": parent,
        "created_at": when.isoformat().replace("+00:00", "Z"),
        "created_by": created_by,
    }
    meta.update(user)
    if message:
        meta["description"] = message
    meta.setdefault("description", "")
    meta["artifact"] = artifact
    return meta


def validate(meta: dict[str, Any], source: str) -> None:
    """Raise MetadataError naming the file, the field and the rule that failed."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    validator = Draft202012Validator(schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)
    error = best_match(validator.iter_errors(meta))
    if error is None:
        untrusted.version_artifact(meta, source)  # paths and hashes: the one door (issue 9)
        return
    field = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        field = ".".join([*(str(p) for p in error.absolute_path), missing])
        raise MetadataError(f"{source}: {field} is required; add it to the metadata file")
    raise MetadataError(f"{source}: {field}: {error.message} (rule: {error.validator})")


def at_version(repo: Path, state: ModelState, version: Version) -> dict[str, Any] | None:
    """A registered version's model.yaml, read from its commit (no checkout); None if absent."""
    text = git.show(repo, state.version_event(version).commit, f"{model_dir(state.name)}/model.yaml")
    if text is None:
        return None
    data = plain(loads(text, f"{state.name}@{version} model.yaml"))
    return data if isinstance(data, dict) else {}


def pointer_at(repo: Path, state: ModelState, version: Version, meta: dict[str, Any]) -> str | None:
    """The text of the version's .dvc pointer (named by its metadata); None if absent."""
    path = (meta.get("artifact") or {}).get("path")
    if not path:
        return None
    return git.show(repo, state.version_event(version).commit, f"{model_dir(state.name)}/{path}.dvc")
