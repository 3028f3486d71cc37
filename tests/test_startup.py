"""Start-up: a command imports only what it uses (issue 15, item 2; bench/startup.py times it).

Each check runs the real command in a subprocess under `python -X importtime` and reads
which modules were imported: a cheap command must never pull in a heavy dependency
(each costs more than Python's own start-up).
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from plugin.host import FollowServer, Host, deploy_json
from plugin.registry import Registry

from gitmodel.cli import group

CLI = Path(group.__file__).parent
# Imports that each cost about as much as Python's start-up, or more (shared/FACTS.md).
HEAVY = {
    "dvc",
    "dvc_data",
    "jsonschema",
    "prometheus_client",
    "ruamel",
    "tabulate",
    "aiohttp",
    "boto3",
    "gguf",
}
# What a hot `rollback --root` must not import before (or after) it swaps the server:
# its bytes are on disk, so no DVC, no S3 client, no GGUF reader, no gateway.
NOT_ON_A_HOT_ROLLBACK = HEAVY - {"jsonschema", "ruamel"} | {"numpy", "botocore"}
# The host modules a rollback has no use for (gitmodel/host/__init__.py imported them all).
NOT_HOST = {"gitmodel.host.agent", "gitmodel.host.pointer_watch", "gitmodel.host.status"}


def imported(argv: list[str], cwd: Path) -> set[str]:
    """Every module the process imported, from `-X importtime` on its stderr."""
    return modules_of(profiled(argv, cwd))


def profiled(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def modules_of(proc: subprocess.CompletedProcess[str]) -> set[str]:
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("import time:") and "|" in ln]
    names = {ln.rsplit("|", 1)[1].strip() for ln in lines} - {"imported package"}
    assert names, "no -X importtime output"
    return names


def packages(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def gitmodel_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "gitmodel", *args]


def test_every_command_module_is_in_the_table() -> None:
    """cli/group.py's WHERE names, for each command, the module that defines it."""
    modules = sorted(p.stem for p in CLI.glob("*.py") if "\nCOMMANDS = " in p.read_text())
    defined = {}
    for name in modules:
        for command in importlib.import_module(f"gitmodel.cli.{name}").COMMANDS:
            defined[command.name] = name
    assert defined == group.WHERE


def test_help_lists_every_command_with_its_line(tmp_path: Path) -> None:
    proc = subprocess.run(gitmodel_cmd("--help"), cwd=tmp_path, capture_output=True, text=True, check=True)
    listed = {ln.split()[0] for ln in proc.stdout.split("Commands:")[1].splitlines() if ln.strip()}
    hidden = {n for n, m in group.WHERE.items() if group.cli.commands[n].hidden}
    assert listed == set(group.WHERE) - hidden
    lines = {ln.split()[0]: ln for ln in proc.stdout.split("Commands:")[1].splitlines() if ln.strip()}
    for name in listed:  # each with the first words of its own help
        assert group.cli.commands[name].get_short_help_str(limit=200)[:20] in lines[name]


def test_version_imports_neither_click_nor_a_command(tmp_path: Path) -> None:
    fast = subprocess.run(gitmodel_cmd("--version"), cwd=tmp_path, capture_output=True, text=True, check=True)
    assert fast.stdout == CliRunner().invoke(group.cli, ["--version"]).stdout  # click's own answer
    modules = imported(gitmodel_cmd("--version"), tmp_path)
    assert not packages(modules) & (HEAVY | {"click"})
    assert not {m for m in modules if m.startswith("gitmodel.cli.") and m != "gitmodel.cli.main"}


def test_the_commit_hook_imports_neither_click_nor_yaml(registered: Registry) -> None:
    """A commit touching no model: the shim's line runs before click is imported."""
    registered.write("README.md", "a change that touches no model\n")
    subprocess.run(["git", "add", "README.md"], cwd=registered.root, check=True)
    hook = registered.root / ".git" / "hooks" / "pre-commit"
    assert "-m gitmodel hook --shim" in hook.read_text()
    modules = imported([str(hook)], registered.root)
    assert not packages(modules) & (HEAVY | {"click"})
    # Only a model folder's files need YAML or checks; a time budget only a push; a temp
    # file only a move. gitmodel.yaml itself is read through the door (never through a
    # link the repo holds: a link to /dev/zero made every commit read until memory ran
    # out), which costs the hook ~5 ms.
    assert not modules & {"gitmodel.yamlio", "gitmodel.checks", "tempfile", "difflib"}
    assert "gitmodel.untrusted" in modules and "gitmodel.hooks.staged" in modules  # the checks did run


def test_the_hooks_name_for_checks_is_the_checks_modules() -> None:
    from gitmodel import checks
    from gitmodel.policy import files

    assert files.CHECKS == checks.FILENAME


@pytest.mark.parametrize(
    ("args", "allowed"),
    [
        (["list"], {"ruamel"}),  # gitmodel.yaml's environments
        (["show", "support"], {"ruamel"}),  # the version's model.yaml
        (["history", "support"], set()),
    ],
    ids=["list", "show", "history"],
)
def test_a_read_imports_only_its_own_module(registered: Registry, args: list[str], allowed: set[str]) -> None:
    modules = imported(gitmodel_cmd(*args), registered.root)
    assert not packages(modules) & (HEAVY - allowed)
    own = {m for m in modules if m.startswith("gitmodel.cli.")}
    assert "gitmodel.cli.reads" in own
    assert not own & {
        f"gitmodel.cli.{m}" for m in ("envs", "host", "rollout", "serve", "writes", "lifecycle")
    }


@pytest.mark.slow
def test_a_hot_rollback_on_a_host_imports_no_transfer_or_agent(host: Host, follow: FollowServer) -> None:
    """At 3 a.m. `rollback --root` to a version still on disk starts and swaps without DVC."""
    for version in ("v1.0.0", "v1.1.0"):
        host.promote(version)
        deploy_json(host, *follow.flags())
    argv = gitmodel_cmd("rollback", "production", "support", "--root", str(host.root), *follow.flags())
    proc = profiled(argv, host.clone)
    assert "bytes already on this host: DVC remote not checked" in proc.stdout
    assert follow.version == "v1.0.0" and host.current() == "v1.0.0"
    modules = modules_of(proc)
    assert "gitmodel.host.deploy" in modules  # the profile is of the rollback that ran
    assert not packages(modules) & NOT_ON_A_HOT_ROLLBACK
    assert not modules & NOT_HOST


def test_a_host_module_imports_only_what_it_needs(tmp_path: Path) -> None:
    """`import gitmodel.host.journal` (status, the audit) does not load deploy and the agent."""
    modules = imported([sys.executable, "-c", "import gitmodel.host.journal"], tmp_path)
    assert not modules & (NOT_HOST | {"gitmodel.host.deploy", "gitmodel.host.rollback"})


def test_the_host_packages_public_names_load_on_use() -> None:
    import gitmodel.host
    from gitmodel.host import Agent, Deployed, deploy_canary, rollback_local
    from gitmodel.host.agent import Agent as agent_class
    from gitmodel.host.rollback import rollback_local as local_rollback

    assert (Agent, rollback_local) == (agent_class, local_rollback)
    assert Deployed.__name__ == "Deployed" and callable(deploy_canary)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        gitmodel.host.nope  # noqa: B018 - the lookup is the test


def test_a_command_loads_on_first_lookup() -> None:
    commands = group.Commands({"list": "reads"})
    assert list(commands) == ["list"] and len(commands) == 1
    assert isinstance(commands["list"], click.Command)
    with pytest.raises(KeyError):
        commands["nope"]
