"""The `hooks:` section of gitmodel.yaml, read without YAML when it is absent.

    hooks:
      max_file_size: 5 MiB      # pre-commit refuses larger staged files
      dvc_remote_check: true    # pre-push refuses versions whose bytes are not on the remote

The server's DVC check is not set here (a pusher controls this file) but in the bare
repository's git config, `gitmodel.dvcRemoteCheck` (see install.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from gitmodel.errors import UsageError

DEFAULT_MAX_FILE_SIZE = 5 * 1024 * 1024
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "ki": 1024, "mi": 1024**2, "gi": 1024**3}


@dataclass(frozen=True)
class HookSettings:
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    dvc_remote_check: bool = True


def parse_size(value: object, source: str = "gitmodel.yaml") -> int:
    """Bytes from 1048576, "500k", "5MB" (decimal) or "5 MiB" (binary)."""
    if isinstance(value, bool):
        raise UsageError(f"{source}: hooks.max_file_size must be a size such as 5MiB")
    if isinstance(value, int) and value > 0:
        return value
    m = _SIZE.match(str(value))
    if not m:
        raise UsageError(f"{source}: hooks.max_file_size {value!r} is not a size; write e.g. 5MiB or 500kB")
    unit = (m[2] or "").lower().removesuffix("b")
    size = int(float(m[1]) * _UNITS[unit])
    if size <= 0:
        raise UsageError(f"{source}: hooks.max_file_size must be more than 0 bytes")
    return size


def parse(text: str | None, source: str = "gitmodel.yaml") -> HookSettings:
    # Most registries never set `hooks:`; skipping the YAML parser then keeps the
    # commit hook's fast path free of ruamel's import (~40 ms).
    if not text or not re.search(r"^hooks\s*:", text, re.MULTILINE):
        return HookSettings()
    from gitmodel.yamlio import loads, plain

    data = plain(loads(text, source))
    section = data.get("hooks") if isinstance(data, dict) else None
    if section is None:
        return HookSettings()
    if not isinstance(section, dict):
        raise UsageError(f"{source}: hooks must be a mapping (max_file_size, dvc_remote_check)")
    unknown = sorted(set(section) - {"max_file_size", "dvc_remote_check"})
    if unknown:
        raise UsageError(
            f"{source}: unknown hooks setting {', '.join(unknown)}; known: max_file_size, dvc_remote_check"
        )
    check = section.get("dvc_remote_check", True)
    if not isinstance(check, bool):
        raise UsageError(f"{source}: hooks.dvc_remote_check must be true or false")
    size = section.get("max_file_size", DEFAULT_MAX_FILE_SIZE)
    return HookSettings(parse_size(size, source), check)


def load(root: Path) -> HookSettings:
    """Settings from the work tree's gitmodel.yaml (defaults when there is none)."""
    try:
        text = (root / "gitmodel.yaml").read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return HookSettings()
    return parse(text)
