"""Cold deploy next to a plain download of the same bytes from the same S3 server (moto).

One registry with one version of SIZE random bytes pushed to a moto S3 remote; a host
clone whose default remote is that S3.  Each run starts cold (no root, empty host DVC
cache) and times, alternating the order:

- `gitmodel deploy production support --root ROOT` (a fresh process: fetch, verify,
  download, materialise, swap), and its own `seconds` (the deploy step);
- a plain download: boto3 `get_object` of the object's key, streamed to a file;
- `dvc pull` of the pointer in a fresh clone (DVC's own transfer path), once.

Issue 15 item 4's target: cold deploy <= 1.2x the plain download.  moto re-reads the
whole object for every ranged GET (shared/FACTS.md), so one streamed GET is its fastest
read; DVC's pull reads in ranges.

    python bench/transfer_wire.py                 # 256 MiB, 3 runs
    python bench/transfer_wire.py --size 64M --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from host_rollback import (
    BIN,
    BUCKET,
    GITMODEL,
    clean_env,
    dvc_pull_floor,
    make_registry,
    parse_size,
    s3_client,
    sh,
    start_moto,
)

ROOT = Path(__file__).resolve().parent.parent


def plain_download(endpoint: str, key: str, dest: Path) -> float:
    """One GET streamed to a file; the client is made (and boto3 imported) before the clock."""
    client = s3_client(endpoint)
    start = time.perf_counter()
    body = client.get_object(Bucket=BUCKET, Key=key)["Body"]
    with dest.open("wb") as fh:
        while chunk := body.read(8 << 20):
            fh.write(chunk)
    took = time.perf_counter() - start
    dest.unlink()
    return took


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="256M")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--keep", action="store_true", help="keep the registry, host clone and moto (printed)")
    args = p.parse_args()
    size = parse_size(args.size)
    base = Path(tempfile.mkdtemp(prefix="transfer-wire-"))
    env = {**clean_env(base / "home"), "PYTHONPATH": str(ROOT)}
    moto, endpoint = start_moto(base)
    try:
        origin, _dev, _remote = make_registry(base, env, size, endpoint, versions=("v1.0.0",))
        host = base / "host"
        sh(["git", "clone", "-q", str(origin), str(host)], base, env)
        sh([str(BIN / "dvc"), "remote", "default", "--local", "s3"], host, env)
        pointer = (host / "models/support/support.bin.dvc").read_text()
        md5 = pointer.split("md5: ")[1][:32]
        key = f"{base.name}/files/md5/{md5[:2]}/{md5[2:]}"
        deploys, steps, plains = [], [], []
        for i in range(args.runs):
            root = base / "root"
            shutil.rmtree(root, ignore_errors=True)
            shutil.rmtree(host / ".dvc" / "cache", ignore_errors=True)
            root.mkdir()
            order = ["deploy", "plain"] if i % 2 == 0 else ["plain", "deploy"]
            for what in order:
                if what == "plain":
                    plains.append(plain_download(endpoint, key, base / "plain.bin"))
                    continue
                start = time.perf_counter()
                out = sh(
                    [*GITMODEL, "deploy", "production", "support", "--root", str(root), "--json"], host, env
                )
                deploys.append(time.perf_counter() - start)
                done = json.loads(out)["deployed"][0]
                steps.append(float(done["seconds"]))
                assert done["downloaded"], done
        pull = dvc_pull_floor(origin, base, env, True)
        plain, deploy, step = (statistics.median(x) for x in (plains, deploys, steps))
        print(f"cold deploy of {args.size} from moto S3, {args.runs} runs, load {os.getloadavg()[0]:.1f}")
        print(f"  plain download (boto3 get_object, streamed)   {plain:.2f} s  runs: {_runs(plains)}")
        print(f"  gitmodel deploy (CLI process, cold)            {deploy:.2f} s  runs: {_runs(deploys)}")
        print(f"  gitmodel deploy step (its own 'seconds')       {step:.2f} s  runs: {_runs(steps)}")
        print(f"  dvc pull (CLI, fresh clone, once)              {pull:.2f} s")
        print(f"  deploy / plain: {deploy / plain:.2f} (CLI), {step / plain:.2f} (step); target <= 1.2")
    finally:
        if args.keep:
            print(f"kept {base} (host clone: host/, root: root/), moto at {endpoint} (pid {moto.pid})")
        else:
            moto.terminate()
            moto.wait(timeout=30)
            shutil.rmtree(base, ignore_errors=True)


def _runs(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    main()
