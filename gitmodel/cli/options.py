"""Options and arguments more than one command module takes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

F = Callable[..., Any]

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
quiet_option = click.option(
    "-q", "--quiet", is_flag=True, help="No progress bar (one is drawn only on a terminal)."
)
wide_option = click.option("--wide", is_flag=True, help="Every column in full, even wider than the terminal.")


def repo() -> Path:
    """The registry checkout the command runs in (the top of the current git repository)."""
    from gitmodel import git
    from gitmodel.errors import NotARegistry

    try:
        return git.toplevel(Path.cwd())
    except NotARegistry:
        raise NotARegistry(
            f"{Path.cwd()} is not in a clone of a registry; `git clone` the registry and run this "
            "inside it (or start one: `git init`, then `gitmodel init`)"
        ) from None


def client_namespace(value: str | None) -> str | None:
    """--namespace as the commands take it: a client namespace (`acme`), never a model (`acme:x`)."""
    if value is None:
        return None
    from gitmodel.errors import UsageError
    from gitmodel.refs import parse_model

    name = parse_model(value)
    if ":" in name:
        raise UsageError(f"--namespace takes a namespace such as acme, not the model {value!r}")
    return name


def root_option(f: F) -> F:
    return click.option(
        "--root",
        type=click.Path(path_type=Path, file_okay=False),
        help="Directory the model server reads: ROOT/NAME/current -> versions/vX.Y.Z "
        "(default: `root` in the host file, see `gitmodel host init`).",
    )(f)


def host_root(root: Path | None, env: str) -> Path:
    """--root, else the host file's root (`gitmodel host init`)."""
    from gitmodel.localconfig import host_root as resolve_root

    return resolve_root(root, env)


_SERVER_OPTIONS = [
    click.option("--reload-url", metavar="URL", help="POST here after the swap (over the host file's)."),
    click.option("--reload-cmd", metavar="CMD", help="Run this shell command after the swap."),
    click.option(
        "--info-url",
        metavar="URL",
        help="GET this until its JSON `version` is the deployed one (over the host file's info_url).",
    ),
    click.option(
        "--lock-timeout",
        type=float,
        metavar="S",
        help="Wait this long for another deploy of the model (default 60); then exit 3.",
    ),
    click.option(
        "--health-timeout",
        type=float,
        metavar="S",
        help="Wait this long for the info endpoint (default 30); then revert.",
    ),
    click.option(
        "--trust-file",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Refuse pointers this trust file does not accept (default: "
        "$GITMODEL_TRUST_FILE, the host file's trust_file, else /etc/gitmodel/trust.yaml if present).",
    ),
]


def server_options(f: F) -> F:
    """Per-run overrides of the host file and gitmodel.yaml's `host:` section."""
    for option in reversed(_SERVER_OPTIONS):
        f = option(f)
    return f


def server_kwargs(kw: dict[str, Any]) -> dict[str, Any]:
    """The `server_options` a command received, as keyword arguments for gitmodel.host."""
    keys = ("reload_url", "reload_cmd", "info_url", "lock_timeout", "health_timeout", "trust_file")
    return {k: kw[k] for k in keys if kw.get(k) is not None}
