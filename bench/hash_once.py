"""Hash once: `gitmodel register` of a big file next to the same steps typed by hand.

By hand: `dvc add -q F && git add F.dvc .gitignore && git commit && git tag -a` in one
shell.  gitmodel reads the file once for DVC's md5 and its own sha256 (the sha256 in a
second thread), writes the DVC cache object and pointer itself (gitmodel/dvc/track.py),
then commits and tags.  Each run uses a fresh registry and a fresh random file (the page
cache holds it for both methods alike); the methods alternate which goes first.  Issue 15
item 3's target: gitmodel / by hand <= 1.1.

    python bench/hash_once.py                 # 1 GiB, 3 runs each
    python bench/hash_once.py --quick         # 256 MiB, 3 runs
    python bench/hash_once.py --mib 512 --runs 5
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from registry_scale import Runner
from scale_build import clean_env

from gitmodel.demo import gguf_head

ROOT = Path(__file__).resolve().parent.parent
BY_HAND = (
    "dvc add -q models/big/weights.gguf && git add models/big/weights.gguf.dvc models/big/.gitignore"
    " && git commit -q -m 'register big v1.0.0' && git tag -a big@v1.0.0 -m 'register big v1.0.0'"
)


def write_big(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        head = gguf_head(size)  # register reads a .gguf's header: a valid one, then noise
        fh.write(head)
        rest = size - len(head)
        for _ in range(rest >> 24):
            fh.write(os.urandom(1 << 24))
        fh.write(os.urandom(rest & ((1 << 24) - 1)))


def passes(path: Path) -> tuple[float, float, float]:
    """Seconds for md5 alone, sha256 alone and both in one loop, in this process."""
    out = []
    for names in (["md5"], ["sha256"], ["md5", "sha256"]):
        digests = [hashlib.new(n) for n in names]
        start = time.perf_counter()
        with path.open("rb") as fh:
            while chunk := fh.read(4 << 20):
                for d in digests:
                    d.update(chunk)
        out.append(time.perf_counter() - start)
    return out[0], out[1], out[2]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mib", type=int, default=1024, help="file size in MiB (default 1 GiB)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="256 MiB")
    args = p.parse_args()
    if args.quick:
        args.mib = 256
    size = args.mib << 20
    tmp = Path(tempfile.mkdtemp(prefix="gitmodel-hash-once-"))
    env = clean_env(tmp / "home")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)
    meta = tmp / "meta.yaml"
    meta.write_text("base_model: llama-3-8b-instruct\nquantization: q4_k_m\nmetrics: {accuracy: 0.9}\n")
    gitmodel = [sys.executable, "-m", "gitmodel"]
    results: dict[str, list[float]] = {"gitmodel": [], "by hand": []}
    cpu: dict[str, list[float]] = {"gitmodel": [], "by hand": []}
    try:
        print(f"register of a {args.mib} MiB file, {args.runs} runs each, load {os.getloadavg()[0]:.1f}")
        for i in range(args.runs):
            order = ["gitmodel", "by hand"] if i % 2 == 0 else ["by hand", "gitmodel"]
            for method in order:
                root = tmp / f"run-{i}-{method.replace(' ', '-')}"
                root.mkdir()
                run = Runner(env, root)
                run.sh("git", "init", "-q")
                run.sh(*gitmodel, "init", "--remote", str(tmp / f"remote-{i}"))
                write_big(root / "models/big/weights.gguf", size)
                ours = [*gitmodel, "register", "big", "models/big/weights.gguf", "--meta", str(meta)]
                argv = ["sh", "-c", BY_HAND] if method == "by hand" else ours
                timing = run.time(lambda _, argv=argv: argv, 1, 1800, 1800)
                if timing.error or not timing.times:
                    print(f"  {method}: {timing.cell()}")
                    return
                results[method] += timing.times
                cpu[method] += timing.cpu
                shutil.rmtree(root)
                shutil.rmtree(tmp / f"remote-{i}", ignore_errors=True)
        probe = tmp / "probe.bin"
        write_big(probe, size)
        md5, sha, both = passes(probe)
        ours, hand = statistics.median(results["gitmodel"]), statistics.median(results["by hand"])
        for label, method in (
            ("gitmodel register", "gitmodel"),
            ("dvc add + git add/commit + git tag by hand", "by hand"),
        ):
            runs = ", ".join(f"{t:.2f}" for t in results[method])
            mid = statistics.median(results[method])
            print(f"  {label:<42}  {mid:.2f} s  (cpu {statistics.median(cpu[method]):.2f})  runs: {runs}")
        print(
            f"  hashing in this process: md5 {md5:.2f} s, sha256 {sha:.2f} s, both in one loop {both:.2f} s"
        )
        print(f"  gitmodel / by hand: {ours / hand:.2f} (target <= 1.10)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
