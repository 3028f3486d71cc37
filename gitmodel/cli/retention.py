"""Retention commands: gc, restore, drill (docs/lifecycle.md)."""

from __future__ import annotations

from typing import Any

import click

from gitmodel.cli import completion as complete
from gitmodel.cli import output
from gitmodel.cli.options import (
    client_namespace,
    host_root,
    json_option,
    repo,
    root_option,
    server_kwargs,
    server_options,
)


@click.command()
@click.option("--dry-run", is_flag=True, help="Print what would be archived and why; change nothing.")
@click.option("--namespace", metavar="NS", help="Only the models of this client namespace.")
@json_option
def gc(dry_run: bool, namespace: str | None, as_json: bool) -> None:
    """Archive versions' bytes to the cold DVC remote by gitmodel.yaml's `retention:` policy.

    Never touches a version a pointer, a canary, an environment's rollback window or the
    minimum retention protects. Due scheduled deprecations become deregistrations.
    """
    from gitmodel.lifecycle.retention import gc as run_gc

    data = run_gc(repo(), dry_run=dry_run, namespace=client_namespace(namespace))
    if as_json:
        output.emit_json(data.to_json())
        return
    verb = {"archive": "would archive", "deprecate": "would deprecate"} if dry_run else {}
    rows = [
        [
            r.model,
            r.version,
            r.status,
            f"{r.age_days:g}d",
            verb.get(r.action, r.action + ("d" if r.done and r.action.endswith("e") else "")),
            r.reason + (f" ({r.detail})" if r.detail else ""),
        ]
        for r in data.rows
    ]
    if rows:
        output.echo_table(["MODEL", "VERSION", "STATUS", "AGE", "ACTION", "WHY"], rows)
    archive = sum(r.action == "archive" for r in data.rows)
    where = f" to {data.cold_remote}" if data.cold_remote else ""
    done = "would archive" if dry_run else "archived"
    kept = sum(r.action == "keep" for r in data.rows)
    output.info(f"{data.scanned} versions scanned; {done} {archive}{where}, kept {kept}")


@click.command()
@click.argument("spec", metavar="NAME@vX.Y.Z", shell_complete=complete.spec)
@json_option
def restore(spec: str, as_json: bool) -> None:
    """Copy an archived version's bytes back from the cold DVC remote to the hot one."""
    from gitmodel.lifecycle.retention import restore as do_restore

    done = do_restore(repo(), spec)
    if as_json:
        output.emit_json(done.to_json())
        return
    output.info(
        f"restored {done.model} {done.version} from {done.source} to {done.dest or 'the default remote'}: "
        f"{done.copied} of {done.objects} objects copied ({done.ref})"
    )


@click.command()
@click.argument("env", shell_complete=complete.environments)
@click.argument("name", required=False, shell_complete=complete.models)
@root_option
@click.option("--i-mean-it", is_flag=True, help="Drill the last environment (production) anyway.")
@click.option(
    "--limit",
    type=float,
    metavar="S",
    help="Fail a leg slower than this (default: gitmodel.yaml's drill.limit_seconds, 60).",
)
@server_options
@json_option
def drill(
    env: str, name: str | None, root: Any, i_mean_it: bool, limit: float | None, as_json: bool, **kw: Any
) -> None:
    """Roll ENV back and forward again on this host, timing each leg to the server's confirmation.

    Exit 1 when a leg took longer than the limit. The result is recorded (`history NAME --drills`).
    """
    from gitmodel.host.drill import drill as run_drill

    done = run_drill(
        repo(), env, name, host_root(root, env), i_mean_it=i_mean_it, limit=limit, **server_kwargs(kw)
    )
    if as_json:
        output.emit_json(done.to_json())
    else:
        rows = [
            [leg.leg, leg.version, f"{leg.seconds:.2f}s", leg.verified or "-", leg.tag or "-"]
            for leg in done.legs
        ]
        output.echo_table(["LEG", "SERVES", "TOOK", "CONFIRMED", "TAG"], rows)
        verdict = "PASSED" if done.passed else "TOO SLOW"
        output.info(
            f"drill {verdict}: slowest leg {done.seconds:.2f}s, limit {done.limit_seconds:g}s ({done.record})"
        )
    if not done.passed:
        raise SystemExit(done.exit_code)


COMMANDS = [gc, restore, drill]
