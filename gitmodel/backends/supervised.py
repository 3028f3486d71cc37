"""Instances of the servers gitmodel runs itself, one per version: start, confirm, stop.

llama-cpp, reference and command start a server process per version (backends/process.py
runs it); this is their shared part: spawn on a port and wait for health, prove the running
process is the one started and owns its port, and stop its whole group.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from gitmodel.backends import config, process
from gitmodel.backends.base import Instance, VersionFiles


def start_instance(
    files: VersionFiles,
    argv: Sequence[str],
    *,
    port: int,
    base_url: str,
    health: str,
    timeout: float,
    what: str,
    logs: Path | None,
    state: dict[str, object] | None = None,
) -> Instance:
    """Spawn a one-version server and wait until it owns PORT and HEALTH answers 2xx.

    The backends that run a server per version (llama-cpp, reference, command) start it
    through here; the instance's state keeps the process, the port and the seconds waited.
    """
    proc = process.spawn(argv, logs)
    waited = process.wait_ready(proc, lambda: process.serves(proc, port, health), timeout, what)
    kept: dict[str, object] = {"process": proc, "port": port, **(state or {}), "ready_s": waited}
    return Instance(files, base_url, pid=proc.pid, state=kept)


class OwnServer(Protocol):
    """A backend running one server per version on its slot's port (llama-cpp, reference)."""

    ports: tuple[int, int]
    host: str
    logs: Path | None

    def argv(self, files: VersionFiles, port: int) -> list[str]: ...


def start_on_slot(server: OwnServer, name: str, files: VersionFiles, slot: int, timeout: float) -> Instance:
    """Start FILES on the slot's port, ready once /health answers 2xx (llama-server: 503 while
    the model loads, 200 once it can serve)."""
    port = server.ports[slot]
    url = config.base_url(server.host, port)
    what = f"{name} for {files.model} {files.version} on port {port}"
    return start_instance(
        files,
        server.argv(files, port),
        port=port,
        base_url=url,
        health=f"{url}/health",
        timeout=timeout,
        what=what,
        logs=server.logs,
    )


def stop_instance(instance: Instance, timeout: float) -> None:
    """Stop the process group start_instance started for INSTANCE (nothing if it has none)."""
    proc = instance.state.get("process")
    if isinstance(proc, process.Process):
        process.stop(proc, timeout)


def confirm_process(instance: Instance, *, require_file: bool, health: str = "/health") -> str | None:
    """Alive, ours, (mapping the version's file,) owning its port, answering HEALTH."""
    proc, why = process.check_alive(instance.state.get("process"), instance.pid)
    if proc is None:
        return why
    files = instance.files
    members = [proc.pid, *(p for p in process.group_members(proc.pid) if p != proc.pid)]
    if require_file and not any(process.holds_file(pid, files.artifact) for pid in members):
        return (
            f"process {proc.pid} does not map or hold {files.artifact}: "
            f"it is not serving {files.model} {files.version}"
        )
    port = instance.state.get("port")
    if isinstance(port, int):
        owner = process.port_owner(port, members)
        if owner is None:
            return (
                f"port {port} is not held by process {proc.pid} or its children: another server answers there"
            )
    if not process.answers(f"{instance.base_url}{health}"):
        return f"{instance.base_url}{health} does not answer 2xx"
    return None
