"""What the one door for repo data and the bounded YAML loader cost (issue 9).

1. The door per deploy, in-process: every check a deploy now makes on a version's
   paths, names and hashes (model.yaml's artifact, the .dir manifest, one join per file
   when building and again when checking a version is hot, the symlink checks of the
   host root and of the version folder), for a one-file model, a 100-file and a
   10,000-file folder.
2. YAML: `yamlio.loads` (size limit + alias/depth walk) against a plain ruamel load of
   the same text: a real model.yaml, one of a 10,000-file folder, the default
   gitmodel.yaml; and an alias bomb, before (load, then walk it as `plain` does) and
   after (refused).

    python bench/untrusted_cost.py [--runs N]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from gitmodel import untrusted, yamlio
from gitmodel.config import DEFAULT_TEXT
from gitmodel.host import fs, materialise, place
from gitmodel.host.spec import VersionSpec
from gitmodel.refs import Version

MODEL_YAML = """\
name: support
version: v1.3.0
parent_version: v1.2.0
created_at: '2026-11-30T12:00:00Z'
created_by: Ada Tester <ada@example.com>
base_model: llama-3-8b-instruct
quantization: q4_k_m
description: Retrained with Q1 support tickets
training: {data_hash: "sha256:7b2e91ab", lr: 2.0e-4, epochs: 3, rank: 16}
inference: {temperature: 0.2, top_p: 0.9, max_tokens: 512}
prompt_template: support-v3.2
metrics: {accuracy: 0.942, hallucination_rate: 0.021, latency_p95_ms: 890}
artifact:
  path: support.gguf
  kind: file
  dvc_md5: 0123456789abcdef0123456789abcdef
  size: 4368709120
  files:
    support.gguf: sha256:%s
""" % ("ab" * 32)


def median_us(runs: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def folder(n: int) -> tuple[dict[str, Any], list[dict[str, str]]]:
    files = {
        f"weights/shard-{i:05}.safetensors": "sha256:" + hashlib.sha256(str(i).encode()).hexdigest()
        for i in range(n)
    }
    entries = [{"md5": hashlib.md5(p.encode()).hexdigest(), "relpath": p} for p in files]
    meta = {
        "artifact": {"path": "adapter", "kind": "directory", "dvc_md5": "0" * 32 + ".dir", "files": files}
    }
    return meta, entries


def _old_safe(rel: str) -> bool:
    """The check materialise made before the door (for the comparison only)."""
    parts = PurePosixPath(rel).parts
    return bool(parts) and not rel.startswith("/") and all(p not in ("", ".", "..") for p in parts)


def door_per_deploy(runs: int, tmp: Path) -> None:
    """The deploy's handling of a version's paths and hashes, with the door and before it."""
    print("1. the door per deploy (in-process, median): paths and hashes of one version")
    print(f"   {'version':<24} {'before':>10} {'with door':>10} {'added':>10}   (of which symlink checks)")
    for n in (1, 100, 10_000):
        old, new, link = _measure(n, runs if n < 10_000 else max(5, runs // 20), tmp / "root")
        label = "one file" if n == 1 else f"folder of {n:,} files"
        print(f"   {label:<24} {_ms(old):>10} {_ms(new):>10} {_ms(new - old):>10}   ({_ms(link)})")


def _measure(n: int, runs: int, root: Path) -> tuple[float, float, float]:
    meta, entries = _shape(n)
    art = untrusted.version_artifact(meta, "m")
    spec = VersionSpec(
        "support", Version(1, 0, 0), "c" * 40, art["path"], art["kind"], art["dvc_md5"], n, art["files"], ""
    )
    vdir = root / "support" / "versions" / "v1.0.0"
    shutil.rmtree(root, ignore_errors=True)
    for rel in spec.files:
        path = vdir / spec.file_path(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    fs.prepare(root, "support")

    def before() -> object:
        files = {str(k): str(v) for k, v in meta["artifact"]["files"].items()}
        listed = {str(e["relpath"]): str(e["md5"]) for e in entries}
        checked = [_old_safe(rel) for rel in listed]
        return files, checked, [vdir / spec.file_path(r) for r in files for _ in (0, 1)]

    def links() -> object:
        return fs.refuse_links(root, "support"), materialise.has_link(vdir)

    def door() -> object:
        art = untrusted.version_artifact(meta, "m")
        listed = untrusted.dir_entries(entries, "d") if entries else {}
        return art, listed, [place.at(vdir, spec, r) for r in art["files"] for _ in (0, 1)], links()

    return median_us(runs, before), median_us(runs, door), median_us(runs, links)


def _ms(us: float) -> str:
    return f"{us / 1000:.2f} ms"


def _shape(n: int) -> tuple[dict[str, Any], list[dict[str, str]]]:
    if n == 1:
        files = {"support.gguf": "sha256:" + "ab" * 32}
        return {"artifact": {"path": "support.gguf", "kind": "file", "dvc_md5": "0" * 32, "files": files}}, []
    return folder(n)


def yaml_cost(runs: int) -> None:
    print("2. YAML: bounded loads vs a plain ruamel load (median, interleaved)")
    many = "artifact:\n  files:\n" + "".join(
        f"    weights/shard-{i:05}.bin: sha256:{'ab' * 32}\n" for i in range(10_000)
    )
    docs = (
        ("model.yaml", MODEL_YAML),
        ("gitmodel.yaml (default)", DEFAULT_TEXT),
        ("model.yaml, 10,000 files", many),
    )
    for label, text in docs:
        r = runs if len(text) < 10_000 else 3
        plain, bounded = [], []
        for _ in range(r):  # interleaved, so the shared machine's load hits both alike
            plain.append(median_us(1, lambda text=text: yamlio._yaml().load(text)))
            bounded.append(median_us(1, lambda text=text: yamlio.loads(text, "x")))
        p, b = statistics.median(plain), statistics.median(bounded)
        print(
            f"   {label:<26} {len(text):>8} B  plain {_ms(p)}  bounded {_ms(b)}  ({(b - p) / p * 100:+.0f}%)"
        )
    for depth in (5, 7):
        lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
        lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, depth + 1)]
        bomb = "\n".join(lines) + "\n"
        start = time.perf_counter()
        with contextlib.suppress(yamlio.YamlTooBig):
            yamlio.loads(bomb, "bomb")
        refused = (time.perf_counter() - start) * 1000
        if depth == 5:
            start = time.perf_counter()
            yamlio.plain(yamlio._yaml().load(bomb))
            before = f"load + walk {(time.perf_counter() - start) * 1000:.0f} ms"
        else:
            before = "load + walk ~111 s, 2.4 GiB (FACTS.md; not rerun)"
        print(
            f"   alias bomb depth {depth} ({len(bomb)} B): before {before}; now refused in {refused:.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    tmp = Path(tempfile.mkdtemp(prefix="gitmodel-bench-door-"))
    try:
        door_per_deploy(args.runs, tmp)
        yaml_cost(args.runs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
