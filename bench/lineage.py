"""Lineage at registry scale: `gitmodel lineage` on the 105,000-tag bench registry.

The registry is bench/scale_build.py's (c): 1,000 models x 50 versions, every version in
staging, every 10th in production (issue 13's target: lineage <= 1.5 s there). Each
command is a fresh process, as a user types it; wall and CPU medians of N runs, and each
one's ratio to `git for-each-ref` of the registration tags measured in the same run (the
machine is shared: the ratios and CPU move less than the seconds). "cold" rows delete
the lineage index (.git/gitmodel/lineage-index) before each run: the first search after
a clone or an upgrade.

    python bench/lineage.py [--runs N] [--models 1000] [--versions 50] [--keep DIR]

`--keep DIR` builds the registry in DIR once and reuses it on later runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from hooks_speed import GITMODEL, median_ms, sh
from scale_build import BASE_MODEL, Shape, build, clean_env, version


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--models", type=int, default=1000)
    ap.add_argument("--versions", type=int, default=50)
    ap.add_argument("--keep", type=Path, help="build the registry here once, and reuse it")
    args = ap.parse_args()
    shape = Shape("c", args.models, args.versions, staging=1.0, production=0.1, batch=100)
    with tempfile.TemporaryDirectory(prefix="gitmodel-bench-lineage-") as tmp:
        base = args.keep or Path(tmp)
        env = clean_env(base / "home")
        if "PYTHONPATH" in os.environ:  # a worktree's gitmodel, not the installed one
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        root = base / "registry"
        if not (root / ".git").exists():
            build(root, shape, env, GITMODEL, base / "dvc-remote", objects=False)
        tags = len(sh(["git", "for-each-ref", "--format=x", "refs/tags"], root, env).splitlines())
        name = f"m{args.models // 2:05d}"
        latest = version(args.versions - 1)
        peeled = ["git", "for-each-ref", "--format=%(*objectname)", "refs/tags/*@*"]
        everything = f"all {shape.models * shape.versions:,} match"
        index = root / ".git" / "gitmodel" / "lineage-index"

        def cold() -> None:
            index.unlink(missing_ok=True)

        search = [*GITMODEL, "lineage", "--data-hash", "sha256:7b2e91ab"]
        every = [*GITMODEL, "lineage", "--base-model", BASE_MODEL]
        rows = [
            ("floor: python -c pass", [sys.executable, "-c", "pass"], None),
            ("floor: git for-each-ref refs/tags/*@* (peeled)", peeled, None),
            (f"lineage {name}@{latest}", [*GITMODEL, "lineage", f"{name}@{latest}", "--json"], None),
            ("lineage --data-hash (none match), cold", search, cold),
            ("lineage --data-hash (none match)", search, None),
            (f"lineage --base-model ({everything}) --json", [*every, "--json"], None),
            (f"lineage --base-model ({everything}), table", every, None),
        ]
        print(f"gitmodel lineage at {tags:,} tags ({shape.models} models x {shape.versions} versions)")
        width = max(len(label) for label, _, _ in rows)
        floor = 0.0
        for label, cmd, reset in rows:
            if reset:
                reset()
            wall, cpu = median_ms(args.runs, lambda cmd=cmd: sh(cmd, root, env), reset)  # type: ignore[misc]
            floor = floor or (wall if "for-each-ref" in label else 0.0)
            ratio = f", {wall / floor:4.1f}x for-each-ref" if floor else ""
            print(f"  {label:<{width}}  {wall / 1000:6.3f} s (cpu {cpu / 1000:.3f}{ratio}, n={args.runs})")


if __name__ == "__main__":
    main()
