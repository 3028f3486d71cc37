"""Run the optional smoke-test command of the gate against a candidate's files.

gitmodel.yaml's ``smoke:`` section names the command by a key (``smoke: {command:
eval-small, timeout: 300}``); the command line itself comes from the promoter's local
configuration (localconfig.py), never from the repo.  It runs through the
shell in the candidate's files directory (also given as ``GITMODEL_ARTIFACT_DIR``)
and reports metrics as a JSON object on stdout, which the gate merges in.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess  # noqa: TID251 - this module is the one door to the smoke-test command
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodel import localconfig
from gitmodel import validate as v
from gitmodel.errors import PolicyError, UsageError

ARTIFACT_DIR_VAR = "GITMODEL_ARTIFACT_DIR"
DEFAULT_TIMEOUT = 300.0
# After SIGKILL the pipes close at once unless a descendant escaped the process
# group; this bounds how long we wait for that before giving up on its output.
_REAP_TIMEOUT = 5.0
_FIX_COMMAND = "fix the command in your local configuration (`commands:`)"
_MAX_QUOTE = 200


class SmokeTestFailed(PolicyError):
    def __init__(self, command: str, problem: str, fix: str = _FIX_COMMAND) -> None:
        # A YAML block-scalar command spans lines; the error must stay one line.
        shown = _quote(" ".join(command.split()))
        super().__init__(f"smoke test `{shown}` {problem}; {fix}")
        self.command = command
        self.problem = problem


@dataclass(frozen=True)
class SmokeConfig:
    """gitmodel.yaml's ``smoke:``: which locally defined command, and how long it may take."""

    command: str  # a key of `commands:` in local configuration
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def parse(cls, value: object, at: v.Field | None = None) -> SmokeConfig | None:
        """None when the registry configures no smoke test."""
        at = at or v.Field("gitmodel.yaml", "smoke")
        if value is None:
            return None
        fields = v.mapping(value, at, ("command", "timeout"), "smoke test setting")
        fix = (
            "define it under `commands:` in your local configuration (~/.config/gitmodel/config.yaml), "
            "e.g. `commands: {eval-small: CMD}`, and write `smoke: {command: eval-small}` here"
        )
        key = v.command_key(fields.get("command"), at / "command", fix)
        timeout = v.positive(fields.get("timeout", DEFAULT_TIMEOUT), at / "timeout")
        return cls(key, timeout)

    def resolve(self) -> SmokeTest:
        """The command line this promoter's local configuration defines for the key."""
        line, source = localconfig.command(self.command, "gitmodel.yaml: smoke.command", promoter=True)
        return SmokeTest(line, self.timeout, f"fix the command {self.command!r} in {source}")


@dataclass(frozen=True)
class SmokeTest:
    command: str
    timeout: float = DEFAULT_TIMEOUT
    fix: str = _FIX_COMMAND

    def run(self, files_dir: Path, env: Mapping[str, str] | None = None) -> dict[str, float]:
        return run_smoke_test(self.command, files_dir, self.timeout, env, self.fix)


def _quote(text: str) -> str:
    return text if len(text) <= _MAX_QUOTE else text[: _MAX_QUOTE - 1] + "…"


def _kill_group(proc: subprocess.Popen[str]) -> None:
    # The shell's children share its session; killing only the shell would leave
    # a hanging grandchild running and holding our pipes open.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    try:
        proc.communicate(timeout=_REAP_TIMEOUT)
    except subprocess.TimeoutExpired:
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        proc.wait(timeout=_REAP_TIMEOUT)


def _last_json_object(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            return parsed
    # Also accept a pretty-printed object that is the whole of stdout.
    try:
        whole = json.loads(stdout)
    except ValueError:
        return None
    return whole if isinstance(whole, dict) else None


def _metrics(command: str, parsed: Mapping[str, Any]) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for name, value in parsed.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SmokeTestFailed(
                command,
                f"reported metric {name!r} as {_quote(repr(value))}, not a number",
                'make it print numbers only, e.g. {"accuracy": 0.94}',
            )
        metrics[name] = float(value)
    return metrics


def run_smoke_test(
    command: str,
    files_dir: Path,
    timeout: float,
    env: Mapping[str, str] | None = None,
    fix: str = _FIX_COMMAND,
) -> dict[str, float]:
    """Run ``command`` in ``files_dir`` and return the metrics it prints.

    ``env`` replaces the inherited environment, as with ``subprocess``; either way
    ``GITMODEL_ARTIFACT_DIR`` is set to ``files_dir``.  The last stdout line that is
    a JSON object is the result, so the command may log before it.
    """
    if not files_dir.is_dir():
        raise UsageError(f"smoke test directory {files_dir} does not exist; materialise the candidate first")
    child_env = dict(os.environ if env is None else env)
    child_env[ARTIFACT_DIR_VAR] = str(files_dir.resolve())
    proc = subprocess.Popen(
        command,
        shell=True,
        cwd=files_dir,
        env=child_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise SmokeTestFailed(
            command,
            f"did not finish within {timeout:g} s and was killed",
            "make it faster or raise smoke.timeout in gitmodel.yaml",
        ) from None
    except BaseException:
        # KeyboardInterrupt included: never leave the test's processes behind.
        _kill_group(proc)
        raise
    if proc.returncode != 0:
        last = (stderr.strip().splitlines() or ["(nothing on stderr)"])[-1].strip()
        how = (
            f"was killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exited {proc.returncode}"
        )
        raise SmokeTestFailed(command, f"{how}: {_quote(last)}", fix)
    parsed = _last_json_object(stdout)
    if parsed is None:
        raise SmokeTestFailed(
            command,
            "printed no JSON object of metrics on stdout",
            'make its last line of output e.g. {"accuracy": 0.94}',
        )
    return _metrics(command, parsed)
