"""Hot and cold rollback on an inference host, next to floors measured in the same run.

For each artifact size a registry gets two versions (random bytes), a host clone
deploys both behind a real `gitmodel serve`, then:

  hot rollback   `gitmodel rollback production support --push` + `gitmodel deploy` (two
                 CLI processes, as an operator types them) until /info reports the old
                 version; the previous version is still under versions/.  Also the
                 deploy step alone (the core's own timing, no process start), and
                 `gitmodel rollback production support --root ROOT` (one CLI process: the
                 command run on a host at 3 a.m.), --runs times, median wall and CPU.
  cold rollback  the same after deleting the old version from the host (versions/ and
                 the host's DVC cache): its bytes come from the DVC remote again.
  floors         os.rename of a symlink; a plain download of the same object from the
                 same server: boto3 get_object (one GET) and download_file (ranged,
                 concurrent), or a file copy for a local-path remote.

Targets (issue 5): hot under 1 s at every size; cold within 1.2x the plain download.
moto re-reads a whole object per ranged GET and needs ~5x the object in memory
(shared/FACTS.md), so sizes above --s3-max use a local-path remote for the cold figures.

    python bench/host_rollback.py [--sizes 100M,1G,4G] [--s3-max 1G] [--runs 3] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# The default gitmodel.yaml requires this evidence (besides metrics.accuracy) for production.
EVIDENCE = 'training: {data_hash: "sha256:0123abcd", epochs: 3}\neval_set: bench-eval-1\n'

GITMODEL = [sys.executable, "-m", "gitmodel"]
BIN = Path(sys.executable).parent
BUCKET = "bench"
CHUNK = 64 * 1024 * 1024


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].upper() in units else int(text)


def clean_env(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Bench\n\temail = bench@example.com\n[init]\n\tdefaultBranch = main\n"
    )
    return {
        **os.environ,
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "DVC_NO_ANALYTICS": "1",
        "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "XDG_CACHE_HOME": str(home / ".cache"),
    }


def sh(args: Sequence[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except urllib.error.HTTPError:
            return  # it answers (503 before anything is deployed)
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


def info_version(url: str) -> str | None:
    try:
        return json.loads(urllib.request.urlopen(url, timeout=2).read()).get("version")
    except (OSError, ValueError):
        return None


def write_random(path: Path, size: int, seed: int) -> None:
    import numpy as np

    rng = np.random.default_rng(seed)
    with path.open("wb") as fh:
        left = size
        while left:
            n = min(CHUNK, left)
            fh.write(rng.bytes(n))
            left -= n


def start_moto(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = (workdir / "moto.log").open("wb")
    proc = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log
    )
    endpoint = f"http://127.0.0.1:{port}"
    wait_http(endpoint + "/")
    return proc, endpoint


def s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


def make_registry(
    base: Path,
    env: dict[str, str],
    size: int,
    endpoint: str | None,
    versions: Sequence[str] = ("v1.0.0", "v1.1.0"),
) -> tuple[Path, Path, Path]:
    """A bare origin and a dev clone with `versions` of one model pushed; production -> first."""
    origin, dev, remote = base / "origin.git", base / "dev", base / "dvc-remote"
    sh(["git", "init", "-q", "--bare", str(origin)], base, env)
    sh(["git", "init", "-q", str(dev)], base, env)
    sh(["git", "remote", "add", "origin", str(origin)], dev, env)
    sh([*GITMODEL, "init", "--remote", str(remote)], dev, env)
    # Hard links keep the registry's work tree from doubling the bytes on disk.
    sh([str(BIN / "dvc"), "config", "cache.type", "hardlink,copy"], dev, env)
    if endpoint:
        s3_client(endpoint).create_bucket(Bucket=BUCKET)
        sh([str(BIN / "dvc"), "remote", "add", "s3", f"s3://{BUCKET}/{base.name}"], dev, env)
        sh([str(BIN / "dvc"), "remote", "modify", "s3", "endpointurl", endpoint], dev, env)
    sh(["git", "commit", "-qam", "bench remotes"], dev, env)
    for i, version in enumerate(versions):
        src = dev / "support.bin"
        write_random(src, size, seed=i + 1)
        (dev / "models" / "support" / "support.bin").unlink(missing_ok=True)
        (dev / "meta.yaml").write_text(
            f"base_model: llama-3-8b\nmetrics: {{accuracy: {0.9 + i / 100}}}\n" + EVIDENCE
        )
        sh(
            [
                *GITMODEL,
                "register",
                "support",
                str(src),
                "--version",
                version,
                "--meta",
                "meta.yaml",
                "--push",
            ],
            dev,
            env,
        )
    if endpoint:
        sh([str(BIN / "dvc"), "push", "-q", "-r", "s3", "--all-tags"], dev, env)
    promote(dev, env, versions[0])
    return origin, dev, remote


def promote(dev: Path, env: dict[str, str], version: str) -> None:
    for stage in ("staging", "production"):
        sh([*GITMODEL, "promote", "support", version, stage, "--push"], dev, env)


class Server:
    def __init__(self, root: Path, workdir: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        log = (workdir / f"serve-{self.port}.log").open("wb")
        self.proc = subprocess.Popen(
            [*GITMODEL, "serve", "support", "--root", str(root), "--port", str(self.port)],
            env=env,
            stdout=log,
            stderr=log,
            cwd=workdir,
        )
        wait_http(self.url + "/health")

    def flags(self) -> list[str]:
        return ["--reload-url", f"{self.url}/reload", "--info-url", f"{self.url}/info"]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def deploy(host: Path, root: Path, env: dict[str, str], flags: list[str]) -> dict[str, Any]:
    out = sh([*GITMODEL, "deploy", "production", "support", "--root", str(root), "--json", *flags], host, env)
    return json.loads(out)["deployed"][0]  # type: ignore[no-any-return]


def rollback_and_deploy(
    host: Path, root: Path, env: dict[str, str], server: Server, want: str
) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    sh([*GITMODEL, "rollback", "production", "support", "--push"], host, env)
    done = deploy(host, root, env, server.flags())
    elapsed = time.perf_counter() - start
    if info_version(server.url + "/info") != want:
        raise RuntimeError(f"/info does not report {want} after the rollback")
    return elapsed, done


ONE_PROCESS = """
import sys, time
from pathlib import Path
from gitmodel.environments import rollback
from gitmodel.host.deploy import deploy

m = rollback(Path("."), "production", "support", push=True)
deploy(Path("."), "production", "support", Path(sys.argv[1]), reload_url=sys.argv[2],
       info_url=sys.argv[3], fetch=False)
"""


def rollback_one_process(host: Path, root: Path, env: dict[str, str], server: Server) -> float:
    """Pointer move and deploy in one process: what `gitmodel rollback --root` amounts to."""
    start = time.perf_counter()
    sh(
        [sys.executable, "-c", ONE_PROCESS, str(root), f"{server.url}/reload", f"{server.url}/info"],
        host,
        env,
    )
    elapsed = time.perf_counter() - start
    if info_version(server.url + "/info") != "v1.0.0":
        raise RuntimeError("/info does not report v1.0.0 after the one-process rollback")
    return elapsed


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def rollback_root(
    dev: Path, host: Path, root: Path, env: dict[str, str], server: Server, runs: int
) -> tuple[float, float]:
    """`gitmodel rollback production support --root ROOT`, v1.1.0 -> v1.0.0 each run: medians of
    wall and CPU seconds (the process and the git it waits for)."""
    walls, cpus = [], []
    for _ in range(runs):
        promote(dev, env, "v1.1.0")
        deploy(host, root, env, server.flags())
        cpu, start = children_cpu(), time.perf_counter()
        sh([*GITMODEL, "rollback", "production", "support", "--root", str(root), *server.flags()], host, env)
        walls.append(time.perf_counter() - start)
        cpus.append(children_cpu() - cpu)
        if info_version(server.url + "/info") != "v1.0.0":
            raise RuntimeError("/info does not report v1.0.0 after `rollback --root`")
    return statistics.median(walls), statistics.median(cpus)


def rename_floor(root: Path, runs: int = 1000) -> float:
    link, tmp = root / "floor-link", root / "floor-tmp"
    times = []
    for i in range(runs):
        os.symlink(f"target-{i % 2}", tmp)
        start = time.perf_counter()
        os.replace(tmp, link)
        times.append(time.perf_counter() - start)
    link.unlink()
    return statistics.median(times)


def download_floors(
    endpoint: str | None, prefix: str, remote: Path, md5: str, dest: Path
) -> dict[str, float]:
    out: dict[str, float] = {}
    if endpoint:
        s3 = s3_client(endpoint)
        key = f"{prefix}/files/md5/{md5[:2]}/{md5[2:]}"
        start = time.perf_counter()
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"]
        with dest.open("wb") as fh:
            while chunk := body.read(8 << 20):
                fh.write(chunk)
        out["boto3 get_object"] = time.perf_counter() - start
        if dest.stat().st_size <= 256 << 20:
            # ranged, concurrent GETs: moto re-reads the whole object for each (146 s at 1 GiB)
            dest.unlink()
            start = time.perf_counter()
            s3.download_file(BUCKET, key, str(dest))
            out["boto3 download_file"] = time.perf_counter() - start
    else:
        start = time.perf_counter()
        shutil.copyfile(remote / "files" / "md5" / md5[:2] / md5[2:], dest)
        out["file copy"] = time.perf_counter() - start
    start = time.perf_counter()
    digest = hashlib.sha256()
    with dest.open("rb") as fh:
        while chunk := fh.read(4 << 20):
            digest.update(chunk)
    out["sha256 of the file"] = time.perf_counter() - start
    dest.unlink()
    return out


def dvc_pull_floor(origin: Path, base: Path, env: dict[str, str], s3: bool) -> float:
    """`dvc pull` of v1.0.0's pointer in a fresh clone: DVC's own CLI path for the same bytes."""
    clone = base / "pull-floor"
    sh(["git", "clone", "-q", "--branch", "support@v1.0.0", str(origin), str(clone)], base, env)
    if s3:
        sh([str(BIN / "dvc"), "remote", "default", "--local", "s3"], clone, env)
    start = time.perf_counter()
    sh([str(BIN / "dvc"), "pull", "-q", "models/support/support.bin.dvc"], clone, env)
    elapsed = time.perf_counter() - start
    shutil.rmtree(clone)
    return elapsed


def forget(host: Path, root: Path, md5: str, version: str) -> None:
    """Make `version` cold on the host: not under versions/, not in the host's DVC cache."""
    vdir = root / "support" / "versions" / version
    for dirpath, _dirs, _files in os.walk(vdir):
        os.chmod(dirpath, 0o755)
    shutil.rmtree(vdir)
    # Normally already gone: a built version keeps no name in the cache (hot_bytes.py)
    (host / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]).unlink(missing_ok=True)


def run_size(label: str, size: int, s3: bool, workdir: Path, runs: int = 3) -> dict[str, Any]:
    base = Path(tempfile.mkdtemp(prefix=f"host-rollback-{label}-", dir=workdir))
    env = clean_env(base / "home")
    moto, endpoint = start_moto(base) if s3 else (None, None)
    server = None
    try:
        t = time.perf_counter()
        origin, dev, remote = make_registry(base, env, size, endpoint)
        setup = time.perf_counter() - t
        host, root = base / "host", base / "root"
        sh(["git", "clone", "-q", str(origin), str(host)], base, env)
        if s3:
            sh([str(BIN / "dvc"), "remote", "default", "--local", "s3"], host, env)
        root.mkdir()
        server = Server(root, base, env)
        first = deploy(host, root, env, server.flags())
        promote(dev, env, "v1.1.0")
        second = deploy(host, root, env, server.flags())
        hot, hot_done = rollback_and_deploy(host, root, env, server, "v1.0.0")
        promote(dev, env, "v1.1.0")
        deploy(host, root, env, server.flags())
        hot_one = rollback_one_process(host, root, env, server)
        root_wall, root_cpu = rollback_root(dev, host, root, env, server, runs)
        promote(dev, env, "v1.1.0")
        deploy(host, root, env, server.flags())
        md5 = json.loads((root / "support" / "versions" / "v1.0.0" / "gitmodel-version.json").read_text())[
            "dvc_md5"
        ]
        forget(host, root, md5, "v1.0.0")
        cold, cold_done = rollback_and_deploy(host, root, env, server, "v1.0.0")
        floors = {
            "os.rename of a symlink": rename_floor(root),
            **download_floors(endpoint, base.name, remote, md5, root / "floor.bin"),
            "dvc pull (CLI, fresh clone)": dvc_pull_floor(origin, base, env, s3),
        }
        return {
            "size": label,
            "bytes": size,
            "remote": "S3 (moto)" if s3 else "local path",
            "setup_s": setup,
            "first_deploy_s": first["seconds"],
            "second_deploy_s": second["seconds"],
            "hot_rollback_s": hot,
            "hot_one_process_s": hot_one,
            "hot_rollback_root_s": root_wall,
            "hot_rollback_root_cpu_s": root_cpu,
            "runs": runs,
            "hot_deploy_step_s": hot_done["seconds"],
            "hot_mode": hot_done["mode"],
            "cold_rollback_s": cold,
            "cold_deploy_step_s": cold_done["seconds"],
            "cold_downloaded": cold_done["downloaded"],
            "floors_s": floors,
        }
    finally:
        if server:
            server.stop()
        if moto:
            moto.terminate()
            moto.wait(timeout=30)
        shutil.rmtree(base, ignore_errors=True)


def report(r: dict[str, Any]) -> None:
    f = r["floors_s"]
    plain = f.get("boto3 get_object", f.get("file copy"))
    print(f"\n== {r['size']} ({r['remote']}; setup {r['setup_s']:.1f} s)")
    print(
        f"  hot rollback, CLI (rollback --push + deploy): {r['hot_rollback_s']:.3f} s "
        f"[target < 1 s: {'met' if r['hot_rollback_s'] < 1 else 'MISSED'}]"
    )
    print(f"    in one process (the core calls, one python -c):  {r['hot_one_process_s']:.3f} s")
    print(
        f"  hot rollback, `rollback --root` (one CLI process): {r['hot_rollback_root_s']:.3f} s wall, "
        f"{r['hot_rollback_root_cpu_s']:.3f} s CPU (medians of {r['runs']})"
    )
    print(f"    deploy step alone (core timing):          {r['hot_deploy_step_s']:.3f} s ({r['hot_mode']})")
    print(
        f"  cold rollback, CLI:                         {r['cold_rollback_s']:.3f} s "
        f"({r['cold_downloaded']} object downloaded)"
    )
    print(f"    deploy step alone (fetch+verify+swap+reload+confirm): {r['cold_deploy_step_s']:.3f} s")
    for name, seconds in f.items():
        print(
            f"  floor: {name:<28} {seconds * 1000 if seconds < 0.01 else seconds:.3f} "
            f"{'ms' if seconds < 0.01 else 's'}"
        )
    if plain:
        ratio = r["cold_rollback_s"] / plain
        print(
            f"  cold / plain download: {ratio:.2f}x [target <= 1.2x: {'met' if ratio <= 1.2 else 'MISSED'}]"
        )
        verified = plain + f["sha256 of the file"]
        print(
            f"  cold / (plain download + sha256 of the bytes): {r['cold_rollback_s'] / verified:.2f}x;"
            f" deploy step alone: {r['cold_deploy_step_s'] / verified:.2f}x"
        )
        for name in ("boto3 download_file", "dvc pull (CLI, fresh clone)"):
            if f.get(name):
                print(f"  cold / {name}: {r['cold_rollback_s'] / f[name]:.2f}x")


def compile_gitmodel() -> None:
    """Byte-compile the gitmodel package that the timed commands import.

    Under PYTHONDONTWRITEBYTECODE (set in this machine's shells) a work tree without
    current .pyc files compiles every module it imports in every CLI process: ~0.1-0.2 s
    of CPU per `rollback --root` that an installed gitmodel never pays, and that differs
    between trees (a fresh worktree has none, an older one stale ones)."""
    import compileall

    import gitmodel

    compileall.compile_dir(str(Path(gitmodel.__file__).parent), quiet=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100M,1G", help="comma-separated sizes, e.g. 100M,1G,4G")
    ap.add_argument("--s3-max", default="1G", help="largest size sent through moto (bigger: local path)")
    ap.add_argument("--runs", type=int, default=3, help="`rollback --root` runs per size (medians)")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args()
    compile_gitmodel()
    s3_max = parse_size(args.s3_max)
    results = []
    for label in args.sizes.split(","):
        size = parse_size(label)
        result = run_size(label, size, size <= s3_max, args.workdir, args.runs)
        report(result)
        results.append(result)
        if size <= s3_max:
            # the same size from a local-path remote too: transfer speed without moto
            local = run_size(label, size, False, args.workdir, args.runs)
            report(local)
            results.append(local)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
