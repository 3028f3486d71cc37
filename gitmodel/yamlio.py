"""YAML in and out, round-trip so users' comments and key order survive our edits."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from gitmodel.errors import UsageError


def _yaml() -> Any:
    from ruamel.yaml import YAML

    y = YAML()
    y.default_flow_style = False
    y.width = 4096
    return y


def loads(text: str, source: str) -> Any:
    from ruamel.yaml.error import YAMLError

    try:
        return _yaml().load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageError(f"{source}:{where} is not valid YAML ({problem}); fix the file") from None


def load(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist; check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    return loads(text, str(path))


def load_mapping(path: Path) -> dict[str, Any]:
    data = load(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UsageError(f"{path} must hold a YAML mapping (key: value), not a {type(data).__name__}")
    return data


def dumps(data: Any) -> str:
    buf = io.StringIO()
    _yaml().dump(data, buf)
    return buf.getvalue()


def dump_atomic(path: Path, data: Any) -> None:
    """Write via a temp file in the same directory and rename it over the target."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(dumps(data), encoding="utf-8")
    tmp.replace(path)


def plain(data: Any) -> Any:
    """ruamel's comment-carrying containers as plain dicts and lists (for JSON and jsonschema)."""
    if isinstance(data, dict):
        return {str(k): plain(v) for k, v in data.items()}
    if isinstance(data, list):
        return [plain(v) for v in data]
    return data
