"""What one command writes is its own: log handlers live as long as the command that
installed them, and nothing is written after its last line (DVC's colorama reset)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from plugin.terminal import on_a_terminal

from gitmodel.cli import group, output


def test_colorama_exit_reset_is_forgotten(tmp_path: Path) -> None:
    """DVC's logger runs colorama.init() on import: its exit hook writes ESC[0m to a terminal."""
    program = "import colorama; colorama.init(); print('last line')\n"
    code, out = on_a_terminal([sys.executable, "-c", program], tmp_path)
    assert (code, out) == (0, b"last line\r\n\x1b[0m")  # the leak, as DVC causes it
    program = program + "from gitmodel.cli import output; output.forget_colour_reset()\n"
    code, out = on_a_terminal([sys.executable, "-c", program], tmp_path)
    assert (code, out) == (0, b"last line\r\n")


@pytest.mark.slow
def test_a_command_that_imported_dvc_ends_with_its_last_line_on_a_terminal(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path / "reg")], check=True)
    argv = [sys.executable, "-m", "gitmodel", "init", "--remote", str(tmp_path / "remote")]
    code, out = on_a_terminal(argv, tmp_path / "reg")
    assert code == 0, out
    assert (tmp_path / "reg" / ".dvc").is_dir()  # DVC's own init ran in this process
    assert b"\x1b" not in out and out.endswith(b"them)\r\n"), out


@click.command()
def talk() -> None:
    """Logs as `agent` does: through a handler of its own."""
    output.log_to_stderr("gitmodel.agent", "agent: %(message)s", logging.INFO)
    logging.getLogger("gitmodel.agent").info("one")


@click.command()
def other() -> None:
    """Meanwhile, an Agent running in this process outside any command (a test's) logs."""
    logging.getLogger("gitmodel.agent").info("from elsewhere")
    output.info("two")


@click.command()
def breaks() -> None:
    output.log_to_stderr("gitmodel.agent", "agent: %(message)s", logging.INFO)
    raise click.UsageError("no")


def test_two_commands_in_one_process_see_only_their_own_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    cli = group.Group("gitmodel", callback=group.cli.callback, commands=[talk, other, breaks])
    logger = logging.getLogger("gitmodel.agent")
    before = (list(logger.handlers), logger.level, logger.propagate)
    runner = CliRunner()
    first = runner.invoke(cli, ["talk"])
    assert (first.exit_code, first.stderr) == (0, "agent: one\n")
    assert (list(logger.handlers), logger.level, logger.propagate) == before  # removed with the command
    caplog.set_level(logging.INFO, "gitmodel.agent")
    second = runner.invoke(cli, ["other"])
    assert (second.exit_code, second.stdout, second.stderr) == (0, "two\n", "")
    assert [r.getMessage() for r in caplog.records if r.name == "gitmodel.agent"] == ["from elsewhere"]
    failed = runner.invoke(cli, ["breaks"])  # a command that fails removes its handler too
    assert failed.exit_code == 2 and "agent:" not in failed.stderr
    assert list(logger.handlers) == before[0] and logger.propagate == before[2]
    for name in ("gitmodel.pointers", "gitmodel.notify"):  # the group's own, for every command
        assert not [h for h in logging.getLogger(name).handlers if isinstance(h, output.LogHandler)]


def test_a_log_handler_needs_a_command() -> None:
    with pytest.raises(RuntimeError):
        output.log_to_stderr("gitmodel.agent", "%(message)s", logging.INFO)
