"""Running functional checks: each prompt of a version's checks.yaml (gitmodel/checks.py) asked
of a server, and the answers judged.

`run` sends each prompt as an OpenAI-compatible `POST /v1/completions` (temperature 0, the
check's max_tokens) through gitmodel/http.py and judges `choices[0].text`.  Its result as
JSON, the shape the gateway's reload answer carries in `check` and the host journals:

    {"passed": false, "failed": [{"prompt": 2, "why": "expected ' Paris' in the answer, got ' Lyon'"}],
     "total": 5}

`prompt` numbers the checks from 1 in file order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from gitmodel.checks import MAX_CHECKS, Check, Checks, show, whole
from gitmodel.errors import GitModelError


@dataclass(frozen=True)
class Outcome:
    prompt: int  # from 1, in file order
    why: str | None  # None: passed
    answer: str | None = None  # the completion's text, when one came


@dataclass(frozen=True)
class CheckResult:
    outcomes: tuple[Outcome, ...]

    @property
    def total(self) -> int:
        return len(self.outcomes)

    @property
    def failed(self) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if o.why is not None)

    @property
    def passed(self) -> bool:
        return not self.failed

    def to_json(self) -> dict[str, Any]:
        failed = [{"prompt": o.prompt, "why": o.why} for o in self.failed]
        return {"passed": self.passed, "failed": failed, "total": self.total}

    def describe(self) -> str:
        """One line: `5 of 5 checks passed`, or the first failure and how many more."""
        bad = self.failed
        if not bad:
            return f"{self.total} of {self.total} checks passed"
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        return f"{len(bad)} of {self.total} checks failed: check {bad[0].prompt}: {bad[0].why}{more}"

    @classmethod
    def from_json(cls, data: object) -> CheckResult | None:
        """A result in the documented shape (e.g. from a reload answer), or None if it is not one."""
        if not isinstance(data, dict):
            return None
        total, failed = whole(data.get("total"), 0, MAX_CHECKS), data.get("failed")
        if total is None or not isinstance(failed, list):
            return None
        why: dict[int, str] = {}
        for entry in failed:
            if not isinstance(entry, dict) or not isinstance(entry.get("why"), str):
                return None
            n = whole(entry.get("prompt"), 1, total)
            if n is None:
                return None
            why[n] = " ".join(entry["why"].split())[:300]  # someone else's words: one short line
        if data.get("passed") is not (not why):
            return None
        return cls(tuple(Outcome(n, why.get(n)) for n in range(1, total + 1)))


def run(checks: Checks, base_url: str, upstream_model: str | None, timeout: float) -> CheckResult:
    """Ask BASE_URL's /v1/completions each prompt (greedy) within TIMEOUT seconds in all; judge."""
    url = base_url.rstrip("/") + "/v1/completions"
    deadline = time.monotonic() + timeout
    outcomes = []
    for n, check in enumerate(checks.items, 1):
        left = deadline - time.monotonic()
        if left <= 0:
            outcomes.append(Outcome(n, f"not asked: the {timeout:g} s for all checks were spent"))
            continue
        why, text = _ask(url, check, upstream_model, left)
        outcomes.append(Outcome(n, why if why is not None else check.judge(text or ""), text))
    return CheckResult(tuple(outcomes))


def _ask(url: str, check: Check, model: str | None, timeout: float) -> tuple[str | None, str | None]:
    """(why it could not be asked, None) or (None, the completion's text)."""
    from gitmodel import http

    payload: dict[str, Any] = {
        "prompt": check.prompt,
        "max_tokens": check.max_tokens,
        "temperature": 0,
        "stream": False,
    }
    if model:
        payload["model"] = model
    try:
        answer = http.post(url, payload, timeout=timeout)
    except http.Unreachable as exc:
        return f"no answer from {http.shown(url)} ({exc.why})", None
    except GitModelError as exc:
        return exc.message, None
    if not answer.ok:
        error = answer.json_object().get("error")
        said = error.get("message") if isinstance(error, dict) else error
        return f"HTTP {answer.status}" + (f": {show(said)}" if said else ""), None
    body = answer.json_object()
    choices = body.get("choices")
    first = choices[0] if isinstance(choices, list) and choices else None
    text = first.get("text") if isinstance(first, dict) else None
    if not isinstance(text, str):
        return f"the answer (HTTP {answer.status}) has no choices[0].text", None
    return None, text
