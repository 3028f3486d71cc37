"""`make test-quick` (`-m "not slow"`) leaves out the tests listed in costly.txt as well.

costly.txt holds the tests that cost more than 0.3 CPU seconds when last measured, except
the cheapest of them in each file, so every module keeps one end-to-end test in the quick
run.  They are marked slow here, at collection, rather than with decorators in test files
that other work is changing.  Regenerate it from a full run and a quick run:

    python -m pytest -p no:cacheprovider --junitxml=/tmp/full.xml
    python -m pytest -p no:cacheprovider -m "not slow" --junitxml=/tmp/quick.xml
    python bench/suite_times.py /tmp/full.xml /tmp/quick.xml --costly 0.3
"""

from __future__ import annotations

from pathlib import Path

import pytest

LIST = Path(__file__).with_name("costly.txt")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    costly = {line for line in LIST.read_text().splitlines() if line and not line.startswith("#")}
    for item in items:
        if item.nodeid in costly:
            item.add_marker(pytest.mark.slow)
