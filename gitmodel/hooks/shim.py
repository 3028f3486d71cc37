"""The script installed as a git hook: a marker line and one exec (STYLE.md, rule 7).

It runs the interpreter that installed it, so the hook keeps working whatever PATH
git is run with; all logic stays in Python where it is tested.  The files in the
repository's hooks/ folder are these shims rendered for `python3`, for copying by hand.
"""

from __future__ import annotations

import shlex

MARKER = "# gitmodel-hook:"
CHAINED_SUFFIX = ".gitmodel-chained"
CLIENT_HOOKS = ("pre-commit", "pre-push")
SERVER_HOOKS = ("pre-receive",)
ALL_HOOKS = (*CLIENT_HOOKS, *SERVER_HOOKS)

_TEMPLATE = """\
#!/bin/sh
{marker} {name}, installed by `gitmodel hooks install`; `gitmodel hooks uninstall` removes it.
# A hook that was here before is kept as {name}{suffix} and runs first.
exec {python} -m gitmodel hook --shim "$0" {name} "$@"
"""


def render(name: str, python: str) -> str:
    return _TEMPLATE.format(marker=MARKER, name=name, suffix=CHAINED_SUFFIX, python=shlex.quote(python))


def is_ours(text: str) -> bool:
    return MARKER in text
