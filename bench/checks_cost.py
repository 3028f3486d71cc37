"""What a functional check costs: reading the file, RE2 against Python's re, and a run.

    python bench/checks_cost.py [--quick]

Prints medians. The run is against a real llama-server with a tiny llama GGUF when
`make llama-server` has built it (scripts/build_llama_server.sh --path), else skipped.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from gitmodel import checkrun, checks, http
from gitmodel.demo import write_llama_gguf

REPO = Path(__file__).resolve().parent.parent


def median_ms(fn: Callable[[], object], n: int) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def twenty_checks() -> str:
    lines = ["max_tokens: 16", "checks:"]
    for i in range(20):
        lines += [
            f'  - prompt: "Question {i}: how do I reset my password?"',
            '    regex: "(?i)^\\\\s*(reset|password|account)\\\\b"',
            '    contains: "password"',
            "    max_length: 400",
        ]
    return "\n".join(lines) + "\n"


def regex_figures(quick: bool) -> None:
    print("regex: Python's re (backtracking) against RE2 (linear), one search each")
    cases = [("(a+)+$", "a" * 22 + "b"), (".*.*.*x", "a" * (200 if quick else 400))]
    for pattern, text in cases:
        start = time.perf_counter()
        re.search(pattern, text)
        slow = time.perf_counter() - start
        (one,) = checks.parse(f"checks:\n  - prompt: p\n    regex: {json.dumps(pattern)}\n", "b").items
        big = (text[:-1] * (100_000 // len(text)))[: checks.MAX_ANSWER]  # what judge() reads at most
        fast = median_ms(lambda one=one, big=big: one.judge(big), 5)
        print(
            f"  {pattern!r:12} re: {len(text):>3} chars {slow * 1000:9.1f} ms   "
            f"RE2: {len(big):>6} chars {fast:6.2f} ms"
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_figures(n_prompts: int) -> None:
    binary = Path(
        subprocess.run(
            ["bash", str(REPO / "scripts" / "build_llama_server.sh"), "--path"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    if not binary.is_file():
        print("run: skipped (llama-server not built: make llama-server)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        model, port = Path(tmp) / "m.gguf", free_port()
        write_llama_gguf(model, seed=1)
        args = [str(binary), "-m", str(model), "--host", "127.0.0.1", "--port", str(port), "-t", "1"]
        proc = subprocess.Popen([*args, "-c", "512"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    if http.get(url + "/health", timeout=1).ok:
                        break
                except Exception:
                    pass
                time.sleep(0.05)
            text = "checks:\n" + "".join(
                f'  - {{prompt: "Question {i}", min_length: 1, max_tokens: 16}}\n' for i in range(n_prompts)
            )
            known = checks.parse(text, "bench")
            result = checkrun.run(known, url, "m", timeout=60)
            took = median_ms(lambda: checkrun.run(known, url, "m", timeout=60), 5)
            print(
                f"run: {n_prompts} prompts x 16 tokens against llama-server (tiny llama GGUF, 1 thread): "
                f"{took:.0f} ms median ({result.describe()})"
            )
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    quick = parser.parse_args().quick
    text = twenty_checks()
    parse_ms = median_ms(lambda: checks.parse(text, "bench"), 20 if quick else 100)
    print(f"parse: 20 checks with a regex each ({len(text)} bytes): {parse_ms:.2f} ms median")
    regex_figures(quick)
    run_figures(10)


if __name__ == "__main__":
    sys.exit(main())
