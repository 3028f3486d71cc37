"""Entry point of `gitmodel` and `python -m gitmodel`.

Two answers come before click is imported, because they run most often and click's
import alone is about as long as Python's start-up: `--version`, and the line the
installed hook shims run on every commit and push (`hook --shim PATH NAME ...`).
Everything else goes through the click group (gitmodel/cli/group.py), which imports
only the module of the command that runs.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gitmodel.cli.group import Group


def main() -> None:
    argv = sys.argv[1:]
    if argv == ["--version"]:
        _version()
    from gitmodel.cli import hookrun

    if hookrun.from_shim(argv):
        from pathlib import Path

        from gitmodel.cli.failure import exit_for

        try:
            code = hookrun.run_hook(Path(argv[2]), argv[3], argv[4:])
        except (Exception, KeyboardInterrupt) as exc:
            exit_for(exc)
        sys.exit(code)
    from gitmodel.cli.group import cli

    cli(prog_name="gitmodel")


def _version() -> None:
    from gitmodel import __version__

    try:  # click's version_option says the same
        sys.stdout.write(f"gitmodel, version {__version__}\n")
        sys.stdout.flush()
    except BrokenPipeError:
        from gitmodel.cli import output

        output.reader_gone(sys.stdout)
    sys.exit(0)


def __getattr__(name: str) -> Any:
    # `from gitmodel.cli.main import cli`, as tests and scripts/gen_cli_reference.py write it.
    if name == "cli":
        from gitmodel.cli.group import cli

        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if TYPE_CHECKING:
    cli: Group
