"""Read commands: list, show, history, diff. Each takes --json. None imports DVC.

They answer from this clone's tags. When its last fetch from origin is older than
STALE_AFTER, the human output ends with one note on stderr saying origin may be ahead
(the mtime of FETCH_HEAD: no network, two git calls); --json stays a bare document.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from gitmodel.cli import completion as complete
from gitmodel.cli import output
from gitmodel.cli.options import client_namespace, json_option, repo, wide_option
from gitmodel.errors import UsageError

STALE_AFTER = 3600.0  # seconds since the last fetch before a read says origin may be ahead


@click.command("list")
@click.option("--namespace", metavar="NS", help="Only the models of this client namespace (NS:NAME).")
@wide_option
@json_option
def list_cmd(namespace: str | None, wide: bool, as_json: bool) -> None:
    """Every model: latest version, its status and what each environment serves."""
    from gitmodel.queries import list_models

    root = repo()
    data = list_models(root, client_namespace(namespace))
    if as_json:
        output.emit_json(data)
        return
    if not data["models"]:
        from gitmodel import config

        if not (root / config.FILENAME).exists():
            output.info(f"no registry here (no {config.FILENAME}); `gitmodel init` makes this repository one")
        else:
            output.info("no models registered yet; run `gitmodel register NAME PATH`")
        return
    # Stages outside gitmodel.yaml (e.g. `production-canary`) get a column only while in use.
    envs = [
        e
        for e in dict.fromkeys(e for m in data["models"] for e in m["environments"])
        if e in data["environments"] or any(m["environments"].get(e) for m in data["models"])
    ]
    rows = [
        [
            m["name"] + (" (deprecated)" if m["deprecated"] else ""),
            m["latest"],
            m["status"],
            m["versions"],
            *(m["environments"].get(e) for e in envs),
        ]
        for m in data["models"]
    ]
    headers = ["MODEL", "LATEST", "STATUS", "VERSIONS", *(e.upper() for e in envs)]
    _lifecycle_columns(data["models"], headers, rows)
    output.echo_table(headers, rows, wide)
    _stale_note(root)


def _lifecycle_columns(models: list[dict[str, Any]], headers: list[str], rows: list[list[Any]]) -> None:
    """Scheduled deprecations and drills get a column only when some model has one."""
    if any(m["deprecations"] for m in models):
        headers.append("DEPRECATES")
        for row, m in zip(rows, models, strict=True):
            row.append(
                ", ".join(
                    f"{d['version']} {'since' if d['due'] else 'on'} {d['on']}" for d in m["deprecations"]
                )
            )
    if any(m["drills"] for m in models):
        headers.append("LAST DRILL")
        for row, m in zip(rows, models, strict=True):
            row.append(
                ", ".join(
                    f"{env} {d['time'][:10]} {'ok' if d['passed'] else 'SLOW'} {d['seconds']}s"
                    for env, d in m["drills"].items()
                )
            )


def _scheduled(status: str, on: str | None) -> str:
    if on is None:
        return ""
    return f" (since {on}, as scheduled)" if status == "deprecated" else f" (to be deprecated on {on})"


@click.command()
@click.argument("spec", metavar="NAME[@vX.Y.Z|#ENV]", shell_complete=complete.spec)
@json_option
def show(spec: str, as_json: bool) -> None:
    """One version's metadata: the latest, a given version, or what ENV serves."""
    from gitmodel.queries import show as do_show

    _, sep, env = spec.partition("#")
    root = repo()
    try:
        data = do_show(root, spec)
    except UsageError:  # "nothing in prod": say first whether prod is an environment at all
        if sep:
            _known_environment(env)
        raise
    if as_json:
        output.emit_json(data)
        return
    meta = data["metadata"]
    head = [
        ("model", data["name"]),
        ("version", data["version"]),
        ("environments", ", ".join(data["environments"]) or "-"),
        ("tag", data["tag"]),
        ("commit", data["commit"][:10]),
    ]
    head.append(
        (
            "status",
            data["status"] + _scheduled(data["status"], data["deprecate_on"]),
        )
    )
    rows: list[tuple[str, Any]] = head + [(k, v) for k, v in _flat(meta) if k not in ("name", "version")]
    output.echo_table(["FIELD", "VALUE"], [(k, output.fmt_num(v)) for k, v in rows])
    _stale_note(root)


@click.command()
@click.argument("name", shell_complete=complete.models)
@click.option("--env", help="Only moves of this environment.", shell_complete=complete.environments)
@click.option("--at", "at", metavar="TIME", help="Instead: what each environment served at TIME (ISO 8601).")
@click.option("--wide", is_flag=True, help="Every column in full, even wider than the terminal.")
@click.option("--drills", is_flag=True, help="Instead: the rollback drills of NAME (`gitmodel drill`).")
@json_option
def history(name: str, env: str | None, at: str | None, wide: bool, drills: bool, as_json: bool) -> None:
    """Registrations, promotions and rollbacks of NAME, oldest first."""
    from gitmodel.queries import history as do_history
    from gitmodel.queries import state_at

    if drills:
        _drills(name, env, as_json)
        return

    if at is not None:
        state = state_at(repo(), name, at)
        if env is not None:
            state["environments"] = {env: state["environments"].get(env)}
        if as_json:
            output.emit_json(state)
        else:
            output.echo_table(["ENV", f"VERSION AT {state['at']}"], list(state["environments"].items()))
        return
    root = repo()
    data = do_history(root, name, env)
    if env is not None and not data["events"]:
        _known_environment(env)
    if as_json:
        output.emit_json(data)
        return
    rows = [
        [
            e["time"],
            e["action"] + (f" {e['percent']}%" if "percent" in e else ""),
            e["version"],
            e["environment"],
            e["from"],
            e["actor"],
            e["reason"],
        ]
        for e in data["events"]
    ]
    headers = ["TIME", "ACTION", "VERSION", "ENV", "FROM", "ACTOR", "REASON"]
    if any(e["signature"] for e in data["events"]):  # no signed tag: the table stays as it was
        headers.insert(6, "SIGNER")
        for row, e in zip(rows, data["events"], strict=True):
            row.insert(6, _signer(e["signature"]))
    output.echo_table(headers, rows, wide)
    _stale_note(root)


def _drills(name: str, env: str | None, as_json: bool) -> None:
    from gitmodel.lifecycle.drills import history

    data = history(repo(), name, env)
    if as_json:
        output.emit_json(data)
        return
    rows = [
        [
            d["time"],
            d["env"],
            d["version"],
            d["to"],
            d["back_seconds"],
            d["forward_seconds"],
            d["limit"],
            "ok" if d["passed"] else "SLOW",
            d["host"],
            d["actor"],
        ]
        for d in data["drills"]
    ]
    if not rows:
        output.info(
            f"no drills of {data['name']} yet; `gitmodel drill ENV {data['name']} --root ROOT` runs one"
        )
        return
    headers = [
        "TIME",
        "ENV",
        "VERSION",
        "BACK TO",
        "BACK S",
        "FORWARD S",
        "LIMIT S",
        "RESULT",
        "HOST",
        "ACTOR",
    ]
    output.echo_table(headers, rows)


def stale_for(root: Path, now: float | None = None) -> float | None:
    """Seconds since this clone last fetched from origin, when that is over STALE_AFTER."""
    from gitmodel import git

    if git.config_get(root, "remote.origin.url") is None:
        return None  # no origin: nothing can be ahead
    try:
        age = (now or time.time()) - git.git_path(root, "FETCH_HEAD").stat().st_mtime
    except FileNotFoundError:
        return None  # never fetched since the clone: its age is unknown, say nothing
    return age if age > STALE_AFTER else None


def _stale_note(root: Path) -> None:
    age = stale_for(root)
    if age is None:
        return
    hours = age / 3600
    ago = f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.0f} days"
    click.echo(
        output.escape(
            f"note: this clone last fetched from origin {ago} ago, which may be ahead; "
            "`git fetch origin --tags` to see its moves"
        ),
        err=True,
    )


def _known_environment(env: str) -> None:
    """Refuse ENV unless gitmodel.yaml lists it (or it is one's canary stage, ENV-canary)."""
    from gitmodel import config
    from gitmodel.errors import NotARegistry, UnknownEnvironment

    try:
        known = config.load(repo()).environments
    except NotARegistry:
        return
    if env not in known and env.removesuffix("-canary") not in known:
        raise UnknownEnvironment(env, list(known))


def _signer(sig: dict[str, Any] | None) -> str | None:
    """Who signed a move, or why the signature does not count."""
    if sig is None:
        return None
    if sig["status"] == "good":
        return str(sig["signer"] or sig["key"])
    if sig["status"] == "unknown-key":
        return f"unknown key {sig['key'] or ''}".strip()
    return "BAD SIGNATURE" if sig["status"] == "bad" else "unverifiable"


@click.command()
@click.argument("name", shell_complete=complete.models)
@click.argument("a", metavar="vA", shell_complete=complete.versions)
@click.argument("b", metavar="vB", shell_complete=complete.versions)
@json_option
def diff(name: str, a: str, b: str, as_json: bool) -> None:
    """Metadata and metrics of two versions side by side, with deltas."""
    from gitmodel.queries import diff as do_diff

    data = do_diff(repo(), name, a, b)
    if as_json:
        output.emit_json(data)
        return
    rows = []
    for f in data["fields"]:
        delta = ""
        if "delta" in f and f["changed"]:
            delta = f"{f['delta']:+.6g}" + (
                f" ({output.fmt_change(f['relative'])})" if f["relative"] is not None else ""
            )
        mark = "*" if f["changed"] else ""
        rows.append([mark + f["field"], output.fmt_num(f["a"]), output.fmt_num(f["b"]), delta])
    output.echo_table(["FIELD", data["a"], data["b"], "CHANGE"], rows)


def _flat(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    for key, value in data.items():
        if isinstance(value, dict) and value:
            items.extend(_flat(value, f"{prefix}{key}."))
        else:
            items.append((f"{prefix}{key}", value))
    return items


COMMANDS = [list_cmd, show, history, diff]
