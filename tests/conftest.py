"""The suite's fixtures are one pytest plugin, tests/plugin/ (see plugin/__init__.py)."""

from __future__ import annotations

pytest_plugins = ["plugin.fixtures", "plugin.timing", "plugin.quick", "plugin.llama"]
