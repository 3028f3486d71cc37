"""Docs are tested: every command and option explains itself, and the README's demo runs."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import click
import pytest

from gitmodel.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent


def walk(group: click.Group, prefix: str = "gitmodel") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        found.append((path, command))
        if isinstance(command, click.Group):
            found.extend(walk(command, path))
    return found


COMMANDS = [(p, c) for p, c in walk(cli) if not c.hidden]


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_command_and_option_has_help(path: str, command: click.Command) -> None:
    assert (command.help or command.short_help or "").strip(), f"{path} has no help text"
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert (param.help or "").strip(), f"{path} {param.opts[0]} has no help text"


READ_COMMANDS = [
    "list",
    "show",
    "history",
    "diff",
    "gate",
    "status",
    "verify",
    "changelog",
    "card",
    "lineage",
    "audit",
]


@pytest.mark.parametrize("name", READ_COMMANDS)
def test_read_commands_take_json(name: str) -> None:
    params = {p.name for p in cli.commands[name].params}
    assert "as_json" in params


def test_design_command_names_exist() -> None:
    expected = {
        "init",
        "register",
        "list",
        "show",
        "history",
        "diff",
        "gate",
        "promote",
        "rollback",
        "deprecate",
        "deploy",
        "status",
        "agent",
        "serve",
        "canary",
        "monitor",
        "ab",
        "hooks",
    }
    assert expected <= set(cli.commands)


@pytest.mark.slow
def test_readme_demo_runs(tmp_path: Path) -> None:
    """The README's first command runs scripts/demo.sh; run it as a user would."""
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme.split("```")[1] and "make test" in readme.split("```")[1]
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "TMPDIR": str(tmp_path),
    }
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo.sh")], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "registered support v1.0.0 (first version)" in out
    assert "registered support v1.1.0 (minor bump: artifact bytes changed)" in out
    assert "rollback: support production -> v1.0.0 (was v1.1.0)" in out
    assert "in sync" in out
    # The served answer: v1.0.0's, then v1.1.0's after promote + deploy, then v1.0.0's again.
    answers = [line for line in out.splitlines() if line.startswith("answer from support ")]
    assert [a.split(":")[0] for a in answers] == [
        "answer from support v1.0.0",
        "answer from support v1.1.0",
        "answer from support v1.0.0",
    ], out
    assert answers[0] != answers[1] and answers[2] == answers[0]
    # The hint names a root `gitmodel serve` accepts; the demo stopped its server (a server
    # left running would hold stdout open, and this run would time out).
    root = out.split("host root: ")[1].split()[0]
    assert f"gitmodel serve support --root {root} " in out and Path(root, "support", "current").exists()
    assert "Checking graph" not in proc.stderr


def _cli_reference_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_cli_reference", ROOT / "scripts" / "gen_cli_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_current() -> None:
    """docs/reference/cli.md is click's --help of every command; regenerate it on any CLI change."""
    rendered = _cli_reference_script().render()
    current = (ROOT / "docs" / "reference" / "cli.md").read_text(encoding="utf-8")
    assert current == rendered, (
        "docs/reference/cli.md is out of date: run python scripts/gen_cli_reference.py"
    )
    for path, _ in COMMANDS:
        assert f"\n## {path}\n" in rendered, f"{path} is missing from the CLI reference"


@pytest.mark.slow
def test_mkdocs_site_builds_strict(tmp_path: Path) -> None:
    """`make docs` in a temp dir: any warning (a broken link, a page outside the nav) fails."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "-f",
            str(ROOT / "mkdocs.yml"),
            "-d",
            str(tmp_path),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "WARNING" not in proc.stderr, proc.stderr[-3000:]
    assert (tmp_path / "reference" / "cli" / "index.html").exists()
    assert (tmp_path / "deploy" / "index.html").exists()
    assert "registry_scale.py" in (tmp_path / "measurements" / "index.html").read_text()
