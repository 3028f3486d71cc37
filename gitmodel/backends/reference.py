"""`reference`: gitmodel's own toy server (`gitmodel serve --version`), one process per version.

    backend: {kind: reference, ports: [8101, 8102]}

For demos and tests of the host protocol.  `gitmodel serve NAME --root ROOT --version V`
serves exactly V (never `current`, never a canary); confirm checks the process as for
llama-cpp, then that /info names this model, version and content hash.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodel import http
from gitmodel import validate as v
from gitmodel.backends import config, process, supervised
from gitmodel.backends.base import Instance, VersionFiles
from gitmodel.refs import parse_model

KIND = "reference"
_KEYS = ("ports", "host", "python", "logs")


@dataclass
class Reference:
    ports: tuple[int, int]
    host: str = "127.0.0.1"
    python: Path = Path(sys.executable)
    logs: Path | None = None
    kind: str = KIND

    def argv(self, files: VersionFiles, port: int) -> list[str]:
        directory = process.version_artifact(files).parent
        root = directory.parent.parent.parent  # ROOT/NAME_DIR/versions/vX.Y.Z
        return [
            str(self.python), "-m", "gitmodel", "serve", files.model,
            "--root", str(root), "--version", files.version,
            "--host", self.host, "--port", str(port), "--drain", "2",
        ]  # fmt: skip

    def start(self, files: VersionFiles, slot: int, timeout: float) -> Instance:
        return supervised.start_on_slot(self, "gitmodel serve", files, slot, timeout)

    def confirm(self, instance: Instance) -> str | None:
        why = supervised.confirm_process(instance, require_file=False)
        if why is not None:
            return why
        files = instance.files
        try:
            info = http.get(f"{instance.base_url}/info", timeout=process.HEALTH_TIMEOUT).json_object()
        except http.Unreachable as exc:
            return f"{instance.base_url}/info did not answer ({exc.why})"
        said = (info.get("model"), info.get("version"), info.get("content_hash"))
        if said != (parse_model(files.model), files.version, files.content_hash):
            return (
                f"{instance.base_url}/info reports {said[0]} {said[1]} ({said[2]}), "
                f"not {files.model} {files.version} ({files.content_hash})"
            )
        return None

    def stop(self, instance: Instance, timeout: float) -> None:
        supervised.stop_instance(instance, timeout)


def parse(raw: dict[str, Any], at: v.Field) -> Reference:
    checked = config.fields(raw, at, _KEYS, ("ports",))
    python = (
        config.binary(checked["python"], at / "python") if checked.get("python") else Path(sys.executable)
    )
    return Reference(
        ports=config.ports(checked["ports"], at / "ports"),
        host=config.host(checked.get("host"), at / "host"),
        python=python,
        logs=config.directory(checked.get("logs"), at / "logs"),
    )
