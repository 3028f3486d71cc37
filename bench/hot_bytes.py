"""Hot bytes: hot rollback with versions that own their inodes, and what --verify costs.

A registry with two versions of SIZE random bytes (local-path DVC remote), a host clone
that deploys both behind a real `gitmodel serve`, then:

  cache after deploys  bytes left in the host's DVC cache (the design keeps none of a
                       built version) and the link count of each version's file
  hot rollback         `gitmodel rollback production support --push` + `gitmodel deploy`
                       (two CLI processes) until /info reports it, and the deploy step alone
  status --verify      re-hash every hot version (2 x SIZE) against its manifest
  deploy --verify      the same, then converge (nothing to do)
  repair               deploy --verify after one flipped byte in the spare version: fetch
                       it again from the remote, hash, one rename
  floor                sha256 of one SIZE file

    python bench/hot_bytes.py [--size 1G] [--runs 3] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import host_rollback as hr  # the registry, server and helpers of the same bench


def timed(fn: Any, *args: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def cli(host: Path, env: dict[str, str], *args: str) -> str:
    return hr.sh([*hr.GITMODEL, *args], host, env)


def flip(path: Path) -> None:
    os.chmod(path.parent, 0o755)
    os.chmod(path, 0o644)
    with path.open("r+b") as fh:
        fh.seek(12345)
        b = fh.read(1)
        fh.seek(12345)
        fh.write(bytes([b[0] ^ 1]))
    os.chmod(path, 0o444)
    os.chmod(path.parent, 0o555)


def sha256_floor(path: Path) -> float:
    start = time.perf_counter()
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(4 << 20):
            digest.update(chunk)
    return time.perf_counter() - start


def run(size: int, runs: int, workdir: Path) -> dict[str, Any]:
    base = Path(tempfile.mkdtemp(prefix="hot-bytes-", dir=workdir))
    env = hr.clean_env(base / "home")
    server = None
    try:
        origin, dev, _remote = hr.make_registry(base, env, size, None)
        host, root = base / "host", base / "root"
        hr.sh(["git", "clone", "-q", str(origin), str(host)], base, env)
        root.mkdir()
        server = hr.Server(root, base, env)
        hr.deploy(host, root, env, server.flags())
        hr.promote(dev, env, "v1.1.0")
        hr.deploy(host, root, env, server.flags())
        cache = host / ".dvc" / "cache" / "files" / "md5"
        cached = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file())
        files = {v: root / "support" / "versions" / v / "support.bin" for v in ("v1.0.0", "v1.1.0")}
        links = {v: p.stat().st_nlink for v, p in files.items()}
        hot, step = [], []
        for _ in range(runs):
            seconds, done = hr.rollback_and_deploy(host, root, env, server, "v1.0.0")
            assert done["mode"] == "hot"
            hot.append(seconds)
            step.append(done["seconds"])
            hr.promote(dev, env, "v1.1.0")
            hr.deploy(host, root, env, server.flags())
        status_verify, _ = timed(cli, host, env, "status", "production", "--root", str(root), "--verify")
        deploy_verify, _ = timed(hr.deploy, host, root, env, [*server.flags(), "--verify"])
        flip(files["v1.0.0"])
        repair, repaired = timed(hr.deploy, host, root, env, [*server.flags(), "--verify"])
        assert repaired["rehashed"]["v1.0.0"] == ["support.bin"]
        return {
            "bytes": size,
            "cache_bytes_after_deploys": cached,
            "version_file_links": links,
            "hot_rollback_cli_s": statistics.median(hot),
            "hot_deploy_step_s": statistics.median(step),
            "status_verify_s": status_verify,
            "deploy_verify_s": deploy_verify,
            "deploy_verify_repair_s": repair,
            "sha256_one_file_s": sha256_floor(files["v1.1.0"]),
        }
    finally:
        if server:
            server.stop()
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--size", default="1G", help="artifact size, e.g. 100M, 1G, 4G")
    ap.add_argument("--runs", type=int, default=3, help="hot rollbacks to take the median of")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    args = ap.parse_args()
    r = run(hr.parse_size(args.size), args.runs, args.workdir)
    print(f"== hot bytes, {args.size} per version, 2 versions hot (local-path remote)")
    print(f"  DVC cache after both deploys:        {r['cache_bytes_after_deploys']} bytes")
    print(f"  links per version file:              {r['version_file_links']}")
    hot = r["hot_rollback_cli_s"]
    verdict = "met" if hot < 1 else "MISSED"
    print(f"  hot rollback, CLI (median of {args.runs}):    {hot:.3f} s [target < 1 s: {verdict}]")
    print(f"    deploy step alone:                 {r['hot_deploy_step_s']:.3f} s")
    print(f"  status --verify (2 versions):        {r['status_verify_s']:.2f} s")
    print(f"  deploy --verify (nothing to repair): {r['deploy_verify_s']:.2f} s")
    print(f"  deploy --verify, one flipped byte:   {r['deploy_verify_repair_s']:.2f} s")
    print(f"  floor: sha256 of one file:           {r['sha256_one_file_s']:.2f} s")
    print(json.dumps(r))


if __name__ == "__main__":
    main()
