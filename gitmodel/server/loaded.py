"""One version, resolved and checked once: what a request holds while it runs.

A reload builds a new LoadedModel and swaps the server's pointer to it; requests that
started earlier keep the object they took, so they finish on their version even when
`current` has moved (and even when the deployer's retention deletes the old directory).
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from gitmodel import hostlayout
from gitmodel.gguf_header import GGUFHeader, InvalidGGUF, read_header
from gitmodel.refs import parse_model
from gitmodel.server.errors import InvalidArtifact, InvalidVersionDir, NothingDeployed
from gitmodel.server.faults import Faults


@dataclass(frozen=True)
class LoadedModel:
    model: str
    version: str
    path: Path  # the version directory's real path, never the `current` link
    manifest: MappingProxyType[str, Any]
    gguf: GGUFHeader | None
    loaded_at: str
    faults: Faults = field(default_factory=Faults)
    # The fault schedule's request counter: per loaded version, shared by its requests.
    _seq: itertools.count[int] = field(default_factory=itertools.count, repr=False, compare=False)

    @property
    def content_hash(self) -> str:
        return str(self.manifest["dvc_md5"])

    def next_request(self) -> int:
        """A sequence number for this version's requests (next() on a count is atomic)."""
        return next(self._seq)

    def info(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "model": self.model,
            "version": self.version,
            "content_hash": self.content_hash,
            "artifact": m["artifact"],
            "kind": m["kind"],
            "files": dict(m["files"]),
            "base_model": m.get("base_model"),
            "quantization": m.get("quantization"),
            "loaded_at": self.loaded_at,
            "path": str(self.path),
            "gguf": self.gguf.as_dict() if self.gguf else None,
            "faults": self.faults.as_dict() or None,
        }


def load(
    root: Path, model: str, link: Path | None = None, faults: dict[str, Faults] | None = None
) -> LoadedModel:
    """Resolve `link` (the model's `current` by default) once and check what it points to.

    Raises NothingDeployed when the link does not exist, InvalidVersionDir (or its
    subclass InvalidArtifact) when it points at anything that is not a complete version
    of this model. File digests are not recomputed: the deployer verified them before
    the swap, and hashing gigabytes here would make every reload slow.
    """
    model = parse_model(model)
    link = link if link is not None else hostlayout.current_link(root, model)
    if not os.path.lexists(link):
        raise NothingDeployed(link)
    version_dir = Path(os.path.realpath(link))
    versions = Path(os.path.realpath(hostlayout.versions_dir(root, model)))
    if version_dir.parent != versions:
        raise InvalidVersionDir(link, f"points to {version_dir}, which is not under {versions}")
    if not version_dir.is_dir():
        raise InvalidVersionDir(link, f"points to {version_dir}, which does not exist")
    manifest = hostlayout.read_manifest(version_dir)
    if manifest["model"] != model:
        raise InvalidVersionDir(version_dir, f"holds model {manifest['model']!r}, not {model!r}")
    if manifest["version"] != version_dir.name:
        raise InvalidVersionDir(version_dir, f"its manifest says {manifest['version']}")
    artifact = version_dir / manifest["artifact"]
    is_file = manifest["kind"] == "file"
    if not (artifact.is_file() if is_file else artifact.is_dir()):
        why = f"the {manifest['kind']} named by the manifest is missing"
        raise InvalidVersionDir(artifact, why)
    header = _gguf(artifact) if is_file and artifact.name.lower().endswith(".gguf") else None
    version = manifest["version"]
    chosen = (faults or {}).get(version) or Faults.from_manifest(manifest.get("faults"))
    return LoadedModel(
        model=model,
        version=version,
        path=version_dir,
        manifest=MappingProxyType(manifest),
        gguf=header,
        loaded_at=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        faults=chosen,
    )


def _gguf(path: Path) -> GGUFHeader:
    try:
        return read_header(path)
    except InvalidGGUF as exc:
        raise InvalidArtifact(exc.path, exc.why) from None
