"""gc at registry scale: `gitmodel gc --dry-run` on the 105,000-tag bench registry.

The registry is bench/scale_build.py's (c): 1,000 models x 50 versions, every version in
staging, every 10th in production (issue 13's target: gc --dry-run <= 5 s there). A
retention policy is written into its gitmodel.yaml (not committed) that selects most
versions, so the plan is computed for every one of them. Each command is a fresh
process; wall and CPU medians of N runs.

    python bench/gc.py [--runs N] [--keep DIR] [--from REGISTRY]

`--from` clones an existing bench registry (hard links: seconds) instead of building
one (minutes); `--keep DIR` keeps the copy in DIR for later runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from hooks_speed import GITMODEL, median_ms, sh
from scale_build import Shape, build, clean_env

POLICY = """
retention:
  cold_remote: cold
  rollback_window: 3
  min_retention_days: 0
  statuses:
    development: {max_versions: 5}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--models", type=int, default=1000)
    ap.add_argument("--versions", type=int, default=50)
    ap.add_argument("--keep", type=Path, help="copy or build the registry here once, and reuse it")
    ap.add_argument("--from", dest="source", type=Path, help="clone this bench registry instead of building")
    args = ap.parse_args()
    shape = Shape("c", args.models, args.versions, staging=1.0, production=0.1, batch=100)
    with tempfile.TemporaryDirectory(prefix="gitmodel-bench-gc-") as tmp:
        base = args.keep or Path(tmp)
        env = clean_env(base / "home")
        if "PYTHONPATH" in os.environ:  # a worktree's gitmodel, not the installed one
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        root = base / "registry"
        if not (root / ".git").exists():
            if args.source is not None:
                sh(["git", "clone", "-q", str(args.source), str(root)], base, env)
            else:
                build(root, shape, env, GITMODEL, base / "dvc-remote", objects=False)
        config = root / "gitmodel.yaml"
        if "retention:" not in config.read_text():
            config.write_text(config.read_text() + POLICY)
        tags = len(sh(["git", "for-each-ref", "--format=x", "refs/tags"], root, env).splitlines())
        plan = json.loads(sh([*GITMODEL, "gc", "--dry-run", "--json"], root, env))
        archive = sum(r["action"] == "archive" for r in plan["rows"])
        kept = sum(r["action"] == "keep" for r in plan["rows"])
        rows = [
            ("floor: python -c pass", [sys.executable, "-c", "pass"]),
            ("floor: git for-each-ref refs/tags (with bodies)", ["git", "for-each-ref", "refs/tags"]),
            ("list --json", [*GITMODEL, "list", "--json"]),
            ("gc --dry-run --json", [*GITMODEL, "gc", "--dry-run", "--json"]),
            ("gc --dry-run (table)", [*GITMODEL, "gc", "--dry-run"]),
        ]
        counts = f"{plan['scanned']:,} versions, {archive:,} to archive, {kept:,} kept"
        print(f"gitmodel gc --dry-run at {tags:,} tags: {counts}")
        width = max(len(label) for label, _ in rows)
        for label, cmd in rows:
            wall, cpu = median_ms(args.runs, lambda cmd=cmd: sh(cmd, root, env))  # type: ignore[misc]
            print(f"  {label:<{width}}  {wall / 1000:6.3f} s (cpu {cpu / 1000:.3f}, n={args.runs})")


if __name__ == "__main__":
    main()
