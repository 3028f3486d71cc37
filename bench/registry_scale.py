"""Registry scale: gitmodel next to GTO on the same repositories, in the same run.

Builds (a) 100 models x 20 versions with stage assignments (5,600 tags), (b) 1 model x
2,000 versions, (c) 1,000 models x 50 versions (105,000 tags), and times each command
as a user runs it (a fresh process; median of N runs). Then `register` of a 1 GiB file
against `dvc add` + `git commit` + `git tag` by hand. Prints figures only.

    python bench/registry_scale.py             # everything (about half an hour)
    python bench/registry_scale.py --quick     # skip the 100k-tag and 1 GiB cases
    python bench/registry_scale.py --help      # sizes, runs, timeouts
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_build import Built, Shape, build, clean_env, model_names, version

from gitmodel.demo import gguf_bytes, gguf_head

BIN = Path(sys.executable).parent
FIELDS = [
    "%(refname)",
    "%(objecttype)",
    "%(objectname)",
    "%(*objectname)",
    "%(taggername)",
    "%(taggeremail)",
    "%(taggerdate:unix)",
    "%(contents)",
]  # what a gitmodel read asks git for


def tool(name: str) -> list[str]:
    """The program installed next to this interpreter, else whatever PATH finds."""
    path = BIN / name
    return [str(path)] if path.exists() else [name]


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Timing:
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # user+sys: steadier than wall time on a busy machine
    timed_out: float | None = None
    error: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times else None

    def cell(self) -> str:
        if self.error:
            return f"failed ({self.error})"
        if self.median is None:
            return f"timed out > {self.timed_out:.0f} s" if self.timed_out else "-"
        digits = 3 if self.median < 10 else 1
        cpu = statistics.median(self.cpu)
        text = f"{self.median:.{digits}f} s (cpu {cpu:.{digits}f}, n={len(self.times)})"
        return text + (f", then > {self.timed_out:.0f} s" if self.timed_out else "")


@dataclass(frozen=True)
class Row:
    what: str
    ours: Timing
    theirs: Timing | None
    theirs_what: str = ""

    def ratio(self) -> str:
        if self.theirs is None or self.ours.median is None:
            return ""
        if self.theirs.median is not None:
            return f"{self.theirs.median / self.ours.median:.0f}x"
        if self.theirs.timed_out:
            return f"> {self.theirs.timed_out / self.ours.median:.0f}x"
        return ""


class Runner:
    """Times commands in one repository with a hermetic environment."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env, self.cwd = env, cwd

    def sh(self, *args: str) -> None:
        proc = subprocess.run(
            list(args), cwd=self.cwd, env=self.env, capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args)}: {proc.stderr.strip()}")

    def time(
        self,
        command: Callable[[int], Sequence[str]],
        runs: int,
        timeout: float,
        slow_after: float,
        env: dict[str, str] | None = None,
    ) -> Timing:
        """Median of `runs` runs; `command(i)` does any untimed setup and returns argv.

        A run that takes longer than `slow_after` ends the series (GTO's slow cases would
        otherwise take the better part of an hour); a timeout is reported, never waited out.
        """
        timing = Timing()
        for i in range(runs):
            argv = list(command(i))
            cpu = _child_cpu()
            start = time.perf_counter()
            try:
                proc = subprocess.run(
                    argv,
                    cwd=self.cwd,
                    env=env or self.env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                    timeout=timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                timing.timed_out = timeout
                break
            took = time.perf_counter() - start
            if proc.returncode != 0:
                last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                timing.error = f"exit {proc.returncode}: {last[:120]}"
                break
            timing.times.append(took)
            timing.cpu.append(_child_cpu() - cpu)
            if took > slow_after:
                break
        return timing


def taking_turns(
    run: Runner, command: Callable[[int], Sequence[str]], envs: list[dict[str, str]], runs: int, limit: float
) -> list[Timing]:
    """`command` under each of `envs`, run after run, the order swapped every run: a
    neighbour's load then slows both trees alike. `command` gets a distinct number per run."""
    timings = [Timing() for _ in envs]
    for i in range(runs):
        for k in range(len(envs)) if i % 2 == 0 else reversed(range(len(envs))):
            argv = list(command(i * len(envs) + k))  # its setup (a new tag...) is untimed
            one = run.time(lambda _, argv=argv: argv, 1, limit, limit, env=envs[k])
            timings[k].times += one.times
            timings[k].cpu += one.cpu
            timings[k].error = timings[k].error or one.error
            timings[k].timed_out = timings[k].timed_out or one.timed_out
    return timings


def has_commands(env: dict[str, str], *names: str) -> bool:
    proc = subprocess.run([*tool("gitmodel"), "--help"], env=env, capture_output=True, text=True, check=False)
    out = proc.stdout
    listed = {line.split()[0] for line in out.split("Commands:")[-1].splitlines() if line.strip()}
    return all(n in listed for n in names)


def _prod_versions(shape: Shape) -> tuple[int, int]:
    """(what production serves, a staged version never in production) for every model.

    GTO refuses to assign a version a stage it once had (without --force), so the
    promote is of a version both tools accept.
    """
    prod = max(k for k in range(shape.versions) if "production" in shape.envs(k))
    other = max(k for k in range(shape.versions) if shape.envs(k) == ["staging"])
    return prod, other


def scenario(
    built: Built, env: dict[str, str], args: argparse.Namespace, moves: bool, gto_timeout: float
) -> list[Row]:
    gm, gto = tool("gitmodel"), tool("gto")
    run = Runner(env, built.root)
    name = built.names[len(built.names) // 2]
    ours = {"runs": args.runs, "timeout": args.timeout, "slow_after": args.timeout}
    theirs = {"runs": args.gto_runs, "timeout": gto_timeout, "slow_after": args.slow_after}
    # Floors, to read the figures against shared/FACTS.md: this machine's speed varies
    # with its neighbours' load, and these two move with it.
    fmt = "--format=" + "%00".join(FIELDS) + "%00"
    rows = [
        Row("floor: python -c pass", run.time(lambda i: [sys.executable, "-c", "pass"], **ours), None),
        Row(
            "floor: git for-each-ref (names, targets, bodies)",
            run.time(lambda i: ["git", "for-each-ref", fmt, "refs/tags"], **ours),
            None,
        ),
        Row(
            "git show-ref -d --tags (what list reads first)",
            run.time(lambda i: ["git", "show-ref", "-d", "--tags"], **ours),
            None,
        ),
    ]
    # list keeps nothing between runs: a first read in a clone, or one after a new tag,
    # reads what every read does (gitmodel/listingread.py).
    lists: list[tuple[str, Callable[[int], list[str]]]] = [("list", lambda i: [*gm, "list"])]
    if args.against:  # the same reads by another source tree, taking turns with this one
        theirs_env = {**env, "PYTHONPATH": str(Path(args.against).resolve())}
        pairs = [taking_turns(run, c, [env, theirs_env], args.runs, args.timeout) for _, c in lists]
    else:
        pairs = [[run.time(c, **ours)] for _, c in lists]
    rows += [Row(what, pair[0], None) for (what, _), pair in zip(lists, pairs, strict=True)]
    rows[-1] = Row("list", pairs[-1][0], run.time(lambda i: [*gto, "show"], **theirs), "gto show")
    for (what, _), pair in zip(lists, pairs, strict=True):
        rows += [Row(f"{what} [--against]", t, None) for t in pair[1:]]
    rows += [
        Row(
            f"show {name}#production",
            run.time(lambda i: [*gm, "show", f"{name}#production"], **ours),
            run.time(lambda i: [*gto, "show", f"{name}#production", "--version"], **theirs),
            f"gto show {name}#production --version",
        ),
        Row(
            f"history {name}",
            run.time(lambda i: [*gm, "history", name], **ours),
            run.time(lambda i: [*gto, "history", name], **theirs),
            f"gto history {name}",
        ),
    ]

    def new_bytes(i: int) -> list[str]:
        (built.root / f"models/{name}/weights.gguf").write_bytes(
            gguf_bytes(1 << 20, int.from_bytes(os.urandom(8)))
        )
        return [*gm, "register", name, f"models/{name}/weights.gguf", "-m", f"bench run {i}"]

    def new_commit(i: int) -> list[str]:
        run.sh("git", "commit", "-q", "--allow-empty", "-m", f"gto bench run {i}")
        return [*gto, "register", name]

    rows.append(
        Row(
            f"register {name} (1 MiB)",
            run.time(new_bytes, **ours),
            run.time(new_commit, **theirs),
            f"gto register {name} (on a new commit)",
        )
    )
    if moves:
        prod, other = _prod_versions(built.shape)
        # Each run moves another model: ours the first ones, GTO's the ones after them.
        names = built.names

        def pick(i: int) -> str:
            return names[i % len(names)]

        assign = run.time(
            lambda i: [
                *gto,
                "assign",
                pick(args.runs + i),
                "--version",
                version(other),
                "--stage",
                "production",
            ],
            **theirs,
        )
        gto_assign = f"gto assign NAME --version {version(other)} --stage production"
        rows.append(
            Row(
                f"promote NAME {version(other)} production",
                run.time(lambda i: [*gm, "promote", pick(i), version(other), "production"], **ours),
                assign,
                gto_assign,
            )
        )
        rows.append(
            Row(
                f"rollback production NAME (to {version(prod)})",
                run.time(lambda i: [*gm, "rollback", "production", pick(i)], **ours),
                assign,
                "(the same gto assign)",
            )
        )
    return rows


def print_ratios(rows: list[Row]) -> None:
    """Each read against the for-each-ref floor and `python -c pass` of the same run, in wall
    time and in CPU time (steadier than wall time on a shared machine)."""

    def medians(r: Row) -> tuple[float, float] | None:
        t = r.ours
        return (statistics.median(t.times), statistics.median(t.cpu)) if t.times else None

    found = {r.what.split(" (")[0]: medians(r) for r in rows}
    floor, start = found.get("floor: git for-each-ref"), found.get("floor: python -c pass")
    if floor is None or start is None:
        return
    w = max(44, *(len(r.what) for r in rows))
    print(f"  {'ratios, same run':<{w}} {'x for-each-ref (wall, cpu)':<34} x python -c pass (wall, cpu)")
    for r in rows:
        m = medians(r)
        if m is None or r.what.startswith(("floor", "register", "promote", "rollback")):
            continue
        target = "  target <= 1.2" if r.what.startswith("list") else ""
        vs_floor = f"{m[0] / floor[0]:.2f}, {m[1] / floor[1]:.2f}{target}"
        print(f"  {r.what:<{w}} {vs_floor:<34} {m[0] / start[0]:.1f}, {m[1] / start[1]:.1f}")


def print_table(title: str, rows: list[Row]) -> None:
    print(f"\n{title}")
    table = [("gitmodel", "median", "GTO", "median", "GTO/gitmodel")]
    table += [
        (r.what, r.ours.cell(), r.theirs_what or "-", r.theirs.cell() if r.theirs else "-", r.ratio())
        for r in rows
    ]
    widths = [max(len(row[c]) for row in table) for c in range(5)]
    for row in table:
        print("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def big_register(tmp: Path, env: dict[str, str], args: argparse.Namespace) -> None:
    """`gitmodel register` of a 1 GiB file against the same steps typed by hand."""
    size = args.big_mib << 20
    meta = tmp / "big-meta.yaml"
    meta.write_text("base_model: llama-3-8b-instruct\nquantization: q4_k_m\nmetrics: {accuracy: 0.9}\n")
    by_hand = (
        "dvc add -q models/big/weights.gguf && git add models/big/weights.gguf.dvc models/big/.gitignore"
        " && git commit -q -m 'register big v1.0.0' && git tag -a big@v1.0.0 -m 'register big v1.0.0'"
    )
    results: dict[str, list[float]] = {"gitmodel": [], "by hand": []}
    for i in range(args.big_runs):
        order = ["gitmodel", "by hand"] if i % 2 == 0 else ["by hand", "gitmodel"]
        for method in order:
            root = tmp / f"big-{i}-{method.replace(' ', '-')}"
            root.mkdir()
            run = Runner(env, root)
            run.sh("git", "init", "-q")
            run.sh(*tool("gitmodel"), "init", "--remote", str(tmp / f"big-remote-{i}"))
            (root / "models/big").mkdir(parents=True)
            with (root / "models/big/weights.gguf").open("wb") as fh:
                head = gguf_head(size)  # register reads a .gguf's header: a valid one, then noise
                fh.write(head)
                rest = size - len(head)
                for _ in range(rest >> 24):
                    fh.write(os.urandom(1 << 24))
                fh.write(os.urandom(rest & ((1 << 24) - 1)))
            ours = [*tool("gitmodel"), "register", "big", "models/big/weights.gguf", "--meta", str(meta)]
            argv = ["sh", "-c", by_hand] if method == "by hand" else ours
            timing = run.time(lambda _, argv=argv: argv, 1, args.timeout * 20, args.timeout * 20)
            if timing.error or not timing.times:
                print(f"  {method}: {timing.cell()}")
                return
            results[method].extend(timing.times)
            shutil.rmtree(root)
            shutil.rmtree(tmp / f"big-remote-{i}", ignore_errors=True)
    ours, hand = statistics.median(results["gitmodel"]), statistics.median(results["by hand"])
    print(f"\nregister of a {args.big_mib} MiB file (median of {args.big_runs}, fresh repository each run)")
    print(f"  gitmodel register                           {ours:.2f} s  runs: {_fmt(results['gitmodel'])}")
    print(f"  dvc add + git add/commit + git tag by hand  {hand:.2f} s  runs: {_fmt(results['by hand'])}")
    print(f"  gitmodel / by hand: {ours / hand:.2f} (target <= 1.20)")


def _fmt(times: list[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in times)


def versions_of(cmd: list[str]) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return (proc.stdout.strip().splitlines() or ["?"])[-1]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5, help="runs per gitmodel command (median)")
    p.add_argument("--gto-runs", type=int, default=3, help="runs per GTO command (median)")
    p.add_argument("--timeout", type=float, default=60, help="seconds before a gitmodel run is abandoned")
    p.add_argument("--gto-timeout", type=float, default=300, help="seconds before a GTO run is abandoned")
    p.add_argument(
        "--gto-timeout-large",
        type=float,
        default=180,
        help="the same for registry (c), where GTO's show alone ran > 20 min",
    )
    p.add_argument(
        "--slow-after", type=float, default=20, help="stop repeating a GTO command slower than this"
    )
    p.add_argument("--quick", action="store_true", help="skip the 100k-tag registry and the 1 GiB register")
    p.add_argument(
        "--big", action=argparse.BooleanOptionalAction, default=True, help="time the 1 GiB register"
    )
    p.add_argument("--big-mib", type=int, default=1024, help="size of the big file in MiB")
    p.add_argument("--big-runs", type=int, default=3)
    p.add_argument("--no-gto", action="store_true", help="time gitmodel only")
    p.add_argument(
        "--against",
        metavar="TREE",
        help="also time list's three reads with the gitmodel package of another source tree"
        " (e.g. `git archive main gitmodel | tar -x -C TREE`), taking turns with this one",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (printed)")
    p.add_argument("--a", default="100x20", metavar="MODELSxVERSIONS", help="registry (a), with stages")
    p.add_argument("--b", default="1x2000", metavar="MODELSxVERSIONS", help="registry (b)")
    p.add_argument("--c", default="1000x50", metavar="MODELSxVERSIONS", help="registry (c)")
    p.add_argument("--only", default="a,b,c", help="which registries to build and time")
    p.add_argument(
        "--reuse",
        metavar="DIR",
        help="build each registry once into DIR and time a copy of it (DIR is kept for later runs)",
    )
    return p.parse_args(argv)


def shapes(args: argparse.Namespace) -> list[tuple[Shape, bool]]:
    def dims(text: str) -> tuple[int, int]:
        m, v = text.lower().split("x")
        return int(m), int(v)

    wanted = set(args.only.split(","))
    if args.quick:
        wanted.discard("c")
    out = []
    if "a" in wanted:  # every version staged, 80% of them promoted to production
        out.append((Shape("a", *dims(args.a), staging=1.0, production=0.8), True))
    if "b" in wanted:  # every 10th version staged, every 20th promoted to production
        out.append((Shape("b", *dims(args.b), staging=0.1, production=0.05), False))
    if "c" in wanted:  # every version staged, every 10th promoted to production; 100 per commit
        out.append((Shape("c", *dims(args.c), staging=1.0, production=0.1, batch=100), False))
    return out


def registry(tmp: Path, shape: Shape, env: dict[str, str], args: argparse.Namespace, objects: bool) -> Built:
    """A fresh registry; with --reuse DIR, a copy of the one built there once (kept)."""
    if not args.reuse:
        return build(
            tmp / f"registry-{shape.label}",
            shape,
            env,
            tool("gitmodel"),
            tmp / f"dvc-remote-{shape.label}",
            objects,
        )
    kept = Path(args.reuse) / f"{shape.label}-{shape.models}x{shape.versions}"
    if not (kept / "registry" / ".git").is_dir():
        shutil.rmtree(kept, ignore_errors=True)
        kept.mkdir(parents=True)
        build(kept / "registry", shape, env, tool("gitmodel"), kept / "dvc-remote", objects)
    root = tmp / f"registry-{shape.label}"
    shutil.copytree(kept / "registry", root, symlinks=True)
    return Built(root, shape, shape.tags(), model_names(shape.models))


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.no_gto:
        args.gto_runs = 0
    tmp = Path(tempfile.mkdtemp(prefix="gitmodel-bench-"))
    env = clean_env(tmp / "home")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    if "PYTHONPATH" in os.environ:  # a worktree measured through a shared venv
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    try:
        print(
            f"gitmodel registry scale benchmark, {dt.date.today()}, {platform.node()}, "
            f"{os.cpu_count()} cores, Python {platform.python_version()}"
        )
        print(
            f"  {versions_of(['git', '--version'])}; dvc {versions_of([*tool('dvc'), '--version'])}; "
            f"{versions_of([*tool('gto'), '--version'])}"
        )
        moves_ok = has_commands(env, "promote", "rollback")
        if not moves_ok:
            print("  note: this gitmodel has no promote/rollback yet; those rows are skipped")
        for shape, moves in shapes(args):
            start = time.perf_counter()
            built = registry(tmp, shape, env, args, objects=moves and moves_ok)
            title = (
                f"({shape.label}) {shape.models} models x {shape.versions} versions, "
                f"{built.tags:,} tags (built in {time.perf_counter() - start:.0f} s)"
            )
            limit = args.gto_timeout_large if shape.label == "c" else args.gto_timeout
            rows = scenario(built, env, args, moves and moves_ok, limit)
            print_table(title, rows)
            print_ratios(rows)
            shutil.rmtree(built.root, ignore_errors=True)
        if args.big and not args.quick:
            big_register(tmp, env, args)
    finally:
        if args.keep:
            print(f"\nkept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
