"""Ask again and again until an answer is good or a deadline passes: the one bounded poll.

Bounded twice: by the deadline on `clock`, and by a count of tries derived from it, so a
clock that stands still (a test's, or a suspended VM's) cannot make it spin forever.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Clock:
    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class Polled(Generic[T]):
    result: T | None  # the first good answer; None when the deadline passed without one
    waited: float  # seconds from the first try to the end


def until(
    attempt: Callable[[float], T | None],
    *,
    timeout: float,
    interval: float,
    clock: Clock = Clock(),
) -> Polled[T]:
    """Call `attempt(seconds_left)` until it returns something other than None.

    It is always tried at least once, and never started when the next try would begin
    after the deadline.
    """
    start = clock.now()
    deadline = start + timeout
    for _ in range(int(timeout / interval) + 2 if interval > 0 else 1):
        result = attempt(max(0.0, deadline - clock.now()))
        if result is not None:
            return Polled(result, clock.now() - start)
        if clock.now() + interval > deadline:
            break
        clock.sleep(interval)
    return Polled(None, clock.now() - start)
