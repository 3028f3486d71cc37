"""`gitmodel completion bash|zsh|fish`, and the callbacks that complete names from the registry.

The shell runs `gitmodel` with `_GITMODEL_COMPLETE` set on every TAB; click answers
from the callbacks below. Each reads the models as `list` does (listingread.py: names,
versions and what each stage serves; no DVC, no metadata files) and never fails loudly:
a TAB outside a registry completes nothing.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from gitmodel.registry import ModelState

SHELLS = ("bash", "zsh", "fish")


def _models() -> dict[str, ModelState]:
    from pathlib import Path

    from gitmodel import git, listingread

    try:
        return listingread.listing_models(git.toplevel(Path.cwd()))
    except Exception:  # a TAB must never print a traceback into the command line
        return {}


def _shown(name: str) -> str:
    return name.replace(":", "/")  # acme:support is typed acme/support (a colon splits words in bash)


def models(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    names = sorted(_shown(n) for n in _models())
    return [n for n in names if n.startswith(incomplete)]


def versions(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """The versions of the model named on the line (newest first).

    Click leaves the arguments unparsed while an option waits for its value
    (`rollback production support --to <TAB>`), so the model is then found among the
    words the shell passed (COMP_WORDS, set by click's scripts for all three shells).
    """
    known = _models()
    name = ctx.params.get("name")
    words = [name] if isinstance(name, str) else os.environ.get("COMP_WORDS", "").split()
    named = [known[key] for w in words if (key := w.replace("/", ":")) in known]
    if not named and len(known) == 1:
        named = list(known.values())
    found = [str(v) for state in named[:1] for v in sorted(state.versions, reverse=True)]
    return [v for v in found if v.startswith(incomplete)]


def environments(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """gitmodel.yaml's environments, then any other stage a tag names."""
    from pathlib import Path

    from gitmodel import config, git

    envs: list[str] = []
    with contextlib.suppress(Exception):  # outside a registry: the stages tags name, if any
        envs = list(config.load(git.toplevel(Path.cwd())).environments)
    for state in _models().values():
        envs += [s for s in state.stages() if s not in envs]
    return [e for e in envs if e.startswith(incomplete)]


def spec(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """NAME, then NAME@vX.Y.Z and NAME#ENV once the name is typed."""
    name, sep, _ = incomplete.replace("#", "@").partition("@")
    if not sep:
        return models(ctx, param, incomplete)
    state = _models().get(name.replace("/", ":"))
    if state is None:
        return []
    whole = [f"{name}@{v}" for v in sorted(state.versions, reverse=True)]
    whole += [f"{name}#{e}" for e, v in state.stages().items() if v is not None]
    return [w for w in whole if w.startswith(incomplete)]


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL; it completes commands, options, model
    names, versions and environments from the registry.

    \b
    bash:  eval "$(gitmodel completion bash)"          (in ~/.bashrc)
    zsh:   eval "$(gitmodel completion zsh)"           (in ~/.zshrc)
    fish:  gitmodel completion fish > ~/.config/fish/completions/gitmodel.fish
    """
    from click.shell_completion import get_completion_class

    root = click.get_current_context().find_root()
    cls = get_completion_class(shell)
    assert cls is not None, shell  # click ships all three
    script = cls(root.command, {}, "gitmodel", "_GITMODEL_COMPLETE").source()
    click.echo(script)


COMMANDS = [completion]
