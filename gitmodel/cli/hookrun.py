"""`gitmodel hook NAME`: what the installed hook shims run on every commit and push.

Kept free of click: gitmodel/cli/main.py runs it straight from the shim's command line
(`hook --shim PATH NAME ARGS...`), so a commit that touches no model pays for
Python, a few git calls and nothing else.
"""

from __future__ import annotations

import sys
from pathlib import Path

from gitmodel.hooks.shim import ALL_HOOKS


def run_hook(shim: Path | None, name: str, args: list[str]) -> int:
    """Run the chained hook, then gitmodel's checks; the exit code for git."""
    from gitmodel.hooks.run import READS_STDIN, run

    data = b""
    if name in READS_STDIN and not sys.stdin.isatty():
        data = sys.stdin.buffer.read()
    outcome = run(name, args, data, Path.cwd(), shim)
    if not outcome.chained_exit and not outcome.violations:
        return 0
    from gitmodel.cli import output

    if outcome.chained_exit:
        output.error(
            f"{outcome.chained} refused (exit {outcome.chained_exit}); gitmodel's checks did not run"
        )
        return outcome.chained_exit
    for violation in outcome.violations:
        output.error(violation.line())
    return 1


def from_shim(argv: list[str]) -> bool:
    """Whether ARGV is exactly the line a shim runs: `hook --shim PATH NAME [ARGS...]`."""
    return len(argv) >= 4 and argv[0] == "hook" and argv[1] == "--shim" and argv[3] in ALL_HOOKS
