"""Entry point: the command group and the one handler that maps errors to exit codes."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import traceback
from typing import Any

import click

from gitmodel import __version__
from gitmodel.cli import output
from gitmodel.errors import GitModelError

EXIT_INTERNAL = 70


class Group(click.Group):
    """Runs commands inside the single error handler; usage errors are one line too."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            rv = super().main(*args, **kwargs)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else "gitmodel"
            output.error(f"{_sentence(exc.format_message())}; see `{where} --help`")
            sys.exit(exc.exit_code)
        except click.Abort:
            output.error("aborted")
            sys.exit(1)
        except click.ClickException as exc:
            output.error(exc.format_message())
            sys.exit(exc.exit_code)
        except SystemExit as exc:
            # Click answers a broken pipe outside `invoke` (`gitmodel --help | head -0`) with
            # exit 1, which we document as "refused by policy": the reader left, that is all.
            pacified = type(sys.stdout).__name__ == "_PacifyFlushWrapper"  # click's EPIPE mark
            if exc.code == 1 and pacified and output.pipe_closed(sys.stdout):
                output.reader_gone(sys.stdout)
                sys.exit(0)
            raise
        sys.exit(rv if isinstance(rv, int) else 0)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except GitModelError as exc:
            if exc.exit_code == 0:  # an outcome, not an error (moves.MovesFinished)
                output.info(exc.message)
                sys.exit(0)
            output.error(exc.message)
            sys.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            output.error("interrupted; every step done so far was undone or is complete")
            sys.exit(130)
        except Exception as exc:
            # Click writes a subcommand's --help itself (our own output never raises this,
            # see output.py).  Only a reader that left is quiet: a socket's EPIPE is a crash.
            if isinstance(exc, BrokenPipeError) and output.pipe_closed(sys.stdout):
                output.reader_gone(sys.stdout)
                sys.exit(0)
            fd, log = tempfile.mkstemp(prefix="gitmodel-crash-", suffix=".log")
            with os.fdopen(fd, "w") as fh:
                traceback.print_exc(file=fh)
            output.error(f"internal error {type(exc).__name__}: {exc} (details in {log}; please report it)")
            sys.exit(EXIT_INTERNAL)


@click.group("gitmodel", cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gitmodel")
def cli() -> None:
    """Git-native model versioning and rollback on DVC.

    Exit codes: 0 ok, 1 refused by policy or gate, 2 usage error,
    3 conflict with a concurrent change (safe to retry), 4 remote unreachable.
    """
    # A move that landed but could not publish its pointer document says so (pointers/publish.py).
    output.log_to_stderr("gitmodel.pointers", "gitmodel: warning: %(message)s", logging.WARNING)


def _register_commands() -> None:
    from gitmodel.cli import (
        envs,
        hooks,
        host,
        hostinit,
        lifecycle,
        pointers,
        reads,
        retention,
        rollout,
        serve,
        signing,
        verify,
        writes,
    )

    # One module per command group; each lists its commands in COMMANDS.
    for module in (
        writes,
        reads,
        envs,
        serve,
        hooks,
        host,
        hostinit,
        rollout,
        signing,
        verify,
        lifecycle,
        retention,
    ):
        for command in module.COMMANDS:
            cli.add_command(command)
    for command in pointers.COMMANDS:  # `gitmodel publish`
        cli.add_command(command)
    from gitmodel.cli.completion import completion  # `gitmodel completion bash|zsh|fish`

    cli.add_command(completion)
    from gitmodel.cli.gateway import gateway  # `gitmodel gateway`

    cli.add_command(gateway)


_register_commands()


def _sentence(text: str) -> str:
    """Click's message without its closing period, so "; see ..." can follow it."""
    return text[:-1] if text.endswith(".") else text


def main() -> None:
    cli(prog_name="gitmodel")
