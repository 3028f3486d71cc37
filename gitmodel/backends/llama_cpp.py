"""`llama-cpp`: one llama-server process per version, supervised by gitmodel.

    backend: {kind: llama-cpp, binary: /opt/llama-server, args: [-c, "2048"], ports: [8101, 8102]}

Each version runs as `llama-server -m VERSION_DIR/ARTIFACT --host HOST --port PORT ARGS`,
slot 0 or 1 picking the port, so the new version starts beside the old one.  llama-server's
API reports the path it was given, which cannot tell versions apart when it is `current`;
so the model is always given by its version directory, and confirm asks the kernel:
the process is alive and ours, it owns the port's socket, and it maps the version's file
(or, loaded without mmap, was started with that path and its API reports it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodel import http
from gitmodel import validate as v
from gitmodel.backends import config, process, supervised
from gitmodel.backends.base import Instance, VersionFiles
from gitmodel.errors import GitModelError

KIND = "llama-cpp"
RESERVED = ("-m", "--model", "--port", "--host", "-hf", "--hf-repo", "-mu", "--model-url")
_KEYS = ("binary", "args", "ports", "host", "logs")


@dataclass
class LlamaCpp:
    binary: Path
    ports: tuple[int, int]
    args: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    logs: Path | None = None  # None: a temporary log per process, removed when it stops
    kind: str = KIND

    def argv(self, files: VersionFiles, port: int) -> list[str]:
        model = str(process.version_artifact(files))
        return [str(self.binary), "-m", model, "--host", self.host, "--port", str(port), *self.args]

    def start(self, files: VersionFiles, slot: int, timeout: float) -> Instance:
        return supervised.start_on_slot(self, "llama-server", files, slot, timeout)

    def confirm(self, instance: Instance) -> str | None:
        why = supervised.confirm_process(instance, require_file=False)
        if why is not None:
            return why
        path = process.version_artifact(instance.files)
        pid = int(instance.pid or 0)
        if process.holds_file(pid, path):
            return None
        # Loaded without mmap (`--load-mode none`, some GPU backends): the kernel no longer
        # shows the file.  Then the process's own command line (from the kernel) and the API
        # on the socket it owns (checked above) must both name the version's path.
        which = f"it is not serving {instance.files.model} {instance.files.version}"
        if not process.argv_names(pid, path):
            return f"process {pid} neither maps nor was started with {path}: {which}"
        said = _model_path(instance.base_url)
        if said != str(path):
            return f"{instance.base_url}/v1/models reports {said!r}, not {path}: {which}"
        return None

    def stop(self, instance: Instance, timeout: float) -> None:
        supervised.stop_instance(instance, timeout)


def _model_path(base_url: str) -> str | None:
    """The model path llama-server's /v1/models reports (the `-m` it was given)."""
    try:
        data = http.get(f"{base_url}/v1/models", timeout=process.HEALTH_TIMEOUT).json_object().get("data")
    except GitModelError:
        return None
    first = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
    found = first.get("id")
    return found if isinstance(found, str) else None


def parse(raw: dict[str, Any], at: v.Field) -> LlamaCpp:
    checked = config.fields(raw, at, _KEYS, ("binary", "ports"))
    return LlamaCpp(
        binary=config.binary(checked["binary"], at / "binary"),
        ports=config.ports(checked["ports"], at / "ports"),
        args=config.argv(checked.get("args"), at / "args", RESERVED),
        host=config.host(checked.get("host"), at / "host"),
        logs=config.directory(checked.get("logs"), at / "logs"),
    )
