"""The suite's own wiring: fixtures come from the plugin, helpers are imported by name."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _imports(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
        elif isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
    return out


def test_no_test_module_imports_another_or_conftest() -> None:
    bad = {
        f"{path.name} imports {module}"
        for path in [*TESTS.glob("test_*.py"), *TESTS.glob("plugin/*.py")]
        for module in _imports(path)
        if module.split(".")[0].startswith("test_") or module == "conftest"
    }
    assert not bad, sorted(bad)


def test_no_fixture_is_imported_to_be_registered() -> None:
    """A fixture imported into a test module is a second definition; the plugin has the one."""
    bad = [
        f"{path.name}:{n}"
        for path in TESTS.glob("test_*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if line.startswith(("from plugin", "import plugin"))
        and ("plugin.fixtures" in line or "noqa: F401" in line)
    ]
    assert not bad, bad
