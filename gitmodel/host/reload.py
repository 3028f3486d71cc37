"""Tell the server to reload, then ask it which version it serves.

The reload action is a shell command or an HTTP POST; the info endpoint is an HTTP
GET whose JSON `version` must equal the version just deployed.  When the answer names
a `model`, it must be ours: another model's server reporting the same version number
is not a confirmation.  An answer that names no model is taken on its version alone
(plain servers only report a version; docs/host.md).  Failures come back as
`Problem`s so the deployer can revert first and explain after.
"""

from __future__ import annotations

import os
import signal
import subprocess  # noqa: TID251 - this module is the one door to the reload command
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from gitmodel import http, poll
from gitmodel.errors import GitModelError
from gitmodel.host.settings import HostSettings
from gitmodel.refs import parse_model

POLL = 0.1  # seconds between info requests while waiting for the new version
REQUEST_TIMEOUT = 2.0  # one info request; a slow answer is retried until the deadline
_MAX_QUOTE = 160

R = TypeVar("R")


@dataclass(frozen=True)
class Problem:
    unreachable: bool  # True: nobody answered (exit 4); False: an answer said no (exit 1)
    detail: str


def reload(settings: HostSettings, env: Mapping[str, str]) -> Problem | None:
    return reload_answer(settings, env)[0]


def reload_answer(settings: HostSettings, env: Mapping[str, str]) -> tuple[Problem | None, dict[str, Any]]:
    """Reload; also the reload URL's JSON answer ({} for a command or a non-JSON answer).

    `gitmodel serve` says there whether it took the canary, so a refusal is known at once
    instead of after the health timeout.
    """
    if settings.reload_cmd:
        return _run_command(settings.reload_cmd, env, settings.reload_timeout), {}
    if settings.reload_url:
        return _post(settings.reload_url, settings.reload_timeout)
    return None, {}


def _run_command(command: str, env: Mapping[str, str], timeout: float) -> Problem | None:
    shown = " ".join(command.split())[:_MAX_QUOTE]
    # Its own session, so a timeout can kill the whole group (the shell and its children).
    proc = subprocess.Popen(
        command,
        shell=True,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return Problem(False, f"reload command `{shown}` did not finish within {timeout:g} s")
    if proc.returncode != 0:
        last = (err.strip().splitlines() or ["no output"])[-1][:_MAX_QUOTE]
        return Problem(False, f"reload command `{shown}` exited {proc.returncode} ({last})")
    return None


def _post(url: str, timeout: float) -> tuple[Problem | None, dict[str, Any]]:
    try:
        answer = http.post(url, timeout=timeout)
    except http.Unreachable as exc:
        return Problem(True, f"reload URL {http.shown(url)} did not answer ({exc.why})"), {}
    except GitModelError as exc:  # a URL we cannot use, an oversized answer: a refusal
        return Problem(False, f"reload URL: {exc.message}"), {}
    if not answer.ok:
        why = answer.json_object().get("error")
        detail = f": {quote(str(why))}" if why else ""
        # The answer still travels: a gateway says there which functional checks failed.
        problem = Problem(False, f"reload URL {http.shown(url)} answered HTTP {answer.status}{detail}")
        return problem, answer.json_object()
    return None, answer.json_object()


def quote(text: str) -> str:
    """Someone else's words on one short line."""
    return " ".join(text.split())[:_MAX_QUOTE]


def info(url: str, timeout: float = REQUEST_TIMEOUT) -> dict[str, Any] | None:
    """The info endpoint's JSON object, or None when it does not answer with one."""
    try:
        answer = http.get(url, timeout=timeout)
    except GitModelError:
        return None
    data = answer.json()
    if not isinstance(data, dict):
        return None
    # A server with nothing loaded answers 503 with JSON: an answer, not silence.
    return data if answer.ok or data else None


def other_model(answer: dict[str, Any] | None, model: str) -> str | None:
    """The model an info answer names when it is not MODEL (quoted for a message), else None.

    No `model` field: None, no claim about identity (a `model` that is null, empty or not
    a name is a claim we cannot take).  Names compare as parsed, so `acme/support` and
    `acme:support` are one model.
    """
    if answer is None or "model" not in answer:
        return None
    named = answer["model"]
    try:
        if isinstance(named, str) and parse_model(named) == parse_model(model):
            return None
    except GitModelError:
        pass
    return quote(repr(named))


def not_this_model(url: str, answer: dict[str, Any] | None, model: str | None) -> Problem | None:
    """The refusal for an answer from another model's server (None: ours, or unnamed)."""
    other = other_model(answer, model) if model else None
    if other is None:
        return None
    return Problem(
        False,
        f"info endpoint {http.shown(url)} answers for model {other}, not {model}: it is not this "
        f"model's server; give {model} its own info_url (host file `models: {{{model}: {{info_url: URL}}}}`)",
    )


@dataclass(frozen=True)
class Watched(Generic[R]):
    result: R | None  # what `accept` made of the first answer it took; None: none taken in time
    last: dict[str, Any] | None  # the last answer seen (None: the endpoint never answered)
    waited: float


def watch(
    url: str,
    timeout: float,
    accept: Callable[[dict[str, Any]], R | None],
    clock: poll.Clock = poll.Clock(),  # noqa: B008 - frozen, so one shared default is safe
    model: str | None = None,
) -> Watched[R]:
    """Ask the info endpoint until `accept` takes an answer or `timeout` seconds pass.

    With MODEL, an answer naming another model never reaches `accept` (it may still be
    `last`, so the caller can say who answered).
    """
    last: dict[str, Any] | None = None

    def attempt(left: float) -> R | None:
        nonlocal last
        answer = info(url, max(0.05, min(REQUEST_TIMEOUT, left)))
        if answer is None:
            return None
        last = answer
        if model is not None and other_model(answer, model) is not None:
            return None  # another model's server: keep asking, it may be ours restarting
        return accept(answer)

    polled = poll.until(attempt, timeout=timeout, interval=POLL, clock=clock)
    return Watched(polled.result, last, polled.waited)


def wait_for(
    url: str,
    version: str,
    timeout: float,
    content_hash: str | None = None,
    clock: poll.Clock = poll.Clock(),  # noqa: B008 - frozen, so one shared default is safe
    model: str | None = None,
) -> tuple[Problem | None, float]:
    """Poll until MODEL's `version` is served; return the problem (if any) and the seconds waited.

    When the answer carries a `content_hash` (gitmodel serve's /info does: DVC's md5) it
    must match too, so a server holding other bytes under the same name is caught; when
    it names a `model`, that must be MODEL.
    """

    def serves(answer: dict[str, Any]) -> bool | None:
        same_bytes = content_hash is None or answer.get("content_hash") in (None, content_hash)
        return True if answer.get("version") == version and same_bytes else None

    seen = watch(url, timeout, serves, clock, model)
    if seen.result:
        return None, seen.waited
    other = not_this_model(url, seen.last, model)
    if other is not None:
        return other, seen.waited
    return _problem(url, timeout, seen.last, version, content_hash), seen.waited


def _problem(
    url: str, timeout: float, last: dict[str, Any] | None, version: str, content_hash: str | None
) -> Problem:
    url = http.shown(url)
    if last is None:
        return Problem(True, f"info endpoint {url} did not answer within {timeout:g} s")
    if last.get("version") == version:
        return Problem(
            False,
            f"info endpoint {url} reports {version} with content hash "
            f"{last.get('content_hash')}, expected {content_hash}",
        )
    return Problem(
        False,
        f"info endpoint {url} still reports {last.get('version')!r} after {timeout:g} s, expected {version}",
    )
