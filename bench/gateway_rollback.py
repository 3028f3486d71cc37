"""Rollback through `gitmodel gateway` with real llama-server, a prober at 20 requests a second.

A registry gets three tiny llama models (gitmodel.demo.write_llama_gguf): chat v1.0.0 and
v1.1.0 answer differently under greedy decoding, v1.2.0 is a file llama.cpp refuses.  A host
clone runs `gitmodel gateway` from its host file (backend llama-cpp, reload and info URLs
at the gateway), deploys v1.0.0 then v1.1.0, and then:

  rollback   `gitmodel rollback production chat --root ROOT` (pointer move pushed to
             origin, swap, reload, info confirmed) and forward again, ROUNDS times: the
             command's time to a confirmed rollback, the gateway's own swap (POST reload:
             start llama-server beside the old one, confirm, switch), failed probes
  refused    v1.2.0 promoted and deployed: seconds until the deploy exits 1 with `current`
             reverted, failed probes meanwhile (targets: < 5 s, 0 failed)

Needs llama-server: `make llama-server` (scripts/build_llama_server.sh), or
GITMODEL_LLAMA_SERVER=PATH.

    python bench/gateway_rollback.py [--rounds 3] [--rate 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

EVIDENCE = 'training: {data_hash: "sha256:0123abcd", epochs: 3}\neval_set: bench-eval-1\n'
GITMODEL = [sys.executable, "-m", "gitmodel"]
MODEL = "chat"


def llama_server() -> Path | None:
    explicit = os.environ.get("GITMODEL_LLAMA_SERVER")
    if explicit:
        return Path(explicit)
    script = Path(__file__).resolve().parent.parent / "scripts" / "build_llama_server.sh"
    found = subprocess.run(["bash", str(script), "--path"], capture_output=True, text=True, check=False)
    path = Path(found.stdout.strip()) if found.returncode == 0 and found.stdout.strip() else None
    return path if path and os.access(path, os.X_OK) else None


def clean_env(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Bench\n\temail = bench@example.com\n[init]\n\tdefaultBranch = main\n"
    )
    return {
        **os.environ,
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
        "DVC_NO_ANALYTICS": "1",
        "XDG_CACHE_HOME": str(home / ".cache"),
    }


def sh(args: list[str], cwd: Path, env: dict[str, str], ok: int = 0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != ok:
        raise RuntimeError(f"{' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()[-400:]}")
    return proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_registry(base: Path, env: dict[str, str]) -> tuple[Path, Path]:
    from gitmodel.demo import write_llama_gguf

    origin, dev = base / "origin.git", base / "dev"
    sh(["git", "init", "-q", "--bare", str(origin)], base, env)
    sh(["git", "init", "-q", str(dev)], base, env)
    sh(["git", "remote", "add", "origin", str(origin)], dev, env)
    sh([*GITMODEL, "init", "--remote", str(base / "dvc-remote")], dev, env)
    for version, seed, broken, accuracy in (
        ("v1.0.0", 1, False, 0.9),
        ("v1.1.0", 2, False, 0.91),
        ("v1.2.0", 3, True, 0.92),
    ):
        write_llama_gguf(dev / "chat.gguf", seed=seed, broken=broken)
        (dev / "meta.yaml").write_text(
            f"base_model: tiny-llama\nmetrics: {{accuracy: {accuracy}}}\n" + EVIDENCE
        )
        sh(
            [
                *GITMODEL,
                "register",
                MODEL,
                "chat.gguf",
                "--version",
                version,
                "--meta",
                "meta.yaml",
                "--push",
            ],
            dev,
            env,
        )
    sh(["git", "push", "-q", "origin", "HEAD"], dev, env)
    return origin, dev


def promote(dev: Path, env: dict[str, str], version: str) -> None:
    for stage in ("staging", "production"):
        sh([*GITMODEL, "promote", MODEL, version, stage, "--push"], dev, env)


class Prober(threading.Thread):
    """RATE completions a second from one client; every answer's status and version."""

    def __init__(self, url: str, rate: float) -> None:
        super().__init__(daemon=True)
        self.url, self.gap = url + "/v1/completions", 1.0 / rate
        self.outcomes: list[tuple[float, int, str]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        body = json.dumps({"model": MODEL, "prompt": "hello", "max_tokens": 4, "temperature": 0}).encode()
        next_at = time.monotonic()
        while not self.halt.is_set():
            req = urllib.request.Request(self.url, data=body, headers={"X-Route-Key": "prober"})
            try:
                with urllib.request.urlopen(req, timeout=10) as answer:
                    self.outcomes.append(
                        (time.monotonic(), answer.status, answer.headers["X-Gitmodel-Version"])
                    )
            except urllib.error.HTTPError as exc:
                self.outcomes.append((time.monotonic(), exc.code, ""))
            except OSError as exc:
                self.outcomes.append((time.monotonic(), 0, str(exc)))
            next_at += self.gap
            self.halt.wait(max(0.0, next_at - time.monotonic()))

    def failed_between(self, start: float, end: float) -> tuple[int, int]:
        window = [o for o in self.outcomes if start <= o[0] <= end]
        return sum(1 for o in window if o[1] != 200), len(window)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=20.0)
    args = parser.parse_args()
    binary = llama_server()
    if binary is None:
        print("llama-server is not built: run `make llama-server` (or set GITMODEL_LLAMA_SERVER); skipped")
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so `finally` stops the gateway
    base = Path(tempfile.mkdtemp(prefix="gitmodel-gw-rollback-"))
    gateway = None
    try:
        env = clean_env(base / "home")
        origin, dev = build_registry(base, env)
        host, root = base / "host", base / "root"
        sh(["git", "clone", "-q", str(origin), str(host)], base, env)
        root.mkdir()
        port = free_port()
        url, control = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}/-/gitmodel/"
        config = {
            "root": str(root),
            "env": "production",
            "gateway": {"listen": f"127.0.0.1:{port}"},
            "models": {
                MODEL: {
                    "backend": {
                        "kind": "llama-cpp",
                        "binary": str(binary),
                        "ports": [free_port(), free_port()],
                        "args": ["-c", "256"],
                    },
                    "reload": {"url": f"{control}reload?model={MODEL}"},
                    "info_url": f"{control}info?model={MODEL}",
                }
            },
        }
        (base / "host.yaml").write_text(json.dumps(config))
        env["GITMODEL_HOST_CONFIG"] = str(base / "host.yaml")
        gateway = subprocess.Popen([*GITMODEL, "gateway"], env=env, stderr=(base / "gateway.log").open("wb"))
        deploy = [*GITMODEL, "deploy", "production", MODEL]
        for version in ("v1.0.0", "v1.1.0"):
            promote(dev, env, version)
            sh(deploy, host, env)
        prober = Prober(url, args.rate)
        prober.start()
        time.sleep(1.0)
        rollbacks, swaps, failed, probes = [], [], 0, 0
        for _ in range(args.rounds):
            for target in ("v1.0.0", "v1.1.0"):  # back, then forward again (both already on disk)
                start = time.monotonic()
                sh(
                    [*GITMODEL, "rollback", "production", MODEL, "--to", target, "--reason", "bench"],
                    host,
                    env,
                )
                end = time.monotonic()
                if target == "v1.0.0":
                    rollbacks.append(end - start)
                bad, seen = prober.failed_between(start, end + 0.5)
                failed, probes = failed + bad, probes + seen
                time.sleep(0.5)
        swaps = gateway_swaps(root, control, args.rounds)
        promote(dev, env, "v1.2.0")
        start = time.monotonic()
        refused = sh(deploy, host, env, ok=1)
        refused_s = time.monotonic() - start
        time.sleep(0.5)
        bad_refused, seen_refused = prober.failed_between(start, time.monotonic())
        prober.halt.set()
        prober.join()
        current = os.readlink(root / MODEL / "current")
        swapped_to_done = spans(root, "rollback", "done")
        refused_span = spans(root, "deploy", "reverted")[-1]
        print(
            f"gitmodel gateway rollback with llama-server ({os.cpu_count()} cores, "
            f"load {os.getloadavg()[0]:.1f}); prober at {args.rate:g} req/s\n"
        )
        print(
            f"rollback v1.1.0 -> v1.0.0 (`gitmodel rollback --root`, confirmed): median "
            f"{statistics.median(rollbacks):.2f} s, max {max(rollbacks):.2f} s over {len(rollbacks)}"
        )
        print(
            f"  of which the gateway's swap (POST reload: start llama-server beside, confirm, switch): "
            f"median {statistics.median(swaps) * 1000:.0f} ms, max {max(swaps) * 1000:.0f} ms"
        )
        print(
            "  of which swap of `current` -> confirmed by /-/gitmodel/info (journal): median "
            f"{statistics.median(swapped_to_done):.2f} s over {len(swapped_to_done)} moves"
        )
        print(f"  failed probes during {2 * args.rounds} moves: {failed} of {probes}")
        print(
            f"refused model (v1.2.0, llama.cpp exits): deploy exit 1 after {refused_s:.2f} s, `current` -> "
            f"{current}, failed probes {bad_refused} of {seen_refused}"
        )
        print(f"  of which swap -> refused (409) -> reverted (journal): {refused_span:.2f} s")
        print(f"  {refused.stderr.strip().splitlines()[-1][:200]}")
    finally:
        if gateway is not None:
            gateway.terminate()
            gateway.wait(30)
        shutil.rmtree(base, ignore_errors=True)


def journal(root: Path) -> list[dict[str, object]]:
    lines = (root / MODEL / "journal.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _at(record: dict[str, object]) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(str(record["time"]).replace("Z", "+00:00")).timestamp()


def spans(root: Path, op: str, last: str) -> list[float]:
    """Seconds from each `swapped` step of OP to the next LAST step (the journal's own clock)."""
    out, swapped = [], None
    for record in journal(root):
        if record.get("op") != op:
            continue
        if record["step"] == "swapped":
            swapped = record
        elif record["step"] == last and swapped is not None:
            out.append(_at(record) - _at(swapped))
            swapped = None
    return out


def gateway_swaps(root: Path, control: str, rounds: int) -> list[float]:
    """POST reload alone after swapping `current` by hand (what deploy does after its swap)."""
    link, out = root / MODEL / "current", []
    for _ in range(rounds):
        for version in ("v1.0.0", "v1.1.0"):
            tmp = root / MODEL / ".bench-current"
            os.symlink(f"versions/{version}", tmp)
            os.replace(tmp, link)
            start = time.monotonic()
            req = urllib.request.Request(f"{control}reload?model={MODEL}", method="POST", data=b"")
            with urllib.request.urlopen(req, timeout=60) as answer:
                assert json.loads(answer.read())["version"] == version
            out.append(time.monotonic() - start)
            time.sleep(0.3)
    return out


if __name__ == "__main__":
    main()
