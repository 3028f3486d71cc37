"""What a host pays per deploy to check the pointer, signature check included.

A registry with one small version, promoted to production by alice (SSH-signed) and
approved by bob; a host clone that already serves it.  Then, medians of --runs:

  pointer        resolve the pointer (the model's tags, one for-each-ref) as deploy does
  trust file     read and validate the trust file
  check 1 key    gitmodel.trust.check_move: one `git verify-tag` (git + ssh-keygen)
  check 2 keys   the same with `approvals: {production: 2}`: the move and bob's approval
  deploy         a no-op deploy in-process (`unchanged`, --no-fetch): no trust file,
                 one key, two keys; the difference is what signing costs a deploy
  deploy (CLI)   the same as a `gitmodel deploy --no-fetch` process, no trust / one key
  history        reading signatures in `history` over unsigned events (no process at all)

Target (issue 9): host-side verification <= 0.1 s per deploy plus the signature check.

    python bench/host_verify.py [--runs 15] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from gitmodel.demo import gguf_bytes

# The default gitmodel.yaml requires this evidence (besides metrics.accuracy) for production.
EVIDENCE = 'training: {data_hash: "sha256:0123abcd", epochs: 3}\neval_set: bench-eval-1\n'


def sh(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def gm(cwd: Path, *args: str) -> str:
    return sh([sys.executable, "-m", "gitmodel", *args], cwd, dict(os.environ))


def median_ms(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm: imports, page cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def isolate(base: Path) -> None:
    """This process and its children see a fresh HOME and git config (a bench, not the core)."""
    home = base / "home"
    home.mkdir()
    config = "[user]\n\tname = Bench\n\temail = bench@example.com\n[init]\n\tdefaultBranch = main\n"
    (home / ".gitconfig").write_text(config)
    os.environ.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=str(home / ".gitconfig"),
        DVC_NO_ANALYTICS="1",
        XDG_CACHE_HOME=str(home / ".cache"),
    )
    os.environ["GITMODEL_HOST_CONFIG"] = str(base / "host.yaml")  # none: never the real /etc
    os.environ.pop("GITMODEL_TRUST_FILE", None)


def build(base: Path) -> tuple[Path, Path, dict[str, str]]:
    keys = {}
    for name in ("alice", "bob"):
        sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(base / name)], base)
        keys[name] = (base / f"{name}.pub").read_text().strip()
    origin, dev, host = base / "origin.git", base / "dev", base / "host"
    sh(["git", "init", "-q", "--bare", str(origin)], base)
    sh(["git", "init", "-q", str(dev)], base)
    sh(["git", "remote", "add", "origin", str(origin)], dev)
    gm(dev, "init", "--remote", str(base / "dvc-remote"))
    (dev / "m.gguf").write_bytes(gguf_bytes(256 * 1024, int.from_bytes(os.urandom(8))))
    (dev / "meta.yaml").write_text("base_model: llama-3-8b-instruct\nmetrics: {accuracy: 0.9}\n" + EVIDENCE)
    gm(dev, "register", "support", "m.gguf", "--version", "v1.0.0", "--meta", "meta.yaml", "--push")
    sh(["git", "push", "-q", "origin", "main"], dev)
    sh(["git", "config", "gpg.format", "ssh"], dev)
    sh(["git", "config", "user.signingkey", str(base / "alice.pub")], dev)
    gm(dev, "promote", "support", "v1.0.0", "staging", "--push")
    gm(dev, "promote", "support", "v1.0.0", "production", "--push")
    sh(["git", "config", "user.signingkey", str(base / "bob.pub")], dev)
    gm(dev, "approve", "support", "production", "--push")
    sh(["git", "clone", "-q", str(origin), str(host)], base)
    gm(host, "deploy", "production", "support", "--root", str(base / "root"))
    return dev, host, keys


def trust_text(keys: dict[str, str], approvals: bool) -> str:
    text = f"keys:\n  alice: {keys['alice']}\n  bob: {keys['bob']}\n"
    text += "environments:\n  staging: [alice, bob]\n  production: [alice, bob]\n"
    return text + ("approvals:\n  production: 2\n" if approvals else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="gitmodel-bench-verify-", dir=args.workdir))
    isolate(base)
    _dev, host, keys = build(base)
    root = base / "root"
    one, two = base / "trust1.yaml", base / "trust2.yaml"
    one.write_text(trust_text(keys, approvals=False))
    two.write_text(trust_text(keys, approvals=True))

    from gitmodel import trust
    from gitmodel.host.deploy import deploy
    from gitmodel.registry import Registry
    from gitmodel.signing import signatures

    state = Registry.load_model(host, "support")
    tag = state.stage_events("production")[-1].tag
    t1, t2 = trust.load(one), trust.load(two)
    assert trust.check_move(host, tag, "production", t2).approvers == ("bob",)
    runs = args.runs
    unsigned = [e for e in state.timeline() if e.ref.stage is None]  # registrations: unsigned

    def no_op(trust_file: Path | None) -> None:
        done = deploy(host, "production", "support", root, fetch=False, trust_file=trust_file)
        assert done.action == "unchanged", done

    def cli(trust_file: Path | None) -> None:
        extra = ["--trust-file", str(trust_file)] if trust_file else []
        gm(host, "deploy", "production", "support", "--root", str(root), "--no-fetch", *extra)

    rows = [
        ("pointer (load_model)", median_ms(lambda: Registry.load_model(host, "support"), runs)),
        ("trust file (load)", median_ms(lambda: trust.load(two), runs)),
        ("check 1 key", median_ms(lambda: trust.check_move(host, tag, "production", t1), runs)),
        ("check 2 keys", median_ms(lambda: trust.check_move(host, tag, "production", t2), runs)),
        ("deploy, no trust file", median_ms(lambda: no_op(None), runs)),
        ("deploy, 1 key", median_ms(lambda: no_op(one), runs)),
        ("deploy, 2 keys", median_ms(lambda: no_op(two), runs)),
        ("deploy (CLI), no trust", median_ms(lambda: cli(None), max(5, runs // 3))),
        ("deploy (CLI), 1 key", median_ms(lambda: cli(one), max(5, runs // 3))),
        ("history: unsigned events", median_ms(lambda: signatures(host, unsigned * 100), runs)),
    ]
    print(f"host-side verification, medians of {runs} runs (ms); workdir {base}")
    for name, ms in rows:
        print(f"  {name:<26} {ms:8.2f}")
    figures = dict(rows)
    extra = figures["deploy, 1 key"] - figures["deploy, no trust file"]
    approval = figures["deploy, 2 keys"] - figures["deploy, no trust file"]
    print(f"  signature check adds {extra:.1f} ms to a deploy (1 key), {approval:.1f} ms with an approval")
    within = figures["deploy, no trust file"] <= 100
    verdict = "met" if within else "MISSED"
    print(f"  target: deploy's own checks <= 100 ms plus the signature check: {verdict}")


if __name__ == "__main__":
    main()
