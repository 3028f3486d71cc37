"""Telling someone about a move: after a promote, a rollback or a canary step, a webhook or a command.

moves.write_tags calls `after_move` once a move has landed: pushed to origin, or made in
a registry that has no origin (the registry itself).  A move made without --push on a
clone of an origin is a draft that hosts never see, so nobody is told of it.  The
targets are this machine's `notify:` rules (localnotify.py: per environment, optionally
per client namespace) and go out through gitmodel/deliver.py, the sender alerts use.

The document holds the move (from the tag's record and name) and the client changelog
of it (changelog.py: JSON and Markdown): for a canary step, the stable version against
the canary.  What the repo wrote (reasons, descriptions) is data inside the JSON body
only, never a header, a URL or a command line.

Nothing here fails the move, which has landed: a target that fails, a changelog that
cannot be built, a broken `notify:` rule each give one warning on the `gitmodel.notify`
logger (the CLI prints it as `gitmodel: warning: ...`) naming what to fix.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitmodel import git
from gitmodel.errors import GitModelError
from gitmodel.localnotify import Rule
from gitmodel.records import Act
from gitmodel.refs import parse_tag

if TYPE_CHECKING:
    from gitmodel.deliver import Sent

log = logging.getLogger("gitmodel.notify")

# Moves that change what an environment (or its canary) serves; canary-end rides with canary-promote.
TOLD = (
    Act.PROMOTE,
    Act.FORCE_PROMOTE,
    Act.ROLLBACK,
    Act.FORCE_ROLLBACK,
    Act.CANARY_START,
    Act.CANARY_SET,
    Act.CANARY_PROMOTE,
    Act.CANARY_ABORT,
)
_CANARY_SIDE = (Act.CANARY_START, Act.CANARY_SET, Act.CANARY_ABORT)


def after_move(repo: Path, moved: Sequence[tuple[str, Mapping[str, Any]]], pushed: bool) -> None:
    """Tell this machine's matching targets about one move (its tags and their records)."""
    try:
        _after_move(repo, moved, pushed)
    except GitModelError as exc:
        log.warning("nobody was told of this move: %s; the move stands", exc.message)
    except Exception as exc:  # a bug here must not turn a landed move into a failure
        log.warning("nobody was told of this move: %s: %s; the move stands", type(exc).__name__, exc)


def _after_move(repo: Path, moved: Sequence[tuple[str, Mapping[str, Any]]], pushed: bool) -> None:
    main = next(((tag, rec) for tag, rec in moved if rec.get("action") in TOLD), None)
    if main is None:
        return
    tag, record = main
    ref = parse_tag(tag)
    if ref is None:
        return
    env = str(record.get("env") or ref.stage or "")
    from gitmodel import localconfig

    rules = localconfig.notify().matching(env, ref.model)
    if not rules or not (pushed or not git.has_remote(repo)):
        return
    payload = document(repo, ref.model, env, [t for t, _ in moved], record, pushed)
    for rule, sent in _send(rules, payload):
        if not sent.ok:
            log.warning(
                "%s: %s %s %s in %s was not told: %s; the move stands (fix the receiver or this rule)",
                rule.at,
                payload["action"],
                payload["model"],
                payload["version"],
                env,
                sent.said,
            )


def document(
    repo: Path, model: str, env: str, tags: list[str], record: Mapping[str, Any], pushed: bool
) -> dict[str, Any]:
    """The JSON a target gets: the move, and the changelog of it (None when it cannot be built)."""
    action = str(record.get("action"))
    version = record.get("version")
    previous = record.get("stable") if action in _CANARY_SIDE else record.get("from")
    data: dict[str, Any] = {
        "event": "move",
        "action": action,
        "model": model.replace(":", "/"),
        "environment": env,
        "version": version,
        "previous": previous,
        "percent": record.get("percent"),
        "reason": record.get("reason"),
        "actor": record.get("actor"),
        "tags": tags,
        "pushed": pushed,
        "changelog": None,
        "changelog_markdown": None,
    }
    try:
        data["changelog"], data["changelog_markdown"] = _changelog(repo, data, action in _CANARY_SIDE)
    except GitModelError as exc:
        log.warning(
            "the changelog of %s %s could not be built (%s); targets get the move without it",
            data["model"],
            version,
            exc.message,
        )
    return data


def _changelog(repo: Path, move: dict[str, Any], canary: bool) -> tuple[dict[str, Any] | None, str | None]:
    from gitmodel.lifecycle import changelog

    name, env = move["model"], move["environment"]
    if canary:  # the stable version against the canary; nothing to compare without a stable one
        if not move["previous"] or move["previous"] == move["version"]:
            return None, None
        data = changelog.build(repo, name, f"{move['previous']}..{move['version']}", env)
    else:
        data = changelog.build(repo, name, None, env)
    text, source = changelog.read_template(repo, None)
    return (data["models"][0] if data["models"] else None), changelog.markdown(data, text, source)


def _send(rules: list[Rule], payload: Mapping[str, Any]) -> list[tuple[Rule, Sent]]:
    """Each target once, however many matching rules name it: (rule, deliver.Sent)."""
    from gitmodel import deliver

    done: set[tuple[str, str]] = set()
    results = []
    for rule in rules:
        if rule.webhook and ("webhook", rule.webhook) not in done:
            done.add(("webhook", rule.webhook))
            results.append((rule, deliver.webhook(rule.webhook, payload, rule.timeout)))
        if rule.command and rule.line and ("command", rule.line) not in done:
            done.add(("command", rule.line))
            sent = deliver.command(rule.command, rule.line, payload, rule.timeout, "GITMODEL_NOTIFY")
            results.append((rule, sent))
    return results
