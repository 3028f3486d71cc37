"""The host directory contract: every path under ROOT/NAME_DIR and the formats of its files.

Pure: it names paths, reads and validates; it never writes.  The deployer writes this
layout through gitmodel/host/fs.py and the reference server (gitmodel/server/) reads
it; both take every name from here so they cannot drift:

    ROOT/NAME_DIR/versions/vX.Y.Z/                      one complete, read-only version
    ROOT/NAME_DIR/versions/vX.Y.Z/gitmodel-version.json the manifest, written last
    ROOT/NAME_DIR/versions/vX.Y.Z/<artifact>            the model file or folder
    ROOT/NAME_DIR/versions/vX.Y.Z/gitmodel-checks.yaml  the version's functional checks, if any
    ROOT/NAME_DIR/versions/vX.Y.Z/gitmodel-prompts/     its prompt templates NAME.txt, if any
    ROOT/NAME_DIR/current -> versions/vX.Y.Z            relative symlink, swapped by rename
    ROOT/NAME_DIR/canary.json                           {"version", "percent", "salt", ...}
    ROOT/NAME_DIR/.staging/                             half-built or retiring directories
    ROOT/NAME_DIR/.current-PID                          a temp link about to replace `current`
    ROOT/NAME_DIR/journal.jsonl                         what the host did (gitmodel/host/journal.py)
    ROOT/NAME_DIR/.deploy.lock                          one deploy per model at a time

NAME_DIR is the canonical model name with ':' written '=' (``acme:support`` ->
``acme=support``), as in GTO's tag names, so a namespaced model is one directory level.

canary.json is one file rather than a second symlink plus a weight file: the canary's
version and its share of traffic change together, and one rename keeps them consistent
for a server that reloads at any moment.  No file: no canary, all traffic stable.  The
canary's version directory is a complete version under versions/, like the stable one.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

from gitmodel.errors import UsageError
from gitmodel.refs import Version, parse_model

MANIFEST = "gitmodel-version.json"
CHECKS = "gitmodel-checks.yaml"  # a verbatim copy of the version's checks.yaml (gitmodel/checks.py)
PROMPTS = "gitmodel-prompts"  # the version's prompt templates, NAME.txt each (gitmodel/prompts.py)
VERSIONS = "versions"
CURRENT = "current"
CANARY = "canary.json"
STAGING = ".staging"
TMP_LINK = ".current-"  # + the writer's PID
JOURNAL = "journal.jsonl"
LOCK = ".deploy.lock"

KINDS = ("file", "directory")
FAULT_KEYS = ("error_rate", "latency_ms")
_MD5_RE = re.compile(r"^[0-9a-f]{32}(\.dir)?$")
_PROMPT_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")  # prompts.NAME: a template's file stem


class ManifestError(UsageError):
    """A version directory's manifest is missing or does not follow the contract."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(f"{path}: {why}; redeploy this version with `gitmodel deploy`")
        self.path = path
        self.why = why


def name_dir(model: str) -> str:
    """The directory name for a model; validates the name, so no path can escape ROOT."""
    return parse_model(model).replace(":", "=")


def model_root(root: Path, model: str) -> Path:
    return root / name_dir(model)


def versions_dir(root: Path, model: str) -> Path:
    return model_root(root, model) / VERSIONS


def version_dir(root: Path, model: str, version: str) -> Path:
    return versions_dir(root, model) / str(Version.parse(version))


def current_link(root: Path, model: str) -> Path:
    return model_root(root, model) / CURRENT


def manifest_path(version_dir: Path) -> Path:
    return version_dir / MANIFEST


def canary_path(root: Path, model: str) -> Path:
    return model_root(root, model) / CANARY


def staging_dir(model_root: Path) -> Path:
    return model_root / STAGING


def journal_path(model_root: Path) -> Path:
    return model_root / JOURNAL


JOURNAL_MAX_LINE = 1 << 20  # a record is under a few KiB; a longer line is read past, never held whole


def journal_lines(fh: BinaryIO) -> Iterator[bytes | None]:
    """A journal's non-blank lines, for its two readers (the host's and the audit's): a
    line over JOURNAL_MAX_LINE is read past in pieces and given as None (count it)."""
    while raw := fh.readline(JOURNAL_MAX_LINE + 1):
        if len(raw) > JOURNAL_MAX_LINE:
            while raw and not raw.endswith(b"\n"):
                raw = fh.readline(JOURNAL_MAX_LINE)
            yield None
        elif raw.strip():
            yield raw


def lock_path(model_root: Path) -> Path:
    return model_root / LOCK


def current_version(root: Path, model: str) -> Version | None:
    """The version `current` points at, or None when there is none (or it is not ours)."""
    try:
        target = os.readlink(current_link(root, model))
    except OSError:
        return None
    try:
        return Version.parse(Path(target).name)
    except UsageError:
        return None


def hot_versions(root: Path, model: str) -> list[Version]:
    """Complete version directories on disk (a manifest is written last, so it proves it)."""
    vdir = versions_dir(root, model)
    if not vdir.is_dir():
        return []
    found = []
    for child in vdir.iterdir():
        try:
            version = Version.parse(child.name)
        except UsageError:
            continue
        if manifest_path(child).is_file():
            found.append(version)
    return sorted(found)


def read_manifest(version_dir: Path) -> dict[str, Any]:
    """The manifest of one version directory, validated; raises ManifestError."""
    path = manifest_path(version_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        why = f"no {MANIFEST} (an incomplete or foreign directory)"
        raise ManifestError(version_dir, why) from None
    except OSError as exc:
        raise ManifestError(path, f"unreadable ({exc.strerror})") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ManifestError(path, f"not valid JSON ({exc})") from None
    try:
        return validate_manifest(data)
    except ValueError as exc:
        raise ManifestError(path, str(exc)) from None


def validate_manifest(data: Any) -> dict[str, Any]:
    """Check a manifest mapping against the contract; raises ValueError naming the field.

    Unknown keys are kept, so a newer deployer may add fields an older server ignores.
    """
    if not isinstance(data, dict):
        raise ValueError("the manifest must be a JSON object")
    for key in ("model", "version", "dvc_md5", "artifact", "kind", "files"):
        if key not in data:
            raise ValueError(f"missing key {key!r}")
    model = data["model"]
    if not isinstance(model, str):
        raise ValueError("'model' must be a string")
    try:
        if parse_model(model) != model:
            raise ValueError(f"'model' must be the canonical name {parse_model(model)!r}")
        Version.parse(data["version"] if isinstance(data["version"], str) else "")
    except UsageError as exc:
        raise ValueError(exc.message) from None
    if not isinstance(data["dvc_md5"], str) or not _MD5_RE.match(data["dvc_md5"]):
        raise ValueError("'dvc_md5' must be DVC's md5 (32 hex digits, '.dir' for a folder)")
    # The names come from model.yaml (repo data): the one door judges them, as on deploy.
    from gitmodel import untrusted  # here: untrusted imports MANIFEST from this module

    try:
        artifact = untrusted.artifact_name(data["artifact"], "'artifact'")
        if data["kind"] not in KINDS:
            raise ValueError(f"'kind' must be one of {', '.join(KINDS)}")
        files = untrusted.artifact_files(data["files"], "'files'")
    except untrusted.UntrustedData as exc:
        shown = repr(exc.value) if len(repr(exc.value)) <= 80 else repr(exc.value)[:79] + "…"
        raise ValueError(f"{exc.field} {shown} is refused: {exc.rule}") from None
    if data["kind"] == "file" and list(files) != [artifact]:
        raise ValueError(f"a 'file' artifact lists exactly itself in 'files' ({artifact!r})")
    for key in ("base_model", "quantization"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ValueError(f"{key!r} must be a string or null")
    if data.get("faults") is not None:
        check_faults(data["faults"])
    if data.get("checks") is not None:  # the sha256 of CHECKS in the same directory
        try:
            untrusted.sha256(data["checks"], "'checks'")
        except untrusted.UntrustedData as exc:
            raise ValueError(f"'checks' {exc.rule}") from None
    if data.get("prompts") is not None:  # template name -> the sha256 of PROMPTS/NAME.txt
        prompts = data["prompts"]
        if not isinstance(prompts, dict) or not all(
            isinstance(k, str) and _PROMPT_NAME.match(k) for k in prompts
        ):
            raise ValueError("'prompts' must map template names to their sha256")
        try:
            for name, sha in prompts.items():
                untrusted.sha256(sha, f"'prompts'[{name!r}]")
        except untrusted.UntrustedData as exc:
            raise ValueError(f"{exc.field} {exc.rule}") from None
    return dict(data)


def check_faults(faults: Any) -> dict[str, float]:
    """Validate a fault-injection mapping (test servers only); returns it with float values."""
    if not isinstance(faults, dict):
        raise ValueError('\'faults\' must be an object like {"error_rate": 0.3, "latency_ms": 200}')
    out: dict[str, float] = {}
    for key, value in faults.items():
        if key not in FAULT_KEYS:
            raise ValueError(f"unknown fault {key!r}; use {' or '.join(FAULT_KEYS)}")
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value):
            raise ValueError(f"fault {key!r} must be a number")
        if key == "error_rate" and not 0 <= value <= 1:
            raise ValueError("fault 'error_rate' must be between 0 and 1")
        if key == "latency_ms" and value < 0:
            raise ValueError("fault 'latency_ms' must not be negative")
        out[key] = float(value)
    return out


@dataclass(frozen=True)
class CanarySplit:
    """What canary.json holds: the canary's version, its share of keys, the routing salt."""

    version: str
    percent: float
    salt: str
    env: str | None = None
    stable: str | None = None


def parse_canary(data: Any, where: str) -> CanarySplit:
    """A canary.json mapping, validated; raises UsageError naming `where` and the field."""
    if not isinstance(data, dict):
        raise UsageError(f"{where} must be a JSON object; rewrite it with the host agent")
    version, percent, salt = data.get("version"), data.get("percent"), data.get("salt")
    try:
        Version.parse(version if isinstance(version, str) else "")
    except UsageError:
        raise UsageError(f"{where}: 'version' must be vX.Y.Z, not {version!r}") from None
    if (
        isinstance(percent, bool)
        or not isinstance(percent, int | float)
        or not math.isfinite(percent)
        or not 0 <= percent <= 100
    ):
        raise UsageError(f"{where}: 'percent' must be a number from 0 to 100, not {percent!r}")
    if not isinstance(salt, str) or not salt:
        raise UsageError(f"{where}: 'salt' must be a non-empty string")
    env, stable = data.get("env"), data.get("stable")
    return CanarySplit(
        str(version),
        float(percent),
        salt,
        env if isinstance(env, str) else None,
        stable if isinstance(stable, str) else None,
    )


def canary_text(split: CanarySplit) -> str:
    """canary.json's content for `split` (parse_canary reads it back equal)."""
    return json.dumps(asdict(split), indent=2) + "\n"


def read_canary(root: Path, model: str) -> CanarySplit | None:
    """The host's canary, or None; raises UsageError when the file is not a valid split."""
    path = canary_path(root, model)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UsageError(f"{path}: unreadable ({exc.strerror})") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{path}: not valid JSON ({exc})") from None
    return parse_canary(data, str(path))
