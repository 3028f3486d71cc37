"""What the host file and the user file parse alike: `commands:`, absolute paths, the read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gitmodel import validate as v


def commands(value: object, at: v.Field) -> dict[str, str]:
    found = {}
    for key, command in v.table(value, at, "command names to command lines").items():
        if not v.COMMAND_KEY.match(key):
            raise (at / key).error("is not a command name; use lowercase letters, digits, '.', '_' and '-'")
        found[key] = v.text(command, at / key)
    return found


def absolute(value: object, at: v.Field) -> Path:
    path = Path(v.text(value, at))
    if not path.is_absolute():
        raise at.error(f"must be an absolute path, not {value!r}")
    return path


def read(path: Path) -> dict[str, Any] | None:
    """The file's mapping; None when there is no file (a laptop has no host file)."""
    from gitmodel.yamlio import load_mapping, plain

    if not path.exists():
        return None
    return dict(plain(load_mapping(path)))
