"""Promotion by request, set up on a real bare origin: its server hooks, a `branches:`
section on main, v1.0.0 in staging; and clones of origin as hosted Git, CI or a host
make them (with the seq and approval refs)."""

from __future__ import annotations

from pathlib import Path

from plugin.registry import Registry, git

REQUESTS = "branches: {environments: true, requests: [production]}\n"


def setup(reg: Registry, origin: Path, section: str = REQUESTS) -> None:
    """Server hooks on origin, `section` committed to main and pushed, v1.0.0 in staging."""
    reg.ok("hooks", "install", "--server", "--path", str(origin))
    with (reg.root / "gitmodel.yaml").open("a") as fh:
        fh.write(section)
    git(reg.root, "commit", "-q", "-am", "branches")
    git(reg.root, "push", "-q", "origin", "HEAD")
    reg.ok("promote", "support", "v1.0.0", "staging", "--push")


def clone(origin: Path, where: Path) -> Path:
    git(where.parent, "clone", "-q", str(origin), str(where))
    git(where, "fetch", "-q", "origin", "refs/gitmodel/*:refs/gitmodel/*")
    return where
