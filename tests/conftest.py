"""The suite's fixtures are one pytest plugin, tests/plugin/ (see plugin/__init__.py)."""

from __future__ import annotations

from hypothesis import settings

pytest_plugins = ["plugin.bytecode", "plugin.fixtures", "plugin.timing", "plugin.quick", "plugin.llama"]

# Property tests judge answers, not speed: on a loaded 2-core box one example can take more
# than Hypothesis' default 200 ms deadline, which would fail a correct test.
settings.register_profile("gitmodel", deadline=None)
settings.load_profile("gitmodel")
