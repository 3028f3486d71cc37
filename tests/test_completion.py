"""`gitmodel completion bash|zsh|fish` and completion of names, versions and environments."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from plugin.registry import Registry

from gitmodel.cli.main import cli

BIN = Path(sys.executable).parent


def complete(root: Path, line: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What bash completion offers for LINE (the word under the cursor is the last one)."""
    words = line.split(" ")
    monkeypatch.chdir(root)
    env = {"_GITMODEL_COMPLETE": "bash_complete", "COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1)}
    result = CliRunner().invoke(cli, [], env=env, prog_name="gitmodel")
    assert result.exit_code == 0, result.output
    return [item.split(",", 1)[1] for item in result.stdout.split()]


CASES = [
    ("gitmodel pro", ["promote"]),
    ("gitmodel show s", ["support"]),
    ("gitmodel show support@", ["support@v1.1.0", "support@v1.0.0"]),
    ("gitmodel show support#", ["support#staging", "support#production"]),
    ("gitmodel history ", ["support"]),
    ("gitmodel history support --env ", ["staging", "production"]),
    ("gitmodel promote support ", ["v1.1.0", "v1.0.0"]),
    ("gitmodel promote support v1.1.0 p", ["production"]),
    ("gitmodel gate support v1.1.0 ", ["staging", "production"]),
    ("gitmodel rollback ", ["staging", "production"]),
    ("gitmodel rollback staging ", ["support"]),
    ("gitmodel rollback staging support --to ", ["v1.1.0", "v1.0.0"]),
    ("gitmodel diff support v1.0.0 v1.", ["v1.1.0", "v1.0.0"]),
    ("gitmodel deprecate support v1.0", ["v1.0.0"]),
    ("gitmodel show nope@", []),
]


@pytest.mark.parametrize(("line", "expected"), CASES, ids=[c[0] for c in CASES])
def test_completes_from_the_registry(
    released: Registry, monkeypatch: pytest.MonkeyPatch, line: str, expected: list[str]
) -> None:
    assert complete(released.root, line, monkeypatch) == expected


def test_outside_a_registry_completes_commands_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert complete(tmp_path, "gitmodel show ", monkeypatch) == []
    assert complete(tmp_path, "gitmodel rollb", monkeypatch) == ["rollback"]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_the_script(shell: str) -> None:
    result = CliRunner().invoke(cli, ["completion", shell], prog_name="gitmodel")
    assert result.exit_code == 0
    assert "_GITMODEL_COMPLETE" in result.stdout and f"{shell}_complete" in result.stdout


def test_unknown_shell_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["completion", "tcsh"])
    assert result.exit_code == 2
    assert "'tcsh' is not one of 'bash', 'zsh', 'fish'" in result.stderr


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_real_bash_completes_a_model_name(released: Registry) -> None:
    script = (
        'eval "$(gitmodel completion bash)"; COMP_WORDS=(gitmodel show sup); COMP_CWORD=2; '
        '_gitmodel_completion gitmodel; echo "${COMPREPLY[@]}"'
    )
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(
        ["bash", "-c", script], cwd=released.root, env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "support\n"
