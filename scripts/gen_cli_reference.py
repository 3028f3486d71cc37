"""Write docs/reference/cli.md from click's command tree: every command's `--help`.

    python scripts/gen_cli_reference.py            # rewrite docs/reference/cli.md
    python scripts/gen_cli_reference.py --check    # exit 1 if the file is out of date

tests/test_docs.py regenerates the text in memory and compares, so the page never drifts
from the CLI. Help is rendered at a fixed width so the output does not depend on the
terminal that runs the script.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "reference" / "cli.md"
WIDTH = 88

HEADER = """# CLI reference

Generated from the commands' own `--help` by `scripts/gen_cli_reference.py`; do not edit
by hand (`make docs` regenerates it, and a test fails when it is out of date). The guides
explain when to use each command; exit codes are `0` ok, `1` refused by policy or gate,
`2` usage error, `3` a concurrent change won (safe to retry), `4` a remote did not answer.
"""


def _contexts(
    command: click.Command, name: str, parent: click.Context | None
) -> list[tuple[click.Context, click.Command]]:
    # The command's own context_settings (the root's `-h`) as `gitmodel` itself applies them.
    settings = {**command.context_settings, "terminal_width": WIDTH, "max_content_width": WIDTH}
    ctx = click.Context(command, info_name=name, parent=parent, **settings)
    found = [(ctx, command)]
    if isinstance(command, click.Group):
        for sub_name in sorted(command.list_commands(ctx)):
            sub = command.get_command(ctx, sub_name)
            if sub is not None and not sub.hidden:
                found.extend(_contexts(sub, sub_name, ctx))
    return found


def render() -> str:
    from gitmodel.cli.main import cli

    parts = [HEADER]
    for ctx, command in _contexts(cli, "gitmodel", None):
        parts.append(f"\n## {ctx.command_path}\n\n```text\n{command.get_help(ctx).rstrip()}\n```\n")
    return "".join(parts)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            sys.stderr.write(f"{TARGET.relative_to(ROOT)} is out of date: run python {Path(__file__).name}\n")
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {TARGET.relative_to(ROOT)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
