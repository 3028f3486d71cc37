"""Read commands: list, show, history, diff. Each takes --json. None imports DVC."""

from __future__ import annotations

from typing import Any

import click

from gitmodel.cli import output
from gitmodel.cli.options import json_option, repo


@click.command("list")
@json_option
def list_cmd(as_json: bool) -> None:
    """Every model: latest version and what each environment serves."""
    from gitmodel.queries import list_models

    data = list_models(repo())
    if as_json:
        output.emit_json(data)
        return
    if not data["models"]:
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
            m["versions"],
            *(m["environments"].get(e) for e in envs),
        ]
        for m in data["models"]
    ]
    output.echo_table(["MODEL", "LATEST", "VERSIONS", *(e.upper() for e in envs)], rows)


@click.command()
@click.argument("spec", metavar="NAME[@vX.Y.Z|#ENV]")
@json_option
def show(spec: str, as_json: bool) -> None:
    """One version's metadata: the latest, a given version, or what ENV serves."""
    from gitmodel.queries import show as do_show

    data = do_show(repo(), spec)
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
    if data["deprecated"]:
        head.append(("status", "deprecated"))
    rows: list[tuple[str, Any]] = head + [(k, v) for k, v in _flat(meta) if k not in ("name", "version")]
    output.echo_table(["FIELD", "VALUE"], [(k, output.fmt_num(v)) for k, v in rows])


@click.command()
@click.argument("name")
@click.option("--env", help="Only moves of this environment.")
@click.option("--at", "at", metavar="TIME", help="Instead: what each environment served at TIME (ISO 8601).")
@json_option
def history(name: str, env: str | None, at: str | None, as_json: bool) -> None:
    """Registrations, promotions and rollbacks of NAME, oldest first."""
    from gitmodel.queries import history as do_history
    from gitmodel.queries import state_at

    if at is not None:
        state = state_at(repo(), name, at)
        if env is not None:
            state["environments"] = {env: state["environments"].get(env)}
        if as_json:
            output.emit_json(state)
        else:
            output.echo_table(["ENV", f"VERSION AT {state['at']}"], list(state["environments"].items()))
        return
    data = do_history(repo(), name, env)
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
    output.echo_table(headers, rows)


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
@click.argument("name")
@click.argument("a", metavar="vA")
@click.argument("b", metavar="vB")
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
