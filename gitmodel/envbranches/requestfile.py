"""A promotion request's request.yaml: written by `gitmodel request promote`, read by the
policy and by `gitmodel verify --apply-requests` (untrusted: anyone may edit it on the branch)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gitmodel.errors import GitModelError
from gitmodel.refs import Version, parse_model, parse_stage

# One line of printable text: it goes into the move's tag record and the reviewers' view.
_REASON = re.compile(r"^[^\x00-\x1f\x7f]{1,2000}$")
_OID = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
HEADER = (
    "# A gitmodel promotion request. Merging it into the default branch approves the move;\n"
    "# CI then writes it (`gitmodel verify --apply-requests`). Written by gitmodel: do not edit.\n"
)


@dataclass(frozen=True)
class Request:
    model: str
    version: Version
    env: str
    commit: str  # the version's commit: what the move's tag will mark
    previous: Version | None  # what the environment served when the request was made
    counter: int  # the model's highest #N then: a move after it carries the request out
    forced: bool = False  # the gate refused it and it was requested with --force
    reason: str | None = None  # why (required when forced)


def good_reason(reason: object) -> bool:
    return isinstance(reason, str) and bool(reason.strip()) and _REASON.match(reason) is not None


def format_request(request: Request, extra: dict[str, Any]) -> str:
    from gitmodel.yamlio import dumps

    data = {
        "model": request.model,
        "version": str(request.version),
        "environment": request.env,
        "commit": request.commit,
        "from": str(request.previous) if request.previous else None,
        "counter": request.counter,
        **({"forced": True} if request.forced else {}),
        **({"reason": request.reason} if request.reason else {}),
        **extra,
    }
    return HEADER + dumps(data)


def read_request(text: str, source: str) -> Request | None:
    """The request `text` holds; None when it is not one gitmodel wrote (the caller refuses it)."""
    from gitmodel.yamlio import loads, plain

    try:
        data = plain(loads(text, source))
        if not isinstance(data, dict):
            return None
        commit, counter, previous = data.get("commit"), data.get("counter"), data.get("from")
        if not isinstance(commit, str) or not _OID.match(commit):
            return None
        if isinstance(counter, bool) or not isinstance(counter, int) or counter < 0:
            return None
        forced, reason = data.get("forced", False), data.get("reason")
        if not isinstance(forced, bool) or not (reason is None or good_reason(reason)):
            return None
        if forced and reason is None:
            return None  # a forced request says why, or it is not one gitmodel wrote
        return Request(
            model=parse_model(str(data.get("model"))),
            version=Version.parse(str(data.get("version"))),
            env=parse_stage(str(data.get("environment"))),
            commit=commit,
            previous=Version.parse(previous) if isinstance(previous, str) else None,
            counter=counter,
            forced=forced,
            reason=reason,
        )
    except GitModelError:
        return None
