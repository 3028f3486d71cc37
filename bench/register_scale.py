"""`register` at 1,000 models: this tree next to the path before it and `dvc add`, one run.

Builds a registry of MODELS x VERSIONS (scale_build.py; 1,000 x 50 is issue 15's
105,000-tag registry), then, for one model in the middle, times as fresh processes:

- `gitmodel register NAME FILE` with this tree (DVC's md5 taken in the scan's read, the
  pointer and cache objects written by gitmodel/dvc/track.py, one dvc.yaml block edited);
- the same command with the tree of `--baseline` (default: main before issue 15's
  register work, where DVC's `repo.add` indexed every .dvc file);
- `dvc add FILE` alone, on the same registry;
- hashing alone (sha256 + md5 of the file in this process): the "plus hashing" of the
  target `register <= 1.0 s plus hashing`.

Each run first writes fresh bytes (1 MiB by default) for the model (not timed).

    python bench/register_scale.py                  # 1,000 x 50, 5 runs each
    python bench/register_scale.py --quick          # 1,000 x 5, 3 runs
    python bench/register_scale.py --models 1000 --versions 50 --runs 5 --mib 1
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from registry_scale import Runner, Timing, tool
from scale_build import Shape, build, clean_env

from gitmodel.demo import gguf_bytes

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "1c23133"  # main before the register work of issue 15


def tree_at(rev: str, dest: Path) -> Path:
    """The `gitmodel` package as it was at REV, unpacked under DEST."""
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", rev, "gitmodel"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def hash_time(path: Path) -> float:
    start = time.perf_counter()
    sha, md5 = hashlib.sha256(), hashlib.md5()
    with path.open("rb") as fh:
        while chunk := fh.read(4 << 20):
            sha.update(chunk)
            md5.update(chunk)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", type=int, default=1000)
    p.add_argument("--versions", type=int, default=50)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--mib", type=float, default=1.0, help="size of each new version's file")
    p.add_argument("--baseline", default=BASELINE, help="git revision of the path to compare with")
    p.add_argument("--quick", action="store_true", help="1,000 x 5 versions, 3 runs")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()
    if args.quick:
        args.versions, args.runs = 5, 3
    tmp = Path(tempfile.mkdtemp(prefix="gitmodel-register-scale-"))
    env = clean_env(tmp / "home")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    try:
        start = time.perf_counter()
        shape = Shape("r", args.models, args.versions, staging=1.0, production=0.1, batch=100)
        built = build(tmp / "registry", shape, env, tool("gitmodel"), tmp / "dvc-remote", objects=False)
        print(
            f"register at {args.models:,} models x {args.versions} versions ({built.tags:,} tags, "
            f"built in {time.perf_counter() - start:.0f} s), {args.mib:g} MiB a version, "
            f"load {os.getloadavg()[0]:.1f}"
        )
        old = tree_at(args.baseline, tmp / "baseline")
        name = built.names[len(built.names) // 2]
        rel = f"models/{name}/weights.gguf"
        target = built.root / rel
        size = int(args.mib * (1 << 20))

        def fresh(i: int) -> None:
            if target.exists():
                target.chmod(0o644)
                target.unlink()
            target.write_bytes(gguf_bytes(size, int.from_bytes(os.urandom(8))))

        def gitmodel(tree: Path, i: int) -> Timing:
            """One register with the package of TREE."""
            fresh(i)
            argv = [sys.executable, "-m", "gitmodel", "register", name, rel, "-m", f"run {i}"]
            return Runner({**env, "PYTHONPATH": str(tree)}, built.root).time(lambda _: argv, 1, 600, 600)

        floor = Runner(env, built.root).time(lambda i: [sys.executable, "-c", "pass"], args.runs, 60, 60)
        # Alternate the trees so neither gets the quieter minutes.
        ours, before = Timing(), Timing()
        for i in range(args.runs):
            for timing, tree in ((ours, ROOT), (before, old)):
                one = gitmodel(tree, i)
                timing.times += one.times
                timing.cpu += one.cpu
                timing.error = timing.error or one.error
        dvc_run = Runner(env, built.root)

        def dvc_add(i: int) -> list[str]:
            fresh(i)
            return [*tool("dvc"), "add", "-q", rel]

        dvc_add_t = dvc_run.time(dvc_add, args.runs, 600, 600)
        fresh(0)
        hashing = statistics.median(hash_time(target) for _ in range(args.runs))
        rows = [
            ("floor: python -c pass", floor),
            ("gitmodel register (this tree)", ours),
            (f"gitmodel register ({args.baseline}: DVC's repo.add)", before),
            ("dvc add FILE (alone)", dvc_add_t),
        ]
        width = max(len(r[0]) for r in rows)
        for what, timing in rows:
            print(f"  {what.ljust(width)}  {timing.cell()}")
        print(f"  {'hashing alone (sha256 + md5, in-process)'.ljust(width)}  {hashing:.3f} s")
        if ours.median and before.median and dvc_add_t.median:
            print(
                f"  this tree: {before.median / ours.median:.1f}x faster than {args.baseline}, "
                f"{dvc_add_t.median / ours.median:.1f}x faster than dvc add alone; "
                f"register minus hashing {ours.median - hashing:.3f} s (target <= 1.0 s)"
            )
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
