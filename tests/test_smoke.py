from __future__ import annotations

import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gitmodel import localconfig
from gitmodel.errors import EXIT_POLICY, GitModelError, UsageError
from gitmodel.smoke import SmokeConfig, SmokeTestFailed, run_smoke_test


def py(code: str) -> str:
    """A shell command running ``code`` with this interpreter, quoted for sh."""
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


def test_success_returns_metrics_and_runs_in_the_artifact_dir(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"x" * 7)
    code = (
        "import json, os, sys\n"
        "here = os.getcwd() == os.environ['GITMODEL_ARTIFACT_DIR']\n"
        "print(json.dumps({'accuracy': 0.93, 'size': os.path.getsize('weights.bin'),\n"
        "                  'cwd_is_artifact_dir': float(here), 'argc': len(sys.argv)}))\n"
    )
    metrics = run_smoke_test(py(code), tmp_path, timeout=30)
    assert metrics == {"accuracy": 0.93, "size": 7.0, "cwd_is_artifact_dir": 1.0, "argc": 1.0}
    assert all(type(v) is float for v in metrics.values())


def test_logging_before_the_json_line_is_ignored(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "print('loading model...')\n"
        "print('{\"accuracy\": 0.1}')  # an earlier object: not the result\n"
        "print('{not json')\n"
        "print('[1, 2]')\n"
        'print(\'{"accuracy": 0.9, "latency_ms": 120}\')\n'
        "print('done, bye')\n"
        "print('')\n"
        "print('warming up', file=sys.stderr)\n"
    )
    assert run_smoke_test(py(code), tmp_path, timeout=30) == {"accuracy": 0.9, "latency_ms": 120.0}


def test_pretty_printed_object_is_accepted(tmp_path: Path) -> None:
    code = "import json; print(json.dumps({'accuracy': 0.5, 'f1': 0.25}, indent=2))"
    assert run_smoke_test(py(code), tmp_path, timeout=30) == {"accuracy": 0.5, "f1": 0.25}


def test_env_replaces_the_inherited_environment(tmp_path: Path) -> None:
    code = (
        "import json, os\n"
        "print(json.dumps({'foo': int(os.environ['FOO']), 'home': float('HOME' in os.environ),\n"
        "                  'dir': float(os.environ['GITMODEL_ARTIFACT_DIR'] == os.getcwd())}))\n"
    )
    env = {"PATH": os.environ.get("PATH", ""), "FOO": "7"}
    assert run_smoke_test(py(code), tmp_path, timeout=30, env=env) == {
        "foo": 7.0,
        "home": 0.0,
        "dir": 1.0,
    }


def test_non_zero_exit_reports_the_last_stderr_line(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "print('first', file=sys.stderr)\n"
        "print('model file missing', file=sys.stderr)\n"
        "sys.exit(3)\n"
    )
    command = py(code)
    with pytest.raises(SmokeTestFailed) as excinfo:
        run_smoke_test(command, tmp_path, timeout=30)
    message = str(excinfo.value)
    assert message == (
        f"smoke test `{' '.join(command.split())}` exited 3: model file missing; "
        "fix the command in your local configuration (`commands:`)"
    )
    assert excinfo.value.exit_code == EXIT_POLICY
    assert "\n" not in message


def test_unknown_command_fails_with_the_shell_message(tmp_path: Path) -> None:
    with pytest.raises(SmokeTestFailed, match=r"exited 127: .*no-such-gitmodel-cmd"):
        run_smoke_test("no-such-gitmodel-cmd --flag", tmp_path, timeout=30)


def _gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (a zombie awaiting its reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_hang_is_killed_with_its_children_at_the_timeout(tmp_path: Path) -> None:
    code = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        "open('child.pid', 'w').write(str(child.pid))\n"
        "print('{\"accuracy\": 1.0}', flush=True)\n"
        "time.sleep(120)\n"
    )
    started = time.monotonic()
    with pytest.raises(SmokeTestFailed, match=r"did not finish within 1 s and was killed") as excinfo:
        run_smoke_test(py(code), tmp_path, timeout=1)
    assert time.monotonic() - started < 5
    assert "smoke.timeout" in str(excinfo.value)
    child = int((tmp_path / "child.pid").read_text())
    deadline = time.monotonic() + 3
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(child)


@pytest.mark.parametrize(
    "code",
    [
        "print('accuracy: 0.9')",
        "pass",
        "print('[0.9, 0.8]')",
        "print('{\"accuracy\": 0.9')",
    ],
)
def test_output_without_a_json_object_fails(tmp_path: Path, code: str) -> None:
    with pytest.raises(SmokeTestFailed, match="printed no JSON object of metrics on stdout"):
        run_smoke_test(py(code), tmp_path, timeout=30)


@pytest.mark.parametrize(
    ("payload", "shown"),
    [
        ('{"accuracy": "high"}', "metric 'accuracy' as 'high'"),
        ('{"accuracy": 0.9, "ok": true}', "metric 'ok' as True"),
        ('{"accuracy": null}', "metric 'accuracy' as None"),
        ('{"nested": {"a": 1}}', "metric 'nested' as {'a': 1}"),
    ],
)
def test_non_numeric_values_fail(tmp_path: Path, payload: str, shown: str) -> None:
    with pytest.raises(SmokeTestFailed) as excinfo:
        run_smoke_test(py(f"print({payload!r})"), tmp_path, timeout=30)
    assert shown in str(excinfo.value)
    assert "not a number" in str(excinfo.value)


def test_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        run_smoke_test(py("print('{}')"), tmp_path / "absent", timeout=30)


def test_smoke_config_names_a_command_the_user_file_defines(tmp_path: Path, hermetic: Path) -> None:
    user = hermetic / ".config" / "gitmodel" / "config.yaml"
    user.parent.mkdir(parents=True)
    command = py("print('{\"f1\": 0.5}')")
    user.write_text(f"commands:\n  eval-f1: {json.dumps(command)}\n")
    config = SmokeConfig.parse({"command": "eval-f1", "timeout": 20})
    assert config == SmokeConfig("eval-f1", 20.0)
    smoke = config.resolve()
    assert smoke.timeout == 20.0 and smoke.fix == f"fix the command 'eval-f1' in {user}"
    assert smoke.run(tmp_path) == {"f1": 0.5}
    assert SmokeConfig.parse(None) is None
    with pytest.raises(UsageError) as excinfo:
        SmokeConfig("eval-big").resolve()
    assert str(excinfo.value) == (
        "gitmodel.yaml: smoke.command names the command 'eval-big', which no local configuration "
        f"defines; add `commands: {{eval-big: COMMAND}}` to {user} or {localconfig.host_path()}"
    )


@pytest.mark.parametrize(
    ("raw", "names", "code"),
    [
        ("eval-small", "smoke must be a mapping of command, timeout", 2),
        ({"timeout": 5}, "smoke.command is a command line (None)", 1),
        ({"command": "python eval.py"}, "smoke.command is a command line ('python eval.py')", 1),
        ({"command": "touch /tmp/x"}, "nothing executable comes from the repo", 1),
        ({"command": "x", "timeout": 0}, "smoke.timeout must be more than 0", 2),
        ({"command": "x", "timeout": "5m"}, "smoke.timeout must be a number", 2),
        ({"command": "x", "cmd": "y"}, "smoke.cmd is not a smoke test setting; did you mean command?", 2),
    ],
)
def test_bad_smoke_config_names_the_key(raw: Any, names: str, code: int) -> None:
    with pytest.raises(GitModelError) as excinfo:
        SmokeConfig.parse(raw)
    assert names in str(excinfo.value) and "\n" not in str(excinfo.value)
    assert excinfo.value.exit_code == code
