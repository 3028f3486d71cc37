"""Lifecycle commands: changelog, card, lineage, audit. Each takes --json; none imports DVC.

Markdown documents are printed line by line through output.info, so a value that
slipped past the core's Markdown escaping still cannot reach the terminal raw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from gitmodel.cli import output
from gitmodel.cli.options import client_namespace, json_option, repo, wide_option


def _note(message: str) -> None:
    """A remark beside a document on stdout: on stderr, so the Markdown stays clean."""
    click.echo(f"note: {output.escape(message)}", err=True)


def _print_markdown(doc: str) -> None:
    for line in doc.rstrip("\n").split("\n"):
        output.info(line)


@click.command()
@click.argument("name", required=False)
@click.argument("span", metavar="[vA..vB]", required=False)
@click.option(
    "--env", help="Environment whose current version is described (default: the last in gitmodel.yaml)."
)
@click.option("--namespace", metavar="NS", help="Every model of this client namespace (instead of NAME).")
@click.option(
    "--template",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Layout with {placeholders} (default: .gitmodel/changelog.md in the registry, else built in).",
)
@json_option
def changelog(
    name: str | None,
    span: str | None,
    env: str | None,
    namespace: str | None,
    template: Path | None,
    as_json: bool,
) -> None:
    """A client changelog: what ENV serves now against what it served before (or vA..vB).

    Without NAME: every model (of --namespace NS) that ENV serves.
    """
    from gitmodel.lifecycle import changelog as core

    where = repo()
    data = core.build(where, name, span, env, client_namespace(namespace))
    if as_json:
        output.emit_json(data)
        return
    text, source = core.read_template(where, template)
    _print_markdown(core.markdown(data, text, source))


@click.command()
@click.argument("spec", metavar="NAME@vX.Y.Z")
@json_option
def card(spec: str, as_json: bool) -> None:
    """The model card of a version: the one committed with it, else generated from its metadata."""
    from gitmodel.lifecycle.card import for_version

    data = for_version(repo(), spec)
    if as_json:
        output.emit_json(data)
        return
    _print_markdown(data["markdown"])
    if not data["committed"]:
        _note(f"{data['name']} {data['version']} has no committed card: generated from its metadata")
    elif data["matches_metadata"] is False:
        _note(f"the committed {data['path']} differs from what its metadata gives now")


@click.command()
@click.argument("spec", metavar="NAME[@vX.Y.Z]", required=False)
@click.option(
    "--data-hash", metavar="HASH", help="Instead: every version trained on this data (sha256:... or hex)."
)
@click.option("--base-model", metavar="MODEL", help="Instead: every version built on this base model.")
@json_option
def lineage(spec: str | None, data_hash: str | None, base_model: str | None, as_json: bool) -> None:
    """A version's parent chain, or every version trained on a dataset or built on a base model."""
    from gitmodel.errors import UsageError
    from gitmodel.lifecycle import lineage as core

    if spec is not None and (data_hash or base_model):
        raise UsageError("give NAME@vX.Y.Z, --data-hash HASH or --base-model NAME (one of them)")
    if spec is None:
        data = core.search(repo(), data_hash, base_model)
        if as_json:
            output.emit_json(data)
            return
        _search_table(data)
        return
    data = core.chain(repo(), spec)
    if as_json:
        output.emit_json(data)
        return
    rows = [
        [
            s["version"] + (" (deprecated)" if s["deprecated"] else ""),
            s["level"] or "-",
            s["change"],
            s["created_at"],
            output.fmt_num(s["data_hash"]),
            ", ".join(s["serving"]) or "-",
            "; ".join(_span(x) for x in s["served"]) or "-",
        ]
        for s in data["chain"]
    ]
    output.echo_table(["VERSION", "BUMP", "CHANGE", "CREATED", "DATA", "SERVING", "SERVED"], rows)
    if data["note"]:
        output.info(f"note: {data['note']}")


def _span(x: dict[str, Any]) -> str:
    return f"{x['environment']} {x['from']}..{x['until'] or 'now'}"


def _search_table(data: dict[str, Any]) -> None:
    by_hash = data["query"]["data_hash"] is not None
    rows = [
        [
            v["name"],
            v["version"] + (" (deprecated)" if v["deprecated"] else ""),
            v["base_model"],
            *([output.fmt_num(v["data_hash"])] if by_hash else []),
            ", ".join(v["serving"]) or "-",
        ]
        for v in data["versions"]
    ]
    if rows:
        headers = ["MODEL", "VERSION", "BASE MODEL", *(["DATA"] if by_hash else []), "SERVING"]
        output.echo_table(headers, rows)
    else:
        output.info("no version matches")
    extra = f", {data['unreadable']} unreadable" if data["unreadable"] else ""
    output.info(f"{len(rows)} of {data['scanned']} versions{extra}")


@click.command()
@click.option(
    "--since", metavar="TIME", help="Only what happened at or after TIME (ISO 8601; a date means its start)."
)
@click.option("--env", help="Only moves (and drills) of this environment.")
@click.option("--namespace", metavar="NS", help="Only the models of this client namespace.")
@click.option(
    "--root",
    "roots",
    multiple=True,
    type=click.Path(path_type=Path),
    metavar="ROOT",
    help="Also every host journal under ROOT (ROOT/NAME/journal.jsonl), one row per line, "
    "in the same time order; repeatable. Read only: no lock is taken, nothing is written.",
)
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV with the documented columns.")
@wide_option
@json_option
def audit(
    since: str | None,
    env: str | None,
    namespace: str | None,
    roots: tuple[Path, ...],
    as_csv: bool,
    wide: bool,
    as_json: bool,
) -> None:
    """Every registration, move and lifecycle record (archive, restore, scheduled deprecation,
    drill): who, what, when, why, gate, and whether its signature verifies; with --root,
    what the host did too."""
    from gitmodel.lifecycle import audit as core

    core.check_format(as_json, as_csv)
    data = core.rows(repo(), since, env, client_namespace(namespace), roots)
    if as_json:
        output.emit_json(data)
        return
    if as_csv:
        _print_markdown(core.to_csv(data))  # cells are one line each: one CSV row per line
    else:
        _audit_table(data, wide)
    for line in _journal_notes(data["roots"], quiet=as_csv):
        (_note if as_csv else output.info)(line)  # CSV: on stderr, so stdout stays CSV


def _audit_table(data: dict[str, Any], wide: bool) -> None:
    shown = ["time", "model", "action", "version", "environment", "actor", "reason", "gate"]
    headers = [*(c.upper() for c in shown), "SIGNED BY"]
    roots = len(data["roots"])
    detail = bool(roots) or any(m["detail"] for m in data["moves"])  # else the table as before
    headers += [
        *(["OUTCOME"] if roots else []),
        *(["DETAIL"] if detail else []),
        *(["ROOT"] if roots > 1 else []),
    ]
    rows = []
    for m in data["moves"]:
        row = [*(m[c] for c in shown), _signed(m)]
        if m["source"] == "host":  # the journal's op and step in one cell: `deploy done`
            row[2] = " ".join(str(part) for part in dict.fromkeys([m["action"], m["step"]]) if part) or None
        row += [_outcome(m)] if roots else []
        row += [m["detail"]] if detail else []
        rows.append(row + ([m["root"]] if roots > 1 else []))
    output.echo_table(headers, rows, wide)


def _outcome(move: dict[str, Any]) -> str | None:
    """How a host run (or a drill) ended, with how long it took: `ok 0.585s`."""
    took = f"{move['duration']:g}s" if move["duration"] is not None else None
    return " ".join(part for part in (move["outcome"], took) if part) or None


def _journal_notes(roots: list[dict[str, Any]], quiet: bool) -> list[str]:
    """A footer per root: what was read; what was skipped or refused (CSV: only that)."""
    lines = []
    for root in roots:
        skipped = root["skipped"]
        if not quiet or skipped or root["refused"]:
            said = f"{root['root']}: {root['shown']} of {root['records']} journal record(s) shown"
            said += f" from {root['journals']} journal(s)"
            if skipped:
                said += f"; {skipped} line(s) skipped (torn by a kill, not a JSON record, or over 1 MiB)"
            lines.append(said)
        lines += [f"refused {why}" for why in root["refused"]]
    return lines


def _signed(move: dict[str, Any]) -> str:
    """The verified signer, or what is wrong with the signature (a host row has none: -)."""
    if move["signature"] == "good":
        return str(move["signer"] or move["key"])
    if move["signature"] == "unknown-key":
        return f"unknown key {move['key'] or ''}".strip()
    return {"unsigned": "-", None: "-", "bad": "BAD SIGNATURE"}.get(move["signature"], "unverifiable")


COMMANDS = [changelog, card, lineage, audit]
