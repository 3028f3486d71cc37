"""How long gitmodel's hooks add to a commit and to a push (medians; ratios matter more).

1. pre-commit on a commit that touches no model (target <= 150 ms): the installed shim,
   run the way git runs it, in a registry with one model.
2. pre-receive for a push of one new version tag into a bare remote holding 5,600 tags
   (100 models x 20 versions, plus their staging and production assignments; target
   <= 500 ms, DVC check off as on a default server).  The registry is built by
   bench/scale_build.py (one fast-import stream), the new version by `gitmodel register`.
   Measured three ways: the hook alone, the whole `git push`, and the same push with
   no hook installed, so the hook's share of a push is plain.

    python bench/hooks_speed.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from scale_build import Shape, build, clean_env

from gitmodel.demo import gguf_bytes
from gitmodel.git import ZERO

GITMODEL = [sys.executable, "-m", "gitmodel"]
SHAPE = Shape("5.6k tags", models=100, versions=20, staging=1.0, production=0.8)


def sh(args: Sequence[str], cwd: Path, env: Mapping[str, str], stdin: str | None = None) -> str:
    proc = subprocess.run(
        list(args), cwd=cwd, env=dict(env), input=stdin, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout.strip()


def median_ms(
    runs: int, action: Callable[[], object], reset: Callable[[], object] | None = None
) -> tuple[float, float]:
    """Median wall time and median CPU time (user + sys of the processes started) in ms.

    The machine is shared: wall time swings with other people's load, CPU time much less.
    """
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        action()
        walls.append((time.perf_counter() - start) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
        if reset:
            reset()
    return statistics.median(walls), statistics.median(cpus)


def pre_commit(work: Path, env: Mapping[str, str], runs: int) -> dict[str, tuple[float, float]]:
    root = work / "small"
    root.mkdir()
    sh(["git", "init", "-q"], root, env)
    sh([*GITMODEL, "init", "--remote", str(work / "small-remote")], root, env)
    (root / "w.gguf").write_bytes(gguf_bytes(16_384, 1))
    (root / "meta.yaml").write_text("base_model: llama-3-8b-instruct\ndescription: bench\n")
    sh([*GITMODEL, "register", "support", "w.gguf", "--meta", "meta.yaml"], root, env)
    (root / "README.md").write_text("a change that touches no model\n")
    sh(["git", "add", "README.md"], root, env)
    hook = root / ".git" / "hooks" / "pre-commit"
    return {
        "python -c pass": median_ms(runs, lambda: sh([sys.executable, "-c", "pass"], root, env)),
        "gitmodel --version (the CLI's floor)": median_ms(
            runs, lambda: sh([*GITMODEL, "--version"], root, env)
        ),
        "pre-commit hook": median_ms(runs, lambda: sh([str(hook)], root, env)),
    }


def pre_receive(work: Path, env: Mapping[str, str], runs: int) -> dict[str, tuple[float, float]]:
    built = build(work / "big", SHAPE, env, GITMODEL, work / "big-remote", objects=False)
    root = built.root
    bare = work / "origin.git"
    sh(["git", "clone", "-q", "--bare", str(root), str(bare)], work, env)
    sh(["git", "remote", "add", "origin", str(bare)], root, env)
    sh([*GITMODEL, "hooks", "install", "--server", "--path", str(bare)], work, env)
    name = built.names[0]
    (root / "new.gguf").write_bytes(gguf_bytes(15_000, time.time_ns()))
    sh([*GITMODEL, "register", name, "new.gguf", "-m", "bench: one more version"], root, env)
    tag = f"{name}@v1.{SHAPE.versions}.0"
    sh(["git", "push", "-q", "--no-verify", "origin", "main"], root, env)
    tag_id = sh(["git", "rev-parse", f"refs/tags/{tag}"], root, env)
    count = len(sh(["git", "tag"], bare, env).splitlines())

    def push() -> None:
        sh(["git", "push", "-q", "--no-verify", "origin", f"refs/tags/{tag}"], root, env)

    def unpush() -> None:
        sh(["git", "update-ref", "-d", f"refs/tags/{tag}"], bare, env)

    hook = bare / "hooks" / "pre-receive"
    # Run once through git, so the tag object is in the bare repo for the hook-alone runs.
    push()
    unpush()
    alone = median_ms(runs, lambda: sh([str(hook)], bare, env, stdin=f"{ZERO} {tag_id} refs/tags/{tag}\n"))
    with_hook = median_ms(runs, push, unpush)
    hook.rename(hook.with_name("pre-receive.off"))
    without = median_ms(runs, push, unpush)
    hook.with_name("pre-receive.off").rename(hook)
    return {
        "tags": (float(count), 0.0),
        "pre-receive hook alone": alone,
        "git push of the tag, with the hook": with_hook,
        "git push of the tag, no hook": without,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per measurement (median)")
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory(prefix="gitmodel-hooks-bench-") as tmp:
        work = Path(tmp)
        env = clean_env(work / "home")
        if "PYTHONPATH" in os.environ:  # a worktree measured through the shared venv
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        small = pre_commit(work, env, runs)
        big = pre_receive(work, env, runs)
    print(f"hook speed, medians of {runs} runs: wall ms (CPU ms: user+sys of every process)")
    print("pre-commit on a commit touching no model (target: hook <= 150 ms)")
    for label, (wall, cpu) in small.items():
        print(f"  {label:<36} {wall:8.1f} ({cpu:6.1f})")
    tags = big.pop("tags")[0]
    print(f"pre-receive of one version tag, remote with {tags:.0f} tags (target: hook <= 500 ms)")
    for label, (wall, cpu) in big.items():
        print(f"  {label:<36} {wall:8.1f} ({cpu:6.1f})")
    with_hook, without = big["git push of the tag, with the hook"], big["git push of the tag, no hook"]
    share = (with_hook[0] - without[0], with_hook[1] - without[1])
    print(f"  {'the hook within the push':<36} {share[0]:8.1f} ({share[1]:6.1f})")


if __name__ == "__main__":
    main()
