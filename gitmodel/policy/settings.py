"""The `hooks:` section of gitmodel.yaml, read without YAML when it is absent.

    hooks:
      max_file_size: 5 MiB      # pre-commit refuses larger staged files
      dvc_remote_check: true    # pre-push refuses versions whose bytes are not on the remote

The server's DVC check is not set here (a pusher controls this file) but in the bare
repository's git config, `gitmodel.dvcRemoteCheck` and `gitmodel.dvcRemoteUrl` (dvcremote.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from gitmodel import validate as v

DEFAULT_MAX_FILE_SIZE = 5 * 1024 * 1024
_KEYS = ("max_file_size", "dvc_remote_check")


@dataclass(frozen=True)
class HookSettings:
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    dvc_remote_check: bool = True


def parse_section(value: object, at: v.Field | None = None) -> HookSettings:
    at = at or v.Field("gitmodel.yaml", "hooks")
    fields = v.mapping(value, at, _KEYS, "hooks setting")
    return HookSettings(
        v.size(fields.get("max_file_size", DEFAULT_MAX_FILE_SIZE), at / "max_file_size"),
        v.flag(fields.get("dvc_remote_check", True), at / "dvc_remote_check"),
    )


def parse_size(value: object, source: str = "gitmodel.yaml") -> int:
    """Bytes from 1048576, "500k", "5MB" (decimal) or "5 MiB" (binary)."""
    return v.size(value, v.Field(source, "hooks", "max_file_size"))


def parse(text: str | None, source: str = "gitmodel.yaml") -> HookSettings:
    """Only the `hooks:` section: the commit hook's fast path (the `config` rule reads it all)."""
    # Most registries never set `hooks:`; skipping the YAML parser then keeps the
    # commit hook's fast path free of ruamel's import (~40 ms).
    if not text or not re.search(r"^hooks\s*:", text, re.MULTILINE):
        return HookSettings()
    from gitmodel.yamlio import loads, plain

    data = plain(loads(text, source))
    return parse_section(data.get("hooks") if isinstance(data, dict) else None, v.Field(source, "hooks"))


# yamlio.MAX_BYTES, the YAML reader's own limit (tests/test_attack_review.py holds them
# equal); not imported from there: a commit touching no model loads no YAML module.
YAML_LIMIT = 1 << 20


def load(repo: Path) -> HookSettings:
    """Settings from the work tree's gitmodel.yaml (defaults when there is none)."""
    from gitmodel.untrusted import read_checkout_file

    # Never through a link the repo holds (a link to /dev/zero hung the commit hook).
    data = read_checkout_file(repo, "gitmodel.yaml", "gitmodel.yaml", YAML_LIMIT)
    if data is None:
        return HookSettings()
    try:
        return parse(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise v.ConfigError(f"cannot read gitmodel.yaml: {exc}") from None
