"""Start-up: what a command costs before it does any work, next to `python -c pass`.

In a registry with one model (hooks installed, a README change staged), each command
runs as a fresh process, the commands taking turns so that the machine's load falls on
all of them alike; medians of wall and CPU time (user + sys of the process and its
children), and each one's ratio to `python -c pass` measured in the same run (issue 15,
item 2: `gitmodel --version` <= 2x, the pre-commit hook on a commit touching no model
<= 2.5x). `--profile` adds `python -X importtime`'s biggest imports of each command.

    python bench/startup.py [--runs N] [--profile]
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
from collections.abc import Mapping, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_build import clean_env

from gitmodel.demo import gguf_bytes

BIN = Path(sys.executable).parent
GITMODEL = [str(BIN / "gitmodel")] if (BIN / "gitmodel").exists() else [sys.executable, "-m", "gitmodel"]
TARGETS = {"gitmodel --version": 2.0, "pre-commit hook (no model touched)": 2.5}


def sh(args: Sequence[str], cwd: Path, env: Mapping[str, str]) -> str:
    proc = subprocess.run(list(args), cwd=cwd, env=dict(env), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def registry(work: Path, env: Mapping[str, str]) -> Path:
    root = work / "registry"
    root.mkdir()
    sh(["git", "init", "-q"], root, env)
    sh([*GITMODEL, "init", "--remote", str(work / "remote")], root, env)
    (root / "w.gguf").write_bytes(gguf_bytes(16_384, 1))
    (root / "meta.yaml").write_text("base_model: llama-3-8b-instruct\ndescription: bench\n")
    sh([*GITMODEL, "register", "support", "w.gguf", "--meta", "meta.yaml"], root, env)
    sh([*GITMODEL, "hooks", "install"], root, env)
    (root / "README.md").write_text("a change that touches no model\n")
    sh(["git", "add", "README.md"], root, env)
    return root


def commands(root: Path) -> dict[str, list[str]]:
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "gitmodel --version": [*GITMODEL, "--version"],
        "python -m gitmodel --version": [sys.executable, "-m", "gitmodel", "--version"],
        "pre-commit hook (no model touched)": [str(root / ".git" / "hooks" / "pre-commit")],
        "gitmodel --help": [*GITMODEL, "--help"],
        "gitmodel list (1 model)": [*GITMODEL, "list"],
    }


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(
    argvs: Mapping[str, list[str]], root: Path, env: Mapping[str, str], runs: int
) -> dict[str, tuple[float, float]]:
    """Median (wall ms, CPU ms) per command; the commands take turns, run after run."""
    walls: dict[str, list[float]] = {k: [] for k in argvs}
    cpus: dict[str, list[float]] = {k: [] for k in argvs}
    for _ in range(runs + 1):
        for label, argv in argvs.items():
            cpu, start = _cpu(), time.perf_counter()
            proc = subprocess.run(argv, cwd=root, env=dict(env), capture_output=True, check=False)
            wall = time.perf_counter() - start
            if proc.returncode != 0:
                raise RuntimeError(f"{label}: exit {proc.returncode}: {proc.stderr.decode()[-300:]}")
            walls[label].append(wall * 1000)
            cpus[label].append((_cpu() - cpu) * 1000)
    # The first round warms the page cache and writes the bytecode caches: left out.
    return {k: (statistics.median(walls[k][1:]), statistics.median(cpus[k][1:])) for k in argvs}


def importtime(argv: Sequence[str], root: Path, env: Mapping[str, str], top: int) -> list[tuple[int, str]]:
    """The `top` imports with the largest self time (us), from `python -X importtime`."""
    child = {**env, "PYTHONPROFILEIMPORTTIME": "1"}
    proc = subprocess.run(list(argv), cwd=root, env=child, capture_output=True, text=True, check=False)
    rows = []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "self [us]" not in line:
            own, _, name = line.removeprefix("import time:").split("|")
            rows.append((int(own), name.rstrip()))
    total = sum(own for own, _ in rows)
    return [(total, "(all imports)"), *sorted(rows, reverse=True)[:top]]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="runs per command (median)")
    parser.add_argument("--profile", action="store_true", help="also print each command's biggest imports")
    parser.add_argument("--top", type=int, default=12, help="imports shown per command with --profile")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gitmodel-startup-bench-") as tmp:
        work = Path(tmp)
        env = clean_env(work / "home")
        if "PYTHONPATH" in os.environ:  # a worktree measured through the shared venv
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        root = registry(work, env)
        argvs = commands(root)
        found = measure(argvs, root, env, args.runs)
        floor_wall, floor_cpu = found["python -c pass"]
        load = os.getloadavg()[0]
        print(f"start-up, medians of {args.runs} runs taking turns (load average {load:.1f})")
        print(f"  {'command':<36} {'wall ms':>8} {'cpu ms':>8} {'wall x':>7} {'cpu x':>6}  target")
        for label, (wall, cpu) in found.items():
            target = f"<= {TARGETS[label]}x" if label in TARGETS else ""
            verdict = ""
            if label in TARGETS:
                verdict = " met" if wall / floor_wall <= TARGETS[label] else " MISSED"
            print(
                f"  {label:<36} {wall:8.1f} {cpu:8.1f} {wall / floor_wall:6.2f}x {cpu / floor_cpu:5.2f}x"
                f"  {target}{verdict}"
            )
        if args.profile:
            for label in ("python -c pass", "gitmodel --version", "pre-commit hook (no model touched)"):
                wanted = argvs[label]
                if label.startswith("pre-commit"):  # the shim execs this
                    shim = str(root / ".git" / "hooks" / "pre-commit")
                    wanted = [sys.executable, "-m", "gitmodel", "hook", "--shim", shim, "pre-commit"]
                print(f"\n{label}: biggest imports (self time, us; one run)")
                for own, name in importtime(wanted, root, env, args.top):
                    print(f"  {own:8d}  {name}")


if __name__ == "__main__":
    main()
