"""Rule `config`: gitmodel.yaml, in full, as every command will read it.

At commit the staged copy is read; at push (pre-push and the server's pre-receive)
the copy at the tip of every pushed branch whose gitmodel.yaml changed.  Both go
through config.parse_text, the one reader, so a typo in `gate:` or `rollout:`, or a
command line where only a key of local configuration may be, is refused here rather
than at promote, deploy or monitor time.
"""

from __future__ import annotations

from pathlib import Path

from gitmodel.errors import GitModelError
from gitmodel.policy import files
from gitmodel.policy.stdin import RefUpdate, is_zero
from gitmodel.policy.verdict import CONFIG, Violation

FILENAME = "gitmodel.yaml"
_BRANCHES = "refs/heads/"


def _problem(text: str | None) -> str | None:
    from gitmodel import config

    try:
        config.parse_text(text or "", FILENAME)
    except GitModelError as exc:
        return exc.message
    return None


def staged(repo: Path) -> list[Violation]:
    (text,) = files.read_texts(repo, [f":{FILENAME}"])
    problem = _problem(text)
    return [Violation(FILENAME, CONFIG, problem)] if problem else []


def pushed(repo: Path, updates: list[RefUpdate]) -> list[Violation]:
    branches = [u for u in updates if u.ref.startswith(_BRANCHES) and not is_zero(u.new)]
    if not branches:
        return []
    oids = list(dict.fromkeys(oid for u in branches for oid in (u.old, u.new) if not is_zero(oid)))
    texts = dict(zip(oids, files.read_texts(repo, [f"{oid}:{FILENAME}" for oid in oids]), strict=True))
    found = []
    for u in branches:
        new = texts[u.new]
        if new is None or new == texts.get(u.old):
            continue  # unchanged (or absent): not this push's doing
        problem = _problem(new)
        if problem:
            found.append(Violation(f"{u.ref[len(_BRANCHES) :]}:{FILENAME}", CONFIG, problem))
    return found
