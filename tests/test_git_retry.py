"""A fetch that finds another fetch's ref lock waits and retries (git/remote.py _retrying);
any other failure is returned at once, and a lock still held after the retries is a
conflict that names it."""

from __future__ import annotations

import subprocess

import pytest

from gitmodel.errors import ConflictError
from gitmodel.git import remote

LOCKED = "error: cannot lock ref 'refs/tags/x': Unable to create '/r/.git/refs/tags/x.lock': File exists."


def attempts(*results: tuple[int, str] | None) -> tuple[list[int], object]:
    calls: list[int] = []

    def once() -> subprocess.CompletedProcess[str] | None:
        calls.append(1)
        r = results[min(len(calls), len(results)) - 1]
        return None if r is None else subprocess.CompletedProcess(["git"], r[0], "", r[1])

    return calls, once


def test_a_held_lock_is_waited_for_then_success() -> None:
    calls, once = attempts((1, LOCKED), (1, LOCKED), (0, ""))
    assert remote._retrying(once, "origin") is None  # type: ignore[arg-type]
    assert len(calls) == 3


def test_nothing_to_do_is_done_at_once() -> None:
    calls, once = attempts(None)
    assert remote._retrying(once, "origin") is None  # type: ignore[arg-type]
    assert len(calls) == 1


def test_another_failure_is_returned_without_retrying() -> None:
    calls, once = attempts((128, "fatal: could not read from remote repository"))
    assert remote._retrying(once, "origin") == "fatal: could not read from remote repository"  # type: ignore[arg-type]
    assert len(calls) == 1


def test_a_lock_held_past_the_retries_is_a_conflict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(remote.time, "sleep", lambda _: None)
    calls, once = attempts((1, LOCKED))
    with pytest.raises(ConflictError):
        remote._retrying(once, "origin")  # type: ignore[arg-type]
    assert len(calls) == remote._LOCK_RETRIES + 1
