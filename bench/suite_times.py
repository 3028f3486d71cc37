"""Test suite wall time per file, from pytest's JUnit XML (setup + call + teardown per test).

    python -m pytest -p no:cacheprovider --junitxml=/tmp/after.xml
    python bench/suite_times.py /tmp/after.xml                  # one column
    python bench/suite_times.py /tmp/before.xml /tmp/after.xml  # before and after
    python bench/suite_times.py /tmp/full.xml /tmp/quick.xml --costly 0.3  # tests/plugin/costly.txt

A session fixture's build is charged to the first test that asks for it.  Wall time on
a shared machine varies; the `cpu` line says how much of it this process really ran.
"""

from __future__ import annotations

import argparse
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

COSTLY = Path(__file__).resolve().parent.parent / "tests" / "plugin" / "costly.txt"


def per_file(xml: Path) -> tuple[dict[str, float], dict[str, float], dict[str, int], float]:
    """{file: wall seconds}, {file: CPU seconds}, {file: tests}, and the run's wall total."""
    root = ET.parse(xml).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite is not None, f"{xml} is not a JUnit report"
    seconds: dict[str, float] = defaultdict(float)
    cpu: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for case in suite.iter("testcase"):
        if case.find("skipped") is not None and float(case.get("time", 0)) == 0:
            continue
        name = case.get("classname", "").removeprefix("tests.").split(".")[0] or "?"
        seconds[name + ".py"] += float(case.get("time", 0))
        counts[name + ".py"] += 1
        for prop in case.iter("property"):
            if prop.get("name") == "cpu_s":  # recorded by tests/plugin/timing.py
                cpu[name + ".py"] += float(prop.get("value", 0))
    return dict(seconds), dict(cpu), dict(counts), float(suite.get("time", 0))


def costly(reports: list[Path], limit: float) -> list[str]:
    """Tests over LIMIT CPU seconds, but the cheapest of them in each file stays quick.

    So every file keeps one of its end-to-end tests in the quick run.  The first report is
    a full run; later ones are `-m "not slow"` runs or single files.  The keeper is taken
    from the latest report that ran one (a test a quick run ran is not slow).
    """
    cost: dict[str, float] = {}
    seen: dict[str, int] = {}  # the latest report that ran the test
    for n, xml in enumerate(reports):  # a test measured in several reports counts at its latest figure
        for case in ET.parse(xml).getroot().iter("testcase"):
            cpu = [float(p.get("value", 0)) for p in case.iter("property") if p.get("name") == "cpu_s"]
            nodeid = case.get("classname", "").replace(".", "/") + ".py::" + case.get("name", "")
            if cpu:
                cost[nodeid] = sum(cpu)
                seen[nodeid] = n
    by_file: dict[str, list[tuple[int, float, str]]] = defaultdict(list)
    for nodeid, cpu in cost.items():
        if cpu > limit:
            by_file[nodeid.split("::")[0]].append((-seen[nodeid], cpu, nodeid))
    return sorted(nodeid for over in by_file.values() for _, _, nodeid in sorted(over)[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path, help="JUnit XML files (two at most for the table)")
    parser.add_argument("--costly", type=float, metavar="CPU_S", help="write tests/plugin/costly.txt")
    args = parser.parse_args()
    if args.costly is not None:
        ids = costly(args.reports, args.costly)
        names = ", ".join(p.name for p in args.reports)
        head = f"# tests over {args.costly} s CPU in {names}: kept out of test-quick\n"
        COSTLY.write_text(head + "".join(i + "\n" for i in ids))
        print(f"{len(ids)} tests written to {COSTLY}")
        return
    runs = [per_file(p) for p in args.reports[:2]]
    last = runs[-1]
    files = sorted({f for run in runs for f in run[0]}, key=lambda f: -last[0].get(f, 0))
    head = ["file", "tests"]
    for path in args.reports[:2]:
        head += [f"{path.stem} wall s", f"{path.stem} CPU s"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))

    def cpu(run: tuple[dict[str, float], dict[str, float], dict[str, int], float], f: str | None) -> str:
        value = sum(run[1].values()) if f is None else run[1].get(f)
        return "–" if not run[1] else f"{value or 0:.1f}"

    for f in files:
        cells = [f, str(last[2].get(f, runs[0][2].get(f, 0)))]
        for run in runs:
            cells += [f"{run[0].get(f, 0):.1f}", cpu(run, f)]
        print("| " + " | ".join(cells) + " |")
    totals = ["**total**", str(sum(last[2].values()))]
    for run in runs:
        totals += [f"**{run[3]:.0f}**", cpu(run, None)]
    print("| " + " | ".join(totals) + " |")


if __name__ == "__main__":
    main()
