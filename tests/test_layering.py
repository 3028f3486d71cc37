"""The architecture, enforced: no module imports a layer above its own (docs/architecture.md).

Layers, bottom to top:
  0 foundation  pure rules and formats: no I/O beyond reading what it is handed
  1 doors       the one module per outside system (git, DVC, HTTP, locks, child commands)
  2 registry    the registry's state and its moves, built on git and DVC
  3 features    hooks, host, reference server, rollout monitoring: each a package
  4 cli         parses, calls one core function, renders
A module may import its own layer and those below. Inside layer 3 the packages stay
apart: the reference server reads only ROOT (foundation), hooks and host never import
each other, and nothing imports the CLI.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gitmodel"

# Most specific prefix wins. A new top-level module must be placed here on purpose.
LAYERS: dict[str, int] = {
    "gitmodel": 0,  # gitmodel/__init__.py: the version string
    "gitmodel.errors": 0,
    "gitmodel.refs": 0,
    "gitmodel.validate": 0,
    "gitmodel.untrusted": 0,
    "gitmodel.records": 0,
    "gitmodel.yamlio": 0,
    "gitmodel.hostlayout": 0,
    "gitmodel.gate": 0,
    "gitmodel.versioning": 0,
    "gitmodel.artifact": 0,
    "gitmodel.gguf_header": 0,  # the bounded GGUF header reader: register checks, the server loads
    "gitmodel.gguf_format": 0,  # the GGUF format's numbers (types, block sizes), from its spec
    "gitmodel.rollout.routing": 0,
    "gitmodel.rollout.stats": 0,
    "gitmodel.poll": 0,
    "gitmodel.testhook": 0,  # fault-injection pauses for crash tests
    "gitmodel.metricnames": 0,  # the Prometheus series both servers export (names monitor reads)
    "gitmodel.git": 1,
    "gitmodel.dvc": 1,
    "gitmodel.http": 1,
    "gitmodel.lock": 1,
    "gitmodel.smoke": 1,
    "gitmodel.localconfig": 1,  # this machine's host and user files (a package: one module a section)
    "gitmodel.localnotify": 1,  # the local files' `notify:` rules (part of localconfig)
    "gitmodel.deliver": 1,  # a JSON document to a webhook or a local command (alerts, notify)
    "gitmodel.objstore": 1,  # small documents beside the DVC remote's objects (local dir, S3)
    "gitmodel.registry": 2,
    "gitmodel.config": 2,
    "gitmodel.metadata": 2,
    "gitmodel.dvcyaml": 2,
    "gitmodel.moves": 2,
    "gitmodel.unpushed": 2,  # moves this clone made that origin lacks, finished by the next push
    "gitmodel.queries": 2,
    "gitmodel.listingread": 2,  # list and completion from show-ref and the deciding tag objects
    "gitmodel.lineageindex": 2,  # each version's base model and data hash, cached by commit
    "gitmodel.register": 2,
    "gitmodel.register_write": 2,  # a registration's writes (commit, tag, push), undone on failure
    "gitmodel.register_note": 2,  # a registration killed before its tag: finished or undone
    "gitmodel.environments": 2,
    "gitmodel.gating": 2,
    "gitmodel.served": 2,
    "gitmodel.policy": 2,
    "gitmodel.trust": 2,
    "gitmodel.signing": 2,
    "gitmodel.envbranches": 2,  # environment branches and promotion requests: settings, names, pushes
    "gitmodel.requests": 2,  # promotion by pull request: open one, carry out merged ones in CI
    "gitmodel.pointers": 2,  # signed pointer documents: build, sign, publish, check
    "gitmodel.lifecycle": 2,  # changelogs, cards, lineage: reads of the registry
    "gitmodel.rollout.canary_state": 2,
    "gitmodel.rollout.canary_moves": 2,
    "gitmodel.rollout.canary_policy": 2,  # promotion: ENV: canary: readiness and the ramp (pure)
    "gitmodel.rollout.config": 2,
    "gitmodel.checks": 2,  # functional checks: the file's one parser and its rules
    "gitmodel.checkrun": 2,  # functional checks run over HTTP against a server, and their result
    "gitmodel.prompts": 2,  # prompt templates (files, hashes) and the compatibility matrix
    "gitmodel.backends": 2,  # serving backends: start, confirm, stop a version on a real server
    "gitmodel.init": 3,
    "gitmodel.demo": 3,  # writes tiny GGUFs for scripts/demo.sh and the tests
    "gitmodel.hooks": 3,
    "gitmodel.host": 3,
    "gitmodel.server": 3,
    "gitmodel.gateway": 3,  # the OpenAI-compatible proxy that supervises backends
    "gitmodel.rollout": 3,
    "gitmodel.cli": 4,
    "gitmodel.__main__": 4,
}

# Packages of layer 3 that must not reach into each other (importer prefix -> forbidden prefixes).
APART = {
    "gitmodel.policy": ("gitmodel.hooks", "gitmodel.host", "gitmodel.server"),
    "gitmodel.server": ("gitmodel.host", "gitmodel.hooks", "gitmodel.rollout.monitor", "gitmodel.git"),
    "gitmodel.hooks": ("gitmodel.host", "gitmodel.server"),
    "gitmodel.host": ("gitmodel.hooks", "gitmodel.server", "gitmodel.gateway"),
    "gitmodel.gateway": ("gitmodel.host", "gitmodel.hooks", "gitmodel.server", "gitmodel.git"),
    "gitmodel.rollout": ("gitmodel.hooks", "gitmodel.server"),
}
# The reference server is read-only over ROOT: beyond its own package, only foundation.
SERVER_MAX_LAYER = 0

# Outside systems, each behind one door (ruff's banned-api says the same for subprocess/DVC).
DOORS = {
    "urllib.request": ("gitmodel.http",),
    "http.client": ("gitmodel.http",),
    "requests": ("gitmodel.http",),
    "httpx": ("gitmodel.http",),
    "aiohttp": ("gitmodel.gateway",),  # the gateway's async proxy; every other client is http.py
    "dvc": ("gitmodel.dvc",),
    "re2": ("gitmodel.checks",),  # RE2 for the checks' regex rule
    "boto3": ("gitmodel.objstore",),
    "botocore": ("gitmodel.objstore",),
    "git": (),  # GitPython: never (gitmodel/git/ runs plumbing)
}


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        key = ".".join(parts[:end])
        if key in LAYERS:
            if end == 1 and module != "gitmodel":
                return None  # a top-level module nobody placed
            return LAYERS[key]
    return None


def module_name(path: Path, package: Path) -> str:
    rel = path.relative_to(package.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, package: Path) -> set[str]:
    """Every module a source imports (lazy imports inside functions included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                rel = Path(*sub.split("."))
                if (package.parent / rel).with_suffix(".py").exists() or (package.parent / rel).is_dir():
                    found.add(sub)
    return found


def violations(sources: dict[str, str], package: Path) -> list[str]:
    out = []
    for module, source in sorted(sources.items()):
        own = layer_of(module)
        if own is None:
            out.append(f"{module}: no layer; place it in LAYERS (tests/test_layering.py)")
            continue
        for imported in sorted(imports_of(source, package)):
            out.extend(_check(module, own, imported))
    return out


def under(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _check(module: str, own: int, imported: str) -> list[str]:
    for lib, allowed in DOORS.items():
        # The reference server is an HTTP server (http.server), never a client.
        if under(imported, lib) and not under(module, *allowed):
            return [f"{module} imports {imported}: only {', '.join(allowed) or 'nothing'} may"]
    if not under(imported, "gitmodel"):
        return []
    theirs = layer_of(imported)
    if theirs is None:
        return []  # reported where that module is defined
    if theirs > own:
        return [f"{module} (layer {own}) imports {imported} (layer {theirs}): an upward import"]
    for prefix, forbidden in APART.items():
        if under(module, prefix) and under(imported, *forbidden):
            return [f"{module} imports {imported}: {prefix} and {imported} stay apart"]
    server = under(module, "gitmodel.server")
    if server and not under(imported, "gitmodel.server") and theirs > SERVER_MAX_LAYER:
        return [f"{module} imports {imported}: the reference server reads only ROOT (foundation)"]
    return []


def package_sources(package: Path) -> dict[str, str]:
    return {module_name(p, package): p.read_text(encoding="utf-8") for p in package.rglob("*.py")}


def test_no_module_imports_upward_or_across() -> None:
    found = violations(package_sources(PACKAGE), PACKAGE)
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    ("module", "source", "expect"),
    [
        ("gitmodel.refs", "from gitmodel import registry\n", "upward import"),
        ("gitmodel.registry", "def f():\n    from gitmodel.cli import output\n", "upward import"),
        ("gitmodel.host.deploy", "from gitmodel.server import app\n", "stay apart"),
        ("gitmodel.server.app", "from gitmodel import registry\n", "reads only ROOT"),
        ("gitmodel.host.reload", "import urllib.request\n", "only gitmodel.http may"),
        ("gitmodel.queries", "import dvc.repo\n", "only gitmodel.dvc may"),
        ("gitmodel.host.agent", "import boto3\n", "only gitmodel.objstore may"),
        ("gitmodel.newthing", "x = 1\n", "no layer"),
    ],
)
def test_the_check_catches_each_kind_of_violation(module: str, source: str, expect: str) -> None:
    sources = package_sources(PACKAGE)
    sources[module] = source
    found = [v for v in violations(sources, PACKAGE) if v.startswith(module)]
    assert any(expect in v for v in found), found
