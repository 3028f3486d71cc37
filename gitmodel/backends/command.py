"""`command`: any server started by a command line from the host file, supervised like llama-cpp.

    backend:
      kind: command
      start: /opt/bin/my-server --model {path} --port {port}
      stop: /opt/bin/my-server-stop --port {port}      # optional; else SIGTERM to its group
      health: http://127.0.0.1:{port}/health
      ports: [8101, 8102]
      holds_file: true                                  # confirm also checks the file is mapped

Placeholders: {port}, {path} (the version's artifact, resolved), {dir} (its version
directory), {version}, {model}, and {pid} in `stop`.  The line is split into arguments
first and each placeholder replaced inside one argument, with no shell: a path can never
become shell syntax.  The command is the server itself (it runs in the foreground); its
process group is what `stop` ends.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodel import validate as v
from gitmodel.backends import config, process, supervised
from gitmodel.backends.base import BackendRefused, Instance, VersionFiles

KIND = "command"
PLACEHOLDERS = ("port", "path", "dir", "version", "model")
_KEYS = ("start", "stop", "health", "ports", "holds_file", "logs")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


@dataclass
class Command:
    start_argv: tuple[str, ...]
    health: str  # a URL template with {port}
    ports: tuple[int, int]
    stop_argv: tuple[str, ...] = ()
    holds_file: bool = False
    logs: Path | None = None
    kind: str = KIND

    def start(self, files: VersionFiles, slot: int, timeout: float) -> Instance:
        port = self.ports[slot]
        values = _values(files, port)
        health = fill(self.health, values)
        what = f"{Path(self.start_argv[0]).name} for {files.model} {files.version} on port {port}"
        return supervised.start_instance(
            files,
            [fill(a, values) for a in self.start_argv],
            port=port,
            base_url="/".join(health.split("/", 3)[:3]),
            health=health,
            timeout=timeout,
            what=what,
            logs=self.logs,
            state={"health": health},
        )

    def confirm(self, instance: Instance) -> str | None:
        health = str(instance.state.get("health", ""))
        path = "/" + health.split("/", 3)[3] if health.count("/") >= 3 else "/"
        return supervised.confirm_process(instance, require_file=self.holds_file, health=path)

    def stop(self, instance: Instance, timeout: float) -> None:
        proc = instance.state.get("process")
        if not isinstance(proc, process.Process):
            return
        if self.stop_argv and proc.exit_code() is None:
            values = {**_values(instance.files, int(str(instance.state.get("port")))), "pid": str(proc.pid)}
            with contextlib.suppress(BackendRefused):  # the group is signalled below either way
                process.run([fill(a, values) for a in self.stop_argv], timeout)
            process.wait_gone(proc, timeout)
        process.stop(proc, timeout)


def _values(files: VersionFiles, port: int) -> dict[str, str]:
    return {
        "port": str(port),
        "path": str(process.version_artifact(files)),
        "dir": str(process.version_artifact(files).parent),
        "version": files.version,
        "model": files.model,
    }


def fill(template: str, values: dict[str, str]) -> str:
    """TEMPLATE with each {name} replaced (plain text replacement, no format mini-language)."""
    return _PLACEHOLDER.sub(lambda m: values.get(m[1], m[0]), template)


def _template(value: object, at: v.Field, allowed: tuple[str, ...]) -> tuple[str, ...]:
    items = config.argv(value, at)
    if not items:
        raise at.error("must name a command")
    for item in items:
        for name in _PLACEHOLDER.findall(item):
            if name not in allowed:
                known = ", ".join("{" + a + "}" for a in allowed)
                raise at.error(f"has an unknown placeholder {{{name}}}; use {known}")
    if not Path(items[0]).is_absolute():
        raise at.error(f"must start with an absolute path to the program, not {items[0]!r}")
    return items


def parse(raw: dict[str, Any], at: v.Field) -> Command:
    checked = config.fields(raw, at, _KEYS, ("start", "health", "ports"))
    start = _template(checked["start"], at / "start", PLACEHOLDERS)
    stop = _template(checked["stop"], at / "stop", (*PLACEHOLDERS, "pid")) if checked.get("stop") else ()
    health = v.url(checked["health"], at / "health")
    if "{port}" not in health:
        raise (at / "health").error(
            f"must contain {{port}} (each slot answers on its own port), not {health!r}"
        )
    if not health.startswith(("http://127.0.0.1:", "http://localhost:", "http://[::1]:")):
        raise (at / "health").error("must be a loopback http URL, e.g. http://127.0.0.1:{port}/health")
    return Command(
        start_argv=start,
        health=health,
        ports=config.ports(checked["ports"], at / "ports"),
        stop_argv=stop,
        holds_file=v.flag(checked.get("holds_file", False), at / "holds_file"),
        logs=config.directory(checked.get("logs"), at / "logs"),
    )
