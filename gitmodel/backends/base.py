"""The contract every serving backend keeps: start a version, prove that exact version answers,
notice a death in well under a second, stop with nothing left behind.

A backend is told about a version by its *directory* (ROOT/NAME_DIR/versions/vX.Y.Z), never
through `current`: the path a server was given then names the version, so a process's
mapped files (/proc/PID/maps) or an API's answer can prove which version is loaded.

The gateway (gitmodel/gateway/) holds `Instance`s, sends OpenAI-compatible requests to
`Instance.base_url` (rewriting the body's "model" to `upstream_model` when it is set) and
asks `confirm` before any traffic reaches a new instance.  Commands, binaries and URLs come
from the host's own file (localconfig.py), never from the registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from gitmodel.errors import EXIT_POLICY, EXIT_UNREACHABLE, GitModelError


@dataclass(frozen=True)
class VersionFiles:
    """One complete version on this host, as the manifest describes it."""

    model: str
    version: str  # "v1.2.0"
    directory: Path  # ROOT/NAME_DIR/versions/v1.2.0, resolved, never via `current`
    artifact: Path  # the model file (a .gguf) or folder inside `directory`
    content_hash: str  # the manifest's DVC md5 of the artifact


def served_name(files: VersionFiles) -> str:
    """The name a shared server knows this version by: NAME_DIR-vX.Y.Z (`acme=support-v1.2.0`).

    One name per version, so two versions are loaded side by side and a request names the
    one it wants.  ':' is written '=' as in the host layout: llama-server's router reads a
    ':' in a name as a Hugging Face quantization tag and rewrites it.
    """
    return f"{files.model.replace(':', '=')}-{files.version}"


@dataclass
class Instance:
    """A version a backend started or loaded and may be asked to serve."""

    files: VersionFiles
    base_url: str  # http://127.0.0.1:PORT: where inference requests for this instance go
    upstream_model: str | None = None  # the body's "model" for this instance (adapter, tag); None: as sent
    pid: int | None = None  # the process gitmodel started, when it supervises one
    state: dict[str, object] = field(default_factory=dict)  # the backend's own bookkeeping


class BackendRefused(GitModelError):
    """The server would not start or load this version (bad file, early exit, failed check)."""

    exit_code = EXIT_POLICY


class BackendUnreachable(GitModelError):
    """The server (or its API) did not answer in time."""

    exit_code = EXIT_UNREACHABLE


class Backend(Protocol):
    kind: str

    def start(self, files: VersionFiles, slot: int, timeout: float) -> Instance:
        """Start or load `files` beside whatever runs now (`slot` 0 or 1 picks the port or name).

        Returns once the instance answers; raises BackendRefused with one line (a process that
        exits early is seen within a second, not at the timeout) or BackendUnreachable.
        Nothing is left running when it raises.
        """
        ...

    def confirm(self, instance: Instance) -> str | None:
        """None when exactly `instance.files` answers at `instance.base_url`; else why not (one line)."""
        ...

    def stop(self, instance: Instance, timeout: float) -> None:
        """Stop or unload; a supervised process and all its children are gone when it returns."""
        ...
