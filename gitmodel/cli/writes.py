"""Commands that write to the registry: init, register."""

from __future__ import annotations

from pathlib import Path

import click

from gitmodel.cli import output, progress


@click.command()
@click.option("--remote", metavar="PATH", help="Add a local-path DVC remote (made default) at PATH.")
@click.option("--force", is_flag=True, help="Let --remote replace a different default DVC remote.")
def init(remote: str | None, force: bool) -> None:
    """Make the current git repository a gitmodel registry.

    Initialises DVC if needed, writes gitmodel.yaml with the environments
    staging and production, and commits both.
    """
    from gitmodel.init import init_registry

    done = init_registry(Path.cwd(), remote, force)
    parts = []
    if done.initialised_dvc:
        parts.append("initialised DVC")
    parts.append("wrote gitmodel.yaml" if done.created_config else "kept the existing gitmodel.yaml")
    if done.remote:
        parts.append(f"DVC remote 'storage' -> {done.remote}")
    output.info(f"registry ready in {done.repo}: " + ", ".join(parts))
    if done.commit:
        output.info(f"committed {done.commit[:10]}")
    if done.hooks:
        output.info(f"installed git hooks: {', '.join(done.hooks)} (`gitmodel hooks uninstall` removes them)")


@click.command()
@click.argument("name")
@click.argument("path")
@click.option("--version", "version", metavar="vX.Y.Z", help="Register exactly this version.")
@click.option(
    "--bump",
    type=click.Choice(["auto", "major", "minor", "patch"]),
    default="auto",
    show_default=True,
    help="Compute the version from the previous one.",
)
@click.option(
    "--meta",
    "meta_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="YAML file with base_model, metrics, training, inference, ...",
)
@click.option("-m", "--message", help="What changed in this version (the description).")
@click.option("--push", is_flag=True, help="Push bytes to the DVC remote, then commit and tag to origin.")
@click.option(
    "--for", "for_env", metavar="ENV", help="Refuse now if the version lacks the evidence ENV requires."
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar (one is drawn only on a terminal).")
def register(
    name: str,
    path: str,
    version: str | None,
    bump: str,
    meta_file: Path | None,
    message: str | None,
    push: bool,
    for_env: str | None,
    quiet: bool,
) -> None:
    """Register PATH (a model file or folder) as a new immutable version of NAME."""
    from gitmodel import git
    from gitmodel.register import Request
    from gitmodel.register import register as do_register

    cwd = Path.cwd()
    with progress.bar(f"hashing {Path(path).name}", quiet=quiet) as hashing:
        req = Request(name, path, version, bump, meta_file, message, push, for_env, progress=hashing)
        done = do_register(git.toplevel(cwd), cwd, req)
    why = f"{done.level} bump: {done.reason}" if done.level else done.reason
    output.info(f"registered {done.model} {done.version} ({why})")
    output.info(f"  tag     {done.tag}")
    output.info(f"  commit  {done.commit[:10]}")
    output.info(f"  bytes   {done.artifact_path} (tracked by DVC)")
    if done.pushed:
        output.info("  pushed  DVC objects, commit and tag to the remotes")


COMMANDS = [init, register]
