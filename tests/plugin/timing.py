"""Each test's CPU seconds (this process and the children it waited for) in the JUnit report.

Wall time on a shared machine mostly measures the neighbours; CPU time says what a test
costs.  bench/suite_times.py sums both per file from `--junitxml`.
"""

from __future__ import annotations

import resource
from collections.abc import Generator

import pytest

from plugin import forkrun

_START = pytest.StashKey[float]()


def _cpu() -> float:
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total + forkrun.CPU[0]  # commands forked by plugin.forkrun's zygote, not our children


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    item.stash[_START] = _cpu()
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    yield
    item.user_properties.append(("cpu_s", round(_cpu() - item.stash[_START], 3)))
