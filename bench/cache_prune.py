"""The host cache prune's cost (issue 10): a ledger of N downloaded objects, claims of R
roots sharing the cache, half the objects claimed; the prune's wall time (median of runs,
each on a fresh copy) and what a claim write before a transfer costs.

    python bench/cache_prune.py [--objects 10000] [--roots 20] [--runs 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from gitmodel import hostlayout
from gitmodel.dvc import cache as dvccache
from gitmodel.host import cacheprune
from gitmodel.refs import Version


def build(base: Path, objects: int, roots: int) -> tuple[Path, Path]:
    cache, root = base / "cache", base / "root-0"
    paths = []
    for i in range(objects):
        md5 = f"{i:032x}"
        path = cache / "files" / "md5" / md5[:2] / md5[2:]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
        paths.append(path)
    dvccache.note_fetched(cache, paths)
    for r in range(roots):
        where = base / f"root-{r}"
        hostlayout.model_root(where, "support").mkdir(parents=True)
        for i in range(r, objects // 2, roots):  # the first half is claimed, spread over the roots
            cacheprune.claim(cache, where, "support", Version(1, 0, i), f"{i:032x}")
    return cache, root


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, default=10000)
    ap.add_argument("--roots", type=int, default=20)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    prune_s, claim_s = [], []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        t0 = time.perf_counter()
        built, _ = build(base / "template", args.objects, args.roots)
        print(f"built {args.objects} objects, {args.roots} roots' claims in {time.perf_counter() - t0:.1f} s")
        for run in range(args.runs):
            copy = base / f"run-{run}"
            shutil.copytree(base / "template", copy, symlinks=True)
            cache, root = copy / "cache", copy / "root-0"
            # The copy's claims name the template's roots: point them at the copy's.
            for claim in (cache / cacheprune.CLAIMS).glob("*.json"):
                claim.write_text(claim.read_text().replace(str(base / "template"), str(copy)))
            t0 = time.perf_counter()
            cacheprune.claim(cache, root, "support", Version(9, 9, 9), "f" * 32)
            claim_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            done = cacheprune.prune(cache, root, "support", [Version(1, 0, 0)])
            prune_s.append(time.perf_counter() - t0)
            assert not built or done.objects, done
        print(f"prune: {statistics.median(prune_s) * 1000:.0f} ms median, removed {done.objects} objects")
        print(f"claim before a transfer: {statistics.median(claim_s) * 1000:.2f} ms median")


if __name__ == "__main__":
    main()
