"""What the full policy costs where it runs (medians; ratios matter more on a shared machine).

1. The server's pre-receive on a push of one stage tag (a promotion to production, so
   every rule runs: grammar, counter, target files and schema, promotion order, the gate
   recomputed from both versions' metadata) into a bare remote of 5,600 tags built by
   bench/scale_build.py (target: hook <= 500 ms). Measured alone (the shim, run as git
   runs it), and as the whole `git push` with and without the hook.
2. The host's check of that pointer before a deploy (gitmodel.policy.host.accept), in a
   fresh process: imports included, then warm (target: <= 100 ms).
3. `gitmodel verify --all` over the whole registry, as CI on hosted Git runs it.

    python bench/hook_policy.py [--runs N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from hooks_speed import GITMODEL, SHAPE, median_ms, sh
from scale_build import build, clean_env

from gitmodel.demo import gguf_bytes
from gitmodel.git import ZERO

HOST_CHECK = """
import sys, time
from pathlib import Path
t0 = time.perf_counter()
from gitmodel.policy.host import accept
from gitmodel.registry import Registry
state = Registry.load_model(Path(sys.argv[1]), sys.argv[2])
t1 = time.perf_counter()
accept(Path(sys.argv[1]), state, "production")
t2 = time.perf_counter()
accept(Path(sys.argv[1]), state, "production")
t3 = time.perf_counter()
print(f"{(t2 - t0) * 1000:.1f} {(t2 - t1) * 1000:.1f} {(t3 - t2) * 1000:.1f}")
"""


def stage_tag_push(work: Path, env: Mapping[str, str], runs: int) -> dict[str, tuple[float, float]]:
    built = build(work / "big", SHAPE, env, GITMODEL, work / "big-remote", objects=False)
    root = built.root
    bare = work / "origin.git"
    sh(["git", "clone", "-q", "--bare", str(root), str(bare)], work, env)
    sh(["git", "remote", "add", "origin", str(bare)], root, env)
    sh([*GITMODEL, "hooks", "install", "--server", "--path", str(bare)], work, env)
    name = built.names[0]
    (root / "new.gguf").write_bytes(gguf_bytes(15_000, time.time_ns()))
    sh([*GITMODEL, "register", name, "new.gguf", "-m", "bench: one more version"], root, env)
    version = f"v1.{SHAPE.versions}.0"
    sh([*GITMODEL, "promote", name, version, "staging"], root, env)
    sh(["git", "push", "-q", "--no-verify", "origin", "main", "--tags"], root, env)
    out = sh([*GITMODEL, "promote", name, version, "production"], root, env)
    tag = out.split("tag ", 1)[1].split()[0]
    tag_id = sh(["git", "rev-parse", f"refs/tags/{tag}"], root, env)
    count = len(sh(["git", "tag"], bare, env).splitlines())

    def push() -> None:
        sh(["git", "push", "-q", "--no-verify", "origin", f"refs/tags/{tag}"], root, env)

    def unpush() -> None:
        sh(["git", "update-ref", "-d", f"refs/tags/{tag}"], bare, env)

    hook = bare / "hooks" / "pre-receive"
    push()  # once through git, so the tag object is in the bare repo for the hook-alone runs
    unpush()
    stdin = f"{ZERO} {tag_id} refs/tags/{tag}\n"
    alone = median_ms(runs, lambda: sh([str(hook)], bare, env, stdin=stdin))
    with_hook = median_ms(runs, push, unpush)
    hook.rename(hook.with_name("pre-receive.off"))
    without = median_ms(runs, push, unpush)
    hook.with_name("pre-receive.off").rename(hook)
    push()  # leave it pushed for the host and CI measurements
    host = [sh([sys.executable, "-c", HOST_CHECK, str(root), name], root, env).split() for _ in range(runs)]
    cold, after_imports, warm = (sorted(float(h[i]) for h in host)[len(host) // 2] for i in range(3))
    start = time.perf_counter()
    sh([*GITMODEL, "verify", "--all"], root, env)
    verify_all = (time.perf_counter() - start) * 1000
    return {
        "tags": (float(count), 0.0),
        "pre-receive hook alone": alone,
        "git push of the tag, with the hook": with_hook,
        "git push of the tag, no hook": without,
        "host check, first call (imports)": (cold, -1.0),
        "host check, first call (no imports)": (after_imports, -1.0),
        "host check, warm": (warm, -1.0),
        "verify --all (one run)": (verify_all, -1.0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per measurement (median)")
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory(prefix="gitmodel-policy-bench-") as tmp:
        work = Path(tmp)
        # this checkout's gitmodel, in the hook and the host check too
        env = {**clean_env(work / "home"), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        floor = median_ms(runs, lambda: sh([*GITMODEL, "--version"], work, env))
        figures = stage_tag_push(work, env, runs)
    tags = figures.pop("tags")[0]
    print(f"full policy, medians of {runs} runs: wall ms (CPU ms: user+sys of child processes)")
    print(f"  {'gitmodel --version (the CLI floor)':<40} {floor[0]:8.1f} ({floor[1]:6.1f})")
    print(f"push of one stage tag (a promotion to production), remote with {tags:.0f} tags")
    print("  (target: hook <= 500 ms; host check <= 100 ms)")
    for label, (wall, cpu) in figures.items():
        shown = f"({cpu:6.1f})" if cpu >= 0 else ""
        print(f"  {label:<40} {wall:8.1f} {shown}")
    with_hook, without = (
        figures["git push of the tag, with the hook"],
        figures["git push of the tag, no hook"],
    )
    share = (with_hook[0] - without[0], with_hook[1] - without[1])
    print(f"  {'the hook within the push':<40} {share[0]:8.1f} ({share[1]:6.1f})")


if __name__ == "__main__":
    main()
