"""The command group: click's parsing, usage errors in one line, and commands loaded lazily.

Commands load lazily: `gitmodel NAME` imports only the module that defines NAME (a
read or a hook must not pay for the host, rollout and serve modules' imports); `--help`
and completion load them all.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, MutableMapping
from typing import Any

import click

from gitmodel import __version__
from gitmodel.cli import output
from gitmodel.cli.failure import exit_for


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
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except (Exception, KeyboardInterrupt) as exc:
            exit_for(exc)


@click.group("gitmodel", cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gitmodel")
def cli() -> None:
    """Git-native model versioning and rollback on DVC.

    Exit codes: 0 ok, 1 refused by policy or gate, 2 usage error,
    3 conflict with a concurrent change (safe to retry), 4 remote unreachable.
    """
    # A move that landed but could not publish its pointer document says so (pointers/publish.py).
    output.log_to_stderr("gitmodel.pointers", "gitmodel: warning: %(message)s", logging.WARNING)
    output.log_to_stderr("gitmodel.notify", "gitmodel: warning: %(message)s", logging.WARNING)
    click.get_current_context().call_on_close(output.forget_colour_reset)  # once DVC was imported


# Which module of gitmodel/cli defines each command (tests/test_startup.py holds this
# table to the modules' COMMANDS lists, so a new command cannot be missed).
WHERE = {
    "init": "writes",
    "register": "writes",
    "list": "reads",
    "show": "reads",
    "history": "reads",
    "diff": "reads",
    "gate": "envs",
    "promote": "envs",
    "rollback": "envs",
    "deprecate": "envs",
    "serve": "serve",
    "hooks": "hooks",
    "hook": "hooks",
    "deploy": "host",
    "status": "host",
    "agent": "host",
    "host": "hostinit",
    "canary": "rollout",
    "monitor": "rollout",
    "ab": "rollout",
    "approve": "signing",
    "verify": "verify",
    "request": "requests",
    "changelog": "lifecycle",
    "card": "lifecycle",
    "lineage": "lifecycle",
    "audit": "lifecycle",
    "gc": "retention",
    "restore": "retention",
    "drill": "retention",
    "completion": "completion",
    "publish": "pointers",
    "gateway": "gateway",
}


class Commands(MutableMapping[str, click.Command]):
    """The group's `commands`: a command's module is imported when the command is first
    looked up (click's `get_command`, or `cli.commands[name]`)."""

    def __init__(self, where: dict[str, str]) -> None:
        self._where = where
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded and name in self._where:
            # __import__, not importlib.import_module: `python -X importtime` then shows it.
            module = __import__(f"gitmodel.cli.{self._where[name]}", fromlist=["COMMANDS"])
            for command in module.COMMANDS:
                self._loaded.setdefault(command.name, command)
        return self._loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        self._where.pop(name, None)
        del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*self._where, *self._loaded]))

    def __len__(self) -> int:
        return len(set(self._where) | set(self._loaded))


cli.commands = Commands(dict(WHERE))


def _sentence(text: str) -> str:
    """Click's message without its closing period, so "; see ..." can follow it."""
    return text[:-1] if text.endswith(".") else text
