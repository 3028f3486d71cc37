"""What `gitmodel serve`'s bounds cost (issue 10): GGUF header walks and requests.

1. GGUF: the slowest header the bounds still read (a string array, and an array of
   empty arrays, each one entry under the walking budget), the same plus one (refused),
   crafted headers (2^60 strings, 10,000-deep arrays), and a Llama-3-sized vocabulary.
2. HTTP, in-process on 127.0.0.1: sequential completions, malformed requests (400), and
   a connection over the per-client cap (429), one client at a time.

    python bench/serve_hardening.py [--runs N]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import struct
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from gitmodel import gguf_header as gh

STRING, ARRAY, UINT8 = 8, 9, 0


def header(count_type: int, count: int) -> bytes:
    key = struct.pack("<Q", 1) + b"a"
    return struct.pack("<4sIQQ", b"GGUF", 3, 0, 1) + key + struct.pack("<IIQ", ARRAY, count_type, count)


def sparse(path: Path, head: bytes, tail: int) -> Path:
    """`head`, then `tail` zero bytes as a hole: zeros are empty strings or empty arrays."""
    with open(path, "wb") as fh:
        fh.write(head)
        fh.truncate(len(head) + tail + 64)
    return path


def timed(fn: Callable[[], object], runs: int) -> tuple[float, str]:
    times, outcome = [], ""
    for _ in range(runs):
        start = time.perf_counter()
        try:
            fn()
            outcome = "read"
        except gh.InvalidGGUF:
            outcome = "refused"
        times.append(time.perf_counter() - start)
    return statistics.median(times), outcome


def gguf_figures(tmp: Path, runs: int) -> None:
    budget = gh.MAX_ITEMS - 1  # the key-value pair took one
    cases = {
        f"string array, {budget:,} entries": sparse(tmp / "s.gguf", header(STRING, budget), budget * 8),
        f"string array, {budget + 1:,} entries": sparse(tmp / "s1.gguf", header(STRING, budget + 1), 0),
        f"nested arrays, {budget // 8:,} of them": sparse(
            tmp / "n.gguf", header(ARRAY, budget // 8), budget // 8 * 12
        ),
        f"nested arrays, {budget // 8 + 1:,} of them": sparse(
            tmp / "n1.gguf", header(ARRAY, budget // 8 + 1), 0
        ),
        "string array of 2^60": sparse(tmp / "h.gguf", header(STRING, 1 << 60), 0),
    }
    deep = struct.pack("<IQ", UINT8, 0)
    for _ in range(10_000):
        deep = struct.pack("<IQ", ARRAY, 1) + deep
    deep_head = (
        struct.pack("<4sIQQ", b"GGUF", 3, 0, 1) + struct.pack("<Q", 1) + b"a" + struct.pack("<I", ARRAY)
    )
    cases["arrays 10,000 deep"] = sparse(tmp / "d.gguf", deep_head + deep, 0)
    cases["Llama-3-sized vocabulary (128,256 tokens + 280,147 merges)"] = llama3(tmp / "l.gguf")
    print("GGUF header scan (median of", runs, "runs)")
    for name, path in cases.items():
        seconds, outcome = timed(lambda p=path: gh.read_header(p), runs)  # type: ignore[misc]
        print(f"  {name:<62} {outcome:<8} {seconds * 1000:8.1f} ms")


def llama3(path: Path) -> Path:
    import gguf
    import numpy as np

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_file_type(15)
    w.add_token_list([f"tok{i}" for i in range(128_256)])
    w.add_token_merges([f"t{i} m{i}" for i in range(280_147)])
    w.add_token_scores([0.0] * 128_256)
    w.add_tensor("output_norm.weight", np.ones(8, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def http_figures(tmp: Path, runs: int) -> None:
    from gitmodel.server.app import App
    from gitmodel.server.handler import Server
    from gitmodel.server.limits import Limits

    model = tmp / "root" / "support"
    version = model / "versions" / "v1.0.0"
    version.mkdir(parents=True)
    (version / "w.bin").write_bytes(b"weights")
    (version / "gitmodel-version.json").write_text(
        '{"model": "support", "version": "v1.0.0", "dvc_md5": "0cc175b9c0f1b6a831c399e269772661",'
        ' "artifact": "w.bin", "kind": "file", "files": {"w.bin": "sha256:' + "0" * 64 + '"}}'
    )
    (model / "current").symlink_to("versions/v1.0.0")
    app = App(tmp / "root", "support")
    app.start()
    servers = [Server(("127.0.0.1", 0), app, Limits(max_per_client=1)) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    port = servers[0].server_address[1]

    def ask(data: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(data)
            chunks = []
            while chunk := sock.recv(1 << 16):
                chunks.append(chunk)
        return b"".join(chunks)

    good = b'POST /v1/completions HTTP/1.0\r\nContent-Length: 19\r\n\r\n{"prompt": "hello"}'
    bad = b'POST /v1/completions HTTP/1.0\r\nContent-Length: 20\r\n\r\n{"prompt": "\\ud800"}'
    n = 200 * runs
    print(f"HTTP, one client, {n} requests each")
    for name, data, status in (("completion (200)", good, b" 200 "), ("lone surrogate (400)", bad, b" 400 ")):
        start = time.perf_counter()
        for _ in range(n):
            assert status in ask(data)[:16]
        print(f"  {name:<30} {n / (time.perf_counter() - start):8.0f} /s")
    port = servers[1].server_address[1]  # a second server: its one slot held throughout
    holder = socket.create_connection(("127.0.0.1", port), timeout=5)
    holder.sendall(b"GET /health HTTP/1.0\r\n")  # holds the one slot
    time.sleep(0.1)
    start = time.perf_counter()
    for _ in range(n):
        assert b" 429 " in ask(b"GET /health HTTP/1.0\r\n\r\n")[:16]
    print(f"  {'over the cap (429)':<30} {n / (time.perf_counter() - start):8.0f} /s")
    holder.close()
    for server in servers:
        server.shutdown()
        server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gitmodel-bench-") as tmp:
        gguf_figures(Path(tmp), args.runs)
        http_figures(Path(tmp), args.runs)


if __name__ == "__main__":
    main()
