"""Compiled bytecode is cached for the run even where the environment turns caching off.

With PYTHONDONTWRITEBYTECODE set (some CI images and shells set it), every Python process
the suite starts compiles gitmodel's modules from source again: each server hook, each
`python -m gitmodel`, each command forked by plugin.forkrun (for what its zygote had not
imported), and pytest's rewrite of every test module in every worker.  That was a fifth of
the CPU of the hook-heavy test files.  So the run writes its .pyc files after all, but under
a cache folder outside the clone (PYTHONPYCACHEPREFIX), which keeps what the variable is set
for: no __pycache__ in the tree.  The processes started later (xdist workers, hooks, servers)
inherit the two variables; this process takes them from `sys`.  A .pyc is checked against its
source's mtime and size at every import, so a stale one is never used.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gitmodel" / "pycache"


if os.environ.get("PYTHONDONTWRITEBYTECODE"):
    prefix = os.environ.get("PYTHONPYCACHEPREFIX") or str(_cache_dir())
    del os.environ["PYTHONDONTWRITEBYTECODE"]
    os.environ["PYTHONPYCACHEPREFIX"] = prefix
    sys.dont_write_bytecode = False
    sys.pycache_prefix = prefix
