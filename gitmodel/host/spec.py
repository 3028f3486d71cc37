"""What one version is, read from its commit with `git show` (the host never checks out)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodel import checks, git, metadata, prompts, untrusted
from gitmodel.checks import Checks
from gitmodel.errors import UsageError
from gitmodel.host.settings import HostSettings
from gitmodel.refs import Version, model_dir
from gitmodel.registry import ModelState


@dataclass(frozen=True)
class VersionSpec:
    model: str
    version: Version
    commit: str
    artifact: str  # the file or folder name inside the version directory
    kind: str  # "file" or "directory"
    dvc_md5: str
    size: int
    files: dict[str, str]  # path relative to the artifact folder (a file: its name) -> sha256
    pointer: str  # the .dvc file's text at the commit
    base_model: str | None = None
    quantization: str | None = None
    checks: Checks | None = None  # the version's checks.yaml, copied beside the artifact
    templates: prompts.Templates | None = None  # prompts/*.txt, copied beside the artifact
    embedding_model: str | None = None  # what the version's metadata declares

    def manifest(self) -> dict[str, Any]:
        """The contract's gitmodel-version.json (gitmodel/hostlayout.py)."""
        return {
            "model": self.model,
            "version": str(self.version),
            "dvc_md5": self.dvc_md5,
            "artifact": self.artifact,
            "kind": self.kind,
            "files": dict(self.files),
            "base_model": self.base_model,
            "quantization": self.quantization,
            "commit": self.commit,
            "size": self.size,
            "checks": self.checks.digest if self.checks else None,
            "prompts": self.templates.hashes() if self.templates else None,
        }

    def file_path(self, rel: str) -> str:
        """Where `files[rel]` lies inside the version directory."""
        return self.artifact if self.kind == "file" else f"{self.artifact}/{rel}"


def read_spec(repo: Path, state: ModelState, version: Version) -> VersionSpec:
    commit = state.version_event(version).commit
    mdir = model_dir(state.name)
    where = f"{state.name}@{version}"
    meta = metadata.at_version(repo, state, version)
    if meta is None:
        raise UsageError(
            f"{where} has no {mdir}/model.yaml at {commit[:10]}; it was not registered by gitmodel"
        )
    # Every path, name and hash below comes from whoever pushed: through the door first.
    art = untrusted.version_artifact(meta, f"{where} model.yaml")
    name = art["path"]
    pointer = git.show(repo, commit, f"{mdir}/{name}.dvc")
    if pointer is None:
        raise UsageError(f"{where} has no DVC pointer {mdir}/{name}.dvc; re-register it")
    size = meta["artifact"].get("size")
    return VersionSpec(
        model=state.name,
        version=version,
        commit=commit,
        artifact=name,
        kind=art["kind"],
        dvc_md5=art["dvc_md5"],
        size=size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else 0,
        files=art["files"],
        pointer=pointer,
        base_model=_opt(meta.get("base_model")),
        quantization=_opt(meta.get("quantization")),
        checks=checks.at_commit(repo, commit, mdir, where),
        templates=_templates(repo, commit, mdir, where, meta),
        embedding_model=prompts.of_version(meta)[1],
    )


def _templates(
    repo: Path, commit: str, mdir: str, where: str, meta: dict[str, Any]
) -> prompts.Templates | None:
    """The template files at the commit; model.yaml's hashes must be theirs (it is a claim)."""
    found = prompts.at_commit(repo, commit, mdir, where)
    prompts.check_hashes(meta, found, f"{where} model.yaml")
    return found


def _opt(value: object) -> str | None:
    return None if value is None else str(value)


def compatible(repo: Path, spec: VersionSpec, settings: HostSettings) -> None:
    """gitmodel.yaml's compatibility for the version's templates and this host's embedding model.

    The host file's embedding_model when it declares one, else the version's own; a refusal
    (prompts.Incompatible, exit 1) comes before anything on ROOT changes.
    """
    from gitmodel import config

    embedding, source = settings.embedding_model, f"this host's, {settings.embedding_from}"
    if embedding is None:
        embedding, source = spec.embedding_model, "its embedding_model"
    matrix = config.load(repo).compatibility
    hashes = spec.templates.hashes() if spec.templates else {}
    prompts.check(matrix, spec.model, spec.version, hashes, embedding, source)
