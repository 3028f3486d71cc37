"""gitmodel serve: host layout contract, GGUF headers, and the server as a real process."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from plugin.server import (
    Response,
    ServerProcess,
    make_version,
    swap_current,
    two_gguf_versions,
    wait_for,
    write_gguf,
    write_sparse_gguf,
)

from gitmodel import hostlayout
from gitmodel.errors import InvalidName
from gitmodel.gguf_header import InvalidGGUF, read_header
from gitmodel.server.faults import Faults, parse_flag

# --- host layout (pure) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "dirname"),
    [
        ("support", "support"),
        ("acme:support", "acme=support"),
        ("acme/support", "acme=support"),
    ],
)
def test_layout_paths(tmp_path: Path, model: str, dirname: str) -> None:
    assert hostlayout.model_root(tmp_path, model) == tmp_path / dirname
    assert hostlayout.versions_dir(tmp_path, model) == tmp_path / dirname / "versions"
    assert hostlayout.current_link(tmp_path, model) == tmp_path / dirname / "current"
    vdir = hostlayout.version_dir(tmp_path, model, "v1.2.0")
    expected = tmp_path / dirname / "versions/v1.2.0/gitmodel-version.json"
    assert hostlayout.manifest_path(vdir) == expected


@pytest.mark.parametrize("bad", ["../etc", "acme/../x", "Support", "a b", "", "a:b:c"])
def test_layout_refuses_names_that_could_escape_root(tmp_path: Path, bad: str) -> None:
    with pytest.raises(InvalidName):
        hostlayout.model_root(tmp_path, bad)


GOOD = {
    "model": "support",
    "version": "v1.1.0",
    "dvc_md5": "0" * 32,
    "artifact": "support.gguf",
    "kind": "file",
    "files": {"support.gguf": "sha256:" + "a" * 64},
    "base_model": "llama-3-8b-instruct",
    "quantization": "q4_k_m",
}


def test_manifest_round_trip_keeps_unknown_keys(tmp_path: Path) -> None:
    (tmp_path / hostlayout.MANIFEST).write_text(json.dumps({**GOOD, "deployed_by": "agent"}))
    assert hostlayout.read_manifest(tmp_path) == {**GOOD, "deployed_by": "agent"}


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"model": None}, "missing key 'model'"),
        ({"model": "acme/support"}, "canonical name 'acme:support'"),
        ({"version": "1.1.0"}, "invalid version"),
        ({"dvc_md5": "xyz"}, "'dvc_md5'"),
        ({"artifact": "../support.gguf"}, "'artifact'"),
        ({"artifact": "gitmodel-version.json"}, "'artifact'"),
        ({"kind": "blob"}, "'kind'"),
        ({"files": {}}, "'files'"),
        ({"files": {"other.gguf": "sha256:" + "a" * 64}}, "exactly itself"),
        ({"files": {"support.gguf": "md5:abc"}}, "sha256"),
        ({"quantization": 4}, "'quantization'"),
        ({"faults": {"error_rate": 2}}, "between 0 and 1"),
        ({"faults": {"crash": 1}}, "unknown fault"),
    ],
)
def test_manifest_refusals_name_the_field(tmp_path: Path, change: dict[str, Any], words: str) -> None:
    doc = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    (tmp_path / hostlayout.MANIFEST).write_text(json.dumps(doc))
    with pytest.raises(hostlayout.ManifestError) as err:
        hostlayout.read_manifest(tmp_path)
    assert words in str(err.value) and "gitmodel deploy" in str(err.value)


def test_manifest_missing_or_not_json(tmp_path: Path) -> None:
    with pytest.raises(hostlayout.ManifestError, match=r"no gitmodel-version\.json"):
        hostlayout.read_manifest(tmp_path)
    (tmp_path / hostlayout.MANIFEST).write_text("{")
    with pytest.raises(hostlayout.ManifestError, match="not valid JSON"):
        hostlayout.read_manifest(tmp_path)


# --- GGUF header ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"vocab": 3000},
        {"big_endian": True},
        {"arch": "qwen2", "file_type": 7},
    ],
)
def test_gguf_header_agrees_with_the_reference_reader(tmp_path: Path, kw: dict[str, Any]) -> None:
    import gguf

    path = write_gguf(tmp_path / "m.gguf", **kw)
    ours = read_header(path)
    ref = gguf.GGUFReader(path)
    arch = kw.get("arch", "llama")
    assert ours.architecture == ref.fields["general.architecture"].contents() == arch
    assert ours.file_type == gguf.LlamaFileType(ref.fields["general.file_type"].contents()).name
    assert ours.quantization == {15: "Q4_K_M", 7: "Q8_0"}[kw.get("file_type", 15)]
    assert ours.tensor_count == len(ref.tensors) == 3
    assert ours.kv_count == int(ref.fields["GGUF.kv_count"].parts[0][0])
    assert ours.data_offset == ref.data_offset and ours.alignment == ref.alignment
    assert ours.parameter_count == sum(t.n_elements for t in ref.tensors)
    assert ours.tensor_types == {"F32": 2, "F16": 1}
    assert ours.context_length == 4096 and ours.name == f"{kw.get('arch', 'llama')}-test"


def test_gguf_header_refuses_what_is_not_gguf(tmp_path: Path) -> None:
    good = write_gguf(tmp_path / "good.gguf").read_bytes()
    cases = {
        "empty": b"",
        "random": os.urandom(4096),
        "magic only": good[:24],
        "cut in the key/values": good[:200],
        "cut in the tensor data": good[:-16],
    }
    # Patch the last tensor's type (u32 after its one u64 dim) to a value no GGML type has.
    at = good.index(b"output_norm.weight") + len(b"output_norm.weight") + 4 + 8
    cases["unknown tensor type"] = good[:at] + (999).to_bytes(4, "little") + good[at + 4 :]
    for why, data in cases.items():
        path = tmp_path / "bad.gguf"
        path.write_bytes(data)
        with pytest.raises(InvalidGGUF, match="not a valid GGUF file") as err:
            read_header(path)
        assert "bad.gguf" in str(err.value), why


def test_gguf_header_of_a_sparse_1gib_file_reads_only_the_header(tmp_path: Path) -> None:
    path = write_sparse_gguf(tmp_path / "big.gguf", 1 << 30)
    start = time.perf_counter()
    header = read_header(path)
    elapsed = time.perf_counter() - start
    assert header.file_size > 1 << 30 and header.tensor_count == 1
    assert header.parameter_count == (1 << 30) // 4
    assert elapsed < 0.5, elapsed  # reading 1 GiB of pages would take seconds


# --- faults (pure) ----------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.0, 0.05, 0.3, 0.5, 1.0])
def test_fault_schedule_is_exact(rate: float) -> None:
    faults = Faults(error_rate=rate)
    for n in (10, 100, 1000):
        assert abs(sum(faults.fails(i) for i in range(n)) - rate * n) <= 1


def test_fault_flag() -> None:
    assert parse_flag("v1.2.0:error_rate=0.3,latency_ms=200") == ("v1.2.0", Faults(0.3, 200.0))
    for bad in (
        "v1.2.0",
        "v1.2.0:",
        "v1.2.0:error_rate=2",
        "v1.2.0:slow=1",
        "v1.2.0:latency_ms=x",
        "1.2:latency_ms=1",
    ):
        with pytest.raises(Exception) as err:
            parse_flag(bad)
        assert getattr(err.value, "exit_code", None) == 2, bad


# --- the server as a process ------------------------------------------------------------


@pytest.fixture
def host(tmp_path: Path) -> Path:
    return two_gguf_versions(tmp_path / "host")


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Any]:
    started: list[ServerProcess] = []

    def run(root: Path, *args: str, model: str = "support", ready: bool = True) -> ServerProcess:
        proc = ServerProcess(root, model, *args, workdir=tmp_path)
        started.append(proc)
        return proc.wait_ready() if ready else proc

    yield run
    for proc in started:
        proc.stop()


def metrics(server: ServerProcess) -> Samples:
    from prometheus_client.parser import text_string_to_metric_families

    resp = server.get("/metrics")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for fam in text_string_to_metric_families(resp.body.decode())
        for s in fam.samples
    }


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def sample(m: Samples, name: str, **labels: str) -> float:
    return m[(name, frozenset(labels.items()))]


def test_endpoints(host: Path, start: Any) -> None:
    server = start(host)
    health = server.get("/health")
    assert health.status == 200 and health.json()["version"] == "v1.0.0"
    info = server.get("/info").json()
    manifest = hostlayout.read_manifest(host / "support/versions/v1.0.0")
    assert info["version"] == "v1.0.0" and info["content_hash"] == manifest["dvc_md5"]
    assert info["files"] == manifest["files"] and info["kind"] == "file"
    assert info["gguf"]["architecture"] == "llama" and info["gguf"]["quantization"] == "Q4_K_M"
    assert info["gguf"]["tensor_count"] == 3 and info["roles"] == {"stable": "v1.0.0"}
    first, again = server.complete("where is my order"), server.complete("where is my order")
    assert first.status == 200 and first.headers["X-Gitmodel-Version"] == "v1.0.0"
    assert first.json()["choices"] == again.json()["choices"]  # deterministic
    assert first.json()["content_hash"] == manifest["dvc_md5"]
    assert server.post("/v1/completions", b"not json").status == 400
    assert server.post("/v1/completions", {"prompt": 3}).status == 400
    assert server.get("/nope").status == 404
    m = metrics(server)
    assert sample(m, "gitmodel_requests_total", model="support", version="v1.0.0") == 4
    assert sample(m, "gitmodel_errors_total", model="support", version="v1.0.0") == 0
    v1 = {"model": "support", "version": "v1.0.0"}
    assert sample(m, "gitmodel_request_duration_seconds_count", **v1) == 4
    assert (
        sample(m, "gitmodel_request_duration_seconds_bucket", model="support", version="v1.0.0", le="+Inf")
        == 4
    )
    assert sample(m, "gitmodel_model_loaded", model="support", version="v1.0.0", role="stable") == 1


def test_post_reload_switches_and_old_version_metrics_stay(host: Path, start: Any) -> None:
    server = start(host)
    old = server.complete("hi").json()
    swap_current(host, "support", "v1.1.0")
    assert server.get("/info").json()["version"] == "v1.0.0"  # nothing moves before a reload
    resp = server.post("/reload")
    assert resp.status == 200
    assert resp.json() == {"status": "reloaded", "version": "v1.1.0", "previous": "v1.0.0"}
    assert server.get("/info").json()["version"] == "v1.1.0"
    new = server.complete("hi").json()
    assert new["version"] == "v1.1.0" and new["digest"] != old["digest"]
    assert server.post("/reload").json()["status"] == "unchanged"
    m = metrics(server)
    assert sample(m, "gitmodel_requests_total", model="support", version="v1.0.0") == 1
    assert sample(m, "gitmodel_requests_total", model="support", version="v1.1.0") == 1
    assert (
        "gitmodel_model_loaded",
        frozenset({"model": "support", "version": "v1.0.0", "role": "stable"}.items()),
    ) not in m
    assert "reload (POST /reload): support v1.0.0 -> v1.1.0" in server.stderr()


def test_sighup_reloads(host: Path, start: Any) -> None:
    server = start(host)
    swap_current(host, "support", "v1.1.0")
    server.signal(signal.SIGHUP)
    wait_for(lambda: server.get("/info").json()["version"] == "v1.1.0")
    assert "reload (SIGHUP): support v1.0.0 -> v1.1.0" in server.stderr()


@pytest.mark.slow
def test_request_in_flight_finishes_on_the_version_it_started_with(host: Path, start: Any) -> None:
    server = start(host, "--fault", "v1.0.0:latency_ms=1500")
    result: dict[str, Any] = {}

    def slow() -> None:
        t0 = time.monotonic()
        result["resp"] = server.complete("slow one", timeout=20)
        result["elapsed"] = time.monotonic() - t0

    worker = threading.Thread(target=slow)
    worker.start()
    # The request has been routed to v1.0.0 once the in-flight gauge says so.
    wait_for(
        lambda: sample(metrics(server), "gitmodel_inflight_requests", model="support", version="v1.0.0") == 1
    )
    swap_current(host, "support", "v1.1.0")
    assert server.post("/reload").json()["version"] == "v1.1.0"
    assert server.get("/info").json()["version"] == "v1.1.0"
    fast = server.complete("fast one")
    assert fast.json()["version"] == "v1.1.0"
    assert "resp" not in result  # the slow one is still running
    worker.join(timeout=20)
    resp: Response = result["resp"]
    assert resp.status == 200 and resp.json()["version"] == "v1.0.0"
    assert result["elapsed"] >= 1.5


REFUSALS = {
    "not gguf": "not a valid GGUF",
    "truncated gguf": "truncated",
    "no manifest": "no gitmodel-version.json",
    "outside versions": "not under",
}


@pytest.mark.parametrize("breakage", list(REFUSALS))
def test_invalid_version_refused_at_start(host: Path, start: Any, breakage: str) -> None:
    _break(host, breakage)
    server = start(host, ready=False)
    assert server.wait_exit(timeout=15) == 2
    err = server.stderr()
    assert err.startswith("gitmodel: error: ") and len(err.strip().splitlines()) == 1, err
    assert REFUSALS[breakage] in err


@pytest.mark.parametrize("breakage", ["not gguf", "truncated gguf", "no manifest"])
def test_invalid_version_refused_at_reload_old_keeps_serving(host: Path, start: Any, breakage: str) -> None:
    server = start(host)
    _break(host, breakage)
    resp = server.post("/reload")
    assert resp.status == 409
    assert resp.json()["status"] == "refused" and resp.json()["version"] == "v1.0.0"
    assert server.get("/health").status == 200
    assert server.get("/info").json()["version"] == "v1.0.0"
    assert server.complete("still there?").json()["version"] == "v1.0.0"
    server.signal(signal.SIGHUP)
    wait_for(lambda: "reload (SIGHUP) refused" in server.stderr())
    assert server.get("/info").json()["version"] == "v1.0.0"
    m = metrics(server)
    assert sample(m, "gitmodel_reloads_total", model="support", result="refused") == 2
    assert "still serving v1.0.0" in server.stderr()


def _break(root: Path, how: str) -> None:
    """Point `current` at a version that must be refused."""
    if how == "outside versions":
        make_version(root.parent / "elsewhere", "support", "v9.0.0")
        link = hostlayout.current_link(root, "support")
        link.unlink()
        os.symlink(root.parent / "elsewhere/support/versions/v9.0.0", link)
        return
    if how == "not gguf":
        make_version(root, "support", "v2.0.0", artifact="support.gguf", data=b"PK\x03\x04 a zip, not GGUF")
    elif how == "truncated gguf":
        vdir = make_version(root, "support", "v2.0.0", artifact="support.gguf")
        gguf_path = vdir / "support.gguf"
        gguf_path.write_bytes(gguf_path.read_bytes()[:-40])
    elif how == "no manifest":
        make_version(root, "support", "v2.0.0", manifest=False)
    swap_current(root, "support", "v2.0.0")


def test_nothing_deployed_starts_unhealthy_then_reload_loads(tmp_path: Path, start: Any) -> None:
    root = tmp_path / "host"
    root.mkdir()
    server = start(root)
    health = server.get("/health")
    assert health.status == 503 and "no version deployed" in health.json()["reason"]
    assert server.get("/info").status == 503
    assert server.complete().status == 503
    assert server.post("/reload").status == 409  # still nothing
    make_version(root, "support", "v1.0.0")
    swap_current(root, "support", "v1.0.0")
    assert server.post("/reload").json()["status"] == "reloaded"
    assert server.get("/health").json() == {
        "status": "ok",
        "model": "support",
        "version": "v1.0.0",
        "roles": {"stable": "v1.0.0"},
    }


def test_injected_errors_per_version(host: Path, start: Any) -> None:
    server = start(host, "--fault", "v1.0.0:error_rate=0.5")
    codes = [server.complete(f"p{i}").status for i in range(10)]
    assert codes.count(500) == 5 and codes.count(200) == 5
    assert server.get("/info").json()["faults"] == {"error_rate": 0.5}
    swap_current(host, "support", "v1.1.0")
    server.post("/reload")
    assert all(server.complete(f"q{i}").status == 200 for i in range(6))  # v1.1.0 is healthy
    m = metrics(server)
    assert sample(m, "gitmodel_errors_total", model="support", version="v1.0.0") == 5
    assert sample(m, "gitmodel_errors_total", model="support", version="v1.1.0") == 0


def test_faults_from_the_manifest(tmp_path: Path, start: Any) -> None:
    root = tmp_path / "host"
    make_version(root, "support", "v1.0.0", faults={"error_rate": 1.0})
    swap_current(root, "support", "v1.0.0")
    server = start(root)
    resp = server.complete()
    assert resp.status == 500 and "injected fault" in resp.json()["error"]


def test_namespaced_adapter_directory(tmp_path: Path, start: Any) -> None:
    root = tmp_path / "host"
    make_version(root, "acme:support", "v3.0.0", artifact="adapter", adapter=True)
    swap_current(root, "acme:support", "v3.0.0")
    assert (root / "acme=support/current").is_symlink()
    server = start(root, model="acme/support")
    info = server.get("/info").json()
    assert info["model"] == "acme:support" and info["kind"] == "directory" and info["gguf"] is None
    assert sorted(info["files"]) == ["adapter_config.json", "adapter_model.safetensors"]


@pytest.mark.slow
def test_sigterm_drains_requests_in_flight(host: Path, start: Any) -> None:
    server = start(host, "--fault", "v1.0.0:latency_ms=800")
    result: dict[str, Response] = {}
    worker = threading.Thread(target=lambda: result.update(r=server.complete(timeout=20)))
    worker.start()
    wait_for(
        lambda: sample(metrics(server), "gitmodel_inflight_requests", model="support", version="v1.0.0") == 1
    )
    server.signal(signal.SIGTERM)
    assert server.wait_exit(timeout=15) == 0
    worker.join(timeout=20)
    assert result["r"].status == 200 and result["r"].json()["version"] == "v1.0.0"
    assert "stopped (SIGTERM)" in server.stderr()


def test_sigint_stops_cleanly(host: Path, start: Any) -> None:
    server = start(host)
    server.signal(signal.SIGINT)
    assert server.wait_exit(timeout=15) == 0
    assert "Traceback" not in server.stderr() and "stopped (SIGINT)" in server.stderr()


def test_port_in_use_is_one_line(host: Path, start: Any) -> None:
    first = start(host)
    second = start(host, "--port", str(first.port), ready=False)  # the last --port wins
    assert second.wait_exit(timeout=15) == 2
    err = second.stderr()
    assert len(err.strip().splitlines()) == 1 and "already in use" in err, err
    assert first.get("/health").status == 200


@pytest.mark.slow
def test_sparse_1gib_gguf_is_not_read_into_memory(tmp_path: Path, start: Any) -> None:
    root = tmp_path / "host"
    vdir = make_version(root, "support", "v1.0.0", artifact="support.gguf", data=b"placeholder")
    write_sparse_gguf(vdir / "support.gguf", 1 << 30)
    swap_current(root, "support", "v1.0.0")
    server = start(root)
    info = server.get("/info").json()
    assert info["gguf"]["file_size"] > 1 << 30
    status = Path(f"/proc/{server.proc.pid}/status").read_text()
    peak = next(line for line in status.splitlines() if line.startswith("VmHWM"))
    peak_kib = int(peak.split()[1])
    assert peak_kib < 200 * 1024, peak_kib  # 1 GiB of touched pages would show up here
