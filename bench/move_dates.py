"""What dating every move after the model's newest tag costs (issue 12 item 7).

A move takes its model's newest tag date from the state it already loaded (no extra
read; `newest_date`, a `git for-each-ref` on the model's tags, is the fallback for a
caller without one) and asks `git var` for the date git would use, then tags with that
date or one second after the newest.  This prints medians on registries built as
gitmodel writes them (bench/scale_build.py), next to the `git tag -a` a move always ran.

    python bench/move_dates.py            # 1 model x 2,000 versions; 100 models x 20
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_build import Shape, build, clean_env

from gitmodel import git
from gitmodel.git.tags import _date_after
from gitmodel.moves import newest_date
from gitmodel.registry import Registry

RUNS = 15


def median_ms(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def measure(repo: Path, model: str) -> str:
    state = Registry.load_model(repo, model)
    newest = state.newest_time()
    assert newest == newest_date(repo, model)
    head = git.out(["rev-parse", "HEAD"], repo)
    n = iter(range(10**6))
    return (
        f"state.newest_time {median_ms(state.newest_time):.2f} ms, "
        f"newest_date (fallback read) {median_ms(lambda: newest_date(repo, model)):.1f} ms, "
        f"git var {median_ms(lambda: _date_after(repo, newest)):.1f} ms, "
        f"git tag -a {median_ms(lambda: git.create_tag(repo, f'probe-{next(n)}', head, 'probe')):.1f} ms"
    )


def main() -> None:
    gitmodel = [str(Path(sys.executable).parent / "gitmodel")]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        env = clean_env(base / "home")
        os.environ.update(env)
        for shape in (
            Shape("one", models=1, versions=2000, staging=1.0, production=0.5),
            Shape("many", models=100, versions=20, staging=1.0, production=0.5),
        ):
            built = build(
                base / shape.label, shape, env, gitmodel, base / f"{shape.label}-remote", objects=False
            )
            figures = measure(built.root, built.names[0])
            size = f"{shape.models} models x {shape.versions} versions ({built.tags} tags)"
            print(f"{size}: {figures} (median of {RUNS})")


if __name__ == "__main__":
    main()
