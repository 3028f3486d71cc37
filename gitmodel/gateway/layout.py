"""What the gateway reads from the host root: its models, and a version's files by its manifest.

Only through hostlayout (the contract the deployer writes), and a version always by its own
directory, never through `current`: the backend is given the path that names the version.
"""

from __future__ import annotations

import os
from pathlib import Path

from gitmodel import hostlayout
from gitmodel.backends.base import VersionFiles
from gitmodel.errors import GitModelError, UsageError
from gitmodel.refs import Version, parse_model


def models_in(root: Path) -> list[str]:
    """Every model with a directory under ROOT (NAME_DIR with `versions/`), canonical names."""
    found = []
    try:
        children = sorted(root.iterdir())
    except OSError:
        return []
    for child in children:
        if not (child / hostlayout.VERSIONS).is_dir():
            continue
        try:
            model = parse_model(child.name.replace("=", ":"))
        except GitModelError:
            continue
        if hostlayout.name_dir(model) == child.name:
            found.append(model)
    return found


def wanted_stable(root: Path, model: str) -> tuple[str | None, str | None]:
    """The version `current` names (None: nothing deployed) and, when `current` is unusable, why."""
    link = hostlayout.current_link(root, model)
    version = hostlayout.current_version(root, model)
    if version is not None:
        return str(version), None
    if os.path.lexists(link):
        return None, f"{link} does not point at a version directory; redeploy with `gitmodel deploy`"
    return None, None


def version_files(root: Path, model: str, version: str) -> VersionFiles:
    """VersionFiles for one complete version, from its manifest; raises UsageError naming the problem."""
    directory = hostlayout.version_dir(root, model, version)
    manifest = hostlayout.read_manifest(directory)  # ManifestError: a UsageError with the fix
    if manifest["model"] != parse_model(model) or manifest["version"] != str(Version.parse(version)):
        raise UsageError(
            f"{hostlayout.manifest_path(directory)} describes {manifest['model']} {manifest['version']}, "
            f"not {model} {version}; redeploy this version with `gitmodel deploy`"
        )
    resolved = directory.resolve()
    return VersionFiles(
        model=parse_model(model),
        version=str(manifest["version"]),
        directory=resolved,
        artifact=resolved / str(manifest["artifact"]),
        content_hash=str(manifest["dvc_md5"]),
    )
