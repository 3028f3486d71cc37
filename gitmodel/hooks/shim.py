"""The script installed as a git hook: a marker line, then an exec of gitmodel (STYLE.md, rule 7).

It runs the interpreter that installed it, so the hook keeps working whatever PATH git
is run with (a server's gitmodel usually lives in a venv that is not on it). When that
interpreter is gone (the venv was moved or rebuilt) it falls back to `gitmodel` on PATH,
and when neither exists it refuses with one line saying how to fix it: a hook that
cannot run must not let a commit or push through unchecked. All logic stays in Python
where it is tested. The files in the repository's hooks/ folder are these shims with no
recorded interpreter (`gitmodel` on PATH), for copying by hand.
"""

from __future__ import annotations

import shlex

MARKER = "# gitmodel-hook:"
CHAINED_SUFFIX = ".gitmodel-chained"
CLIENT_HOOKS = ("pre-commit", "pre-push")
SERVER_HOOKS = ("pre-receive",)
ALL_HOOKS = (*CLIENT_HOOKS, *SERVER_HOOKS)

_HEAD = """\
#!/bin/sh
{marker} {name}, installed by `gitmodel hooks install`; `gitmodel hooks uninstall` removes it.
# A hook that was here before is kept as {name}{suffix} and runs first.
"""
_RECORDED = """\
python={python}
if [ -x "$python" ]; then exec "$python" -m gitmodel hook --shim "$0" {name} "$@"; fi
"""
_ON_PATH = """\
if command -v gitmodel >/dev/null 2>&1; then exec gitmodel hook --shim "$0" {name} "$@"; fi
echo "gitmodel: error: the {name} hook $0 cannot find gitmodel ({missing}); \
put gitmodel on PATH, or rerun \\`gitmodel hooks install\\` with the gitmodel you use" >&2
exit 1
"""


def render(name: str, python: str | None) -> str:
    """The shim for hook NAME; PYTHON is the interpreter to run (None: only `gitmodel` on PATH)."""
    text = _HEAD.format(marker=MARKER, name=name, suffix=CHAINED_SUFFIX)
    if python is not None:
        text += _RECORDED.format(python=shlex.quote(python), name=name)
        missing = "$python is gone and none is on PATH"
    else:
        missing = "none is on PATH"
    return text + _ON_PATH.format(name=name, missing=missing)


def is_ours(text: str) -> bool:
    return MARKER in text
