"""`gitmodel hook NAME`: run the chained hook, then gitmodel's checks for NAME."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gitmodel import git
from gitmodel.hooks import chain
from gitmodel.hooks.shim import ALL_HOOKS
from gitmodel.policy.verdict import Violation

READS_STDIN = ("pre-push", "pre-receive")
DEFAULT_BUDGET = 30.0


@dataclass(frozen=True)
class Outcome:
    chained: Path | None = None
    chained_exit: int = 0  # non-zero: the chained hook refused, and gitmodel's checks did not run
    violations: list[Violation] = field(default_factory=list)


def run(name: str, args: list[str], data: bytes, cwd: Path, shim: Path | None = None) -> Outcome:
    assert name in ALL_HOOKS, name
    chained = chain.find(shim, name) if shim is not None else None
    if chained is not None:
        code = chain.run(chained, args, data, cwd)
        if code != 0:
            return Outcome(chained, code)
    text, seconds = data.decode("utf-8", errors="replace"), budget(name, cwd)
    if not seconds:  # the author's own commit: no alarm, nor the module that sets it
        return Outcome(chained, 0, check(name, text, cwd, args))
    from gitmodel.untrusted import time_budget

    # A push is judged within a wall-clock budget: crafted input (huge pushes, slow YAML)
    # must not hold the server; past it the push is refused (OverBudget, exit 1).
    with time_budget(seconds, f"gitmodel's {name} hook"):
        return Outcome(chained, 0, check(name, text, cwd, args))


def budget(name: str, cwd: Path) -> float:
    """Seconds: `gitmodel.hookBudget` in the repository's git config (0: none), else 30."""
    if name == "pre-commit":
        return 0.0  # the author's own commit, on the author's machine
    value = git.config_get(cwd, "gitmodel.hookBudget")
    try:
        return float(value) if value is not None else DEFAULT_BUDGET
    except ValueError:
        return DEFAULT_BUDGET


def check(name: str, text: str, cwd: Path, args: list[str] | None = None) -> list[Violation]:
    if name == "pre-commit":
        import os

        from gitmodel.hooks import framework, staged

        if args or framework.FROM_REF in os.environ:  # the pre-commit framework: files or a range
            return framework.check(git.toplevel(cwd), args or [], os.environ)
        return staged.check(git.toplevel(cwd))
    from gitmodel.policy import stdin, tags

    if name == "pre-push":
        return tags.check(git.toplevel(cwd), stdin.parse_pre_push(text), tags.Side.CLIENT)
    # pre-receive runs in the bare repository, where git put the pushed objects in quarantine
    # and told us where (GIT_QUARANTINE_PATH, GIT_OBJECT_DIRECTORY): our git calls inherit that.
    return tags.check(cwd, stdin.parse_pre_receive(text), tags.Side.SERVER)
