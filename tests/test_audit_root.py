"""`gitmodel audit --root ROOT`: the host journals under each root, one row per line, merged
with the registry's moves in time order, filtered alike, exported with the same safety.

Most tests read journal lines written here by hand (torn, forged, huge); one reads the root
a real deploy (and a refused redeploy) wrote, with the deploy lock held and every file under
the root hashed before and after.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from plugin.attacks import World
from plugin.fsguard import Guard
from plugin.registry import Registry

from gitmodel import hostlayout
from gitmodel.errors import UsageError
from gitmodel.lifecycle import audit, journals

REGISTRY_HEAD = "time,model,action,version,environment,from,actor,reason,gate,signature,signer,key,tag,detail"


def line(time: str, step: str, *, op: str = "deploy", env: str | None = "production", **fields: Any) -> str:
    record = {"time": time, "pid": 4242, "op": op, "model": "support", "env": env, "step": step}
    record |= fields
    return json.dumps(record, separators=(",", ":"))


def journal(root: Path, model: str, *lines: str | bytes) -> Path:
    path = hostlayout.journal_path(hostlayout.model_root(root, model))
    path.parent.mkdir(parents=True, exist_ok=True)
    data = [x if isinstance(x, bytes) else x.encode() for x in lines]
    path.write_bytes(b"".join(chunk + b"\n" for chunk in data))
    return path


def as_json(reg: Registry, *args: str) -> Any:
    return json.loads(reg.ok("audit", *args, "--json").stdout)


# --- one line, one row ---------------------------------------------------------------------------


def test_step_names_are_the_writers() -> None:
    from gitmodel.host import journal as writer

    assert set(journals.OK_STEPS) | set(journals.FAILED_STEPS) | {journals.DRILL} == set(writer.FINAL)
    assert journals.FAILED_STEPS == (writer.FAILED, writer.CANARY_FAILED)
    assert journals.DRILL == writer.DRILL


def test_a_done_line_fills_the_columns_and_the_rest_goes_to_detail(tmp_path: Path) -> None:
    verified = "http://127.0.0.1:8080/info reports v2.0.0 after 0.00 s"
    text = line("2026-11-22T00:26:40.273Z", "done", version="v2.0.0", tag="support#production#2")
    text = text[:-1] + f',"verified":"{verified}","mode":"hardlink","downloaded":1,"seconds":0.997}}'
    key, row = journals.journal_row("support", tmp_path, text.encode()) or (None, None)
    assert key == pytest.approx(1795307200.273)
    assert row == {
        "time": "2026-11-22T00:26:40.273Z",
        "model": "support",
        "action": "deploy",
        "version": "v2.0.0",
        "environment": "production",
        "from": None,
        "actor": None,
        "reason": None,
        "gate": None,
        "signature": None,
        "signer": None,
        "key": None,
        "tag": "support#production#2",
        "detail": f'pid=4242 verified="{verified}" mode=hardlink downloaded=1',
        "source": "host",
        "root": str(tmp_path),
        "step": "done",
        "outcome": "ok",
        "duration": 0.997,
    }
    assert set(row) == set(audit.COLUMNS)


@pytest.mark.parametrize(
    ("step", "fields", "expect"),
    [
        ("failed", {"reason": "refused", "exit": 1}, ("failed", None, "pid=4242 exit=1")),
        ("canary-on", {"percent": 10}, ("ok", None, "pid=4242 percent=10")),
        ("canary-failed", {}, ("failed", None, "pid=4242")),
        ("swapped", {"previous": "v1.0.0"}, (None, None, "pid=4242")),
        # A step this gitmodel does not know: shown as written, its fields in detail.
        (
            "teleported",
            {"to": {"moon": True}, "seconds": "soon"},
            (None, None, 'pid=4242 to={"moon":true} seconds=soon'),
        ),
        (
            "drill",
            {"passed": False, "seconds": 2.5, "record": "refs/gitmodel/lifecycle/support/4"},
            ("too-slow", 2.5, "pid=4242 passed=false"),
        ),
    ],
)
def test_each_step_is_shown_as_written_with_its_outcome(
    tmp_path: Path, step: str, fields: dict[str, Any], expect: tuple[Any, ...]
) -> None:
    found = journals.journal_row("support", tmp_path, line("2026-11-22T00:26:40Z", step, **fields).encode())
    assert found is not None
    row = found[1]
    assert (row["step"], (row["outcome"], row["duration"], row["detail"])) == (step, expect)
    if step == "drill":
        assert row["tag"] == "refs/gitmodel/lifecycle/support/4" and row["time"] == "2026-11-22T00:26:40.000Z"
    if step == "swapped":
        assert row["from"] == "v1.0.0"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"time":"2026-11-22T00:26:40Z","step":"do',  # torn by a kill
        b"not json at all",
        b'["time", "2026-11-22T00:26:40Z"]',
        b'{"step":"done"}',  # no time: it cannot be placed in the order
        b'{"time":"last tuesday","step":"done"}',
        b'{"time":12,"step":"done"}',
        b"\xff\xfe{}",
        b"[" * 100_000,  # nested past the parser's depth
    ],
)
def test_a_line_that_is_no_timed_record_is_skipped(tmp_path: Path, raw: bytes) -> None:
    assert journals.journal_row("support", tmp_path, raw) is None


def test_forged_values_are_cut_and_a_different_model_claim_stays_in_detail(tmp_path: Path) -> None:
    text = line("2026-11-22T01:00:00+01:00", "done", reason="x" * 5000, version=["v1"], model="acme:bot")
    _, row = journals.journal_row("support", tmp_path, text.encode()) or (None, {})
    assert row["time"] == "2026-11-22T00:00:00.000Z"  # any offset, shown in UTC
    assert len(row["reason"]) == journals.MAX_CELL and row["reason"].endswith("…")
    assert row["version"] == '["v1"]' and row["model"] == "support"
    assert row["detail"] == "pid=4242 model=acme:bot"


# --- a root ------------------------------------------------------------------------------------


def test_a_root_is_read_journal_by_journal_and_what_is_left_out_is_counted(tmp_path: Path) -> None:
    root = tmp_path / "srv"
    journal(
        root,
        "support",
        line("2026-11-22T00:00:01Z", "start", version="v1.0.0"),
        b'{"time":"2026-11-22T00:00:02Z","step":"fetch',  # torn
        b"",  # blank: no record, not counted
        b"x" * (journals.MAX_LINE + 10),  # huge: read past, never parsed
        line("2026-11-22T00:00:03Z", "done", version="v1.0.0"),
    )
    journal(root, "acme:bot", line("2026-11-22T00:00:02Z", "failed", env="staging"))
    (root / "lost+found").mkdir()
    (root / "lost+found" / "journal.jsonl").write_text(line("2026-11-22T00:00:00Z", "done"))
    hostlayout.model_root(root, "other").mkdir()  # a model directory without a journal
    hostlayout.model_root(root, "linked").symlink_to(hostlayout.model_root(root, "support"))
    fifo = hostlayout.model_root(root, "piped")
    fifo.mkdir()
    os.mkfifo(hostlayout.journal_path(fifo))
    read = journals.read_root(root)
    assert [(r["model"], r["step"]) for _, r in read.rows] == [
        ("acme:bot", "failed"),
        ("support", "start"),
        ("support", "done"),
    ]
    assert read.summary() == {
        "root": str(root),
        "journals": 4,
        "records": 3,
        "shown": 3,
        "skipped": 2,
        "refused": [
            f"{root}/linked/journal.jsonl: its model directory is a symlink, not ours",
            f"{root}/piped/journal.jsonl: not a regular file",
        ],
    }


def test_a_symlinked_journal_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "srv"
    journal(root, "support", line("2026-11-22T00:00:01Z", "done"))
    elsewhere = journal(tmp_path / "elsewhere", "support", line("2026-11-22T00:00:01Z", "done"))
    path = hostlayout.journal_path(hostlayout.model_root(root, "acme:bot"))
    path.parent.mkdir()
    path.symlink_to(elsewhere)
    read = journals.read_root(root)
    assert len(read.rows) == 1 and read.refused == [f"{path}: a symlink, not the host's file"]


@pytest.mark.parametrize("kind", ["missing", "file", "empty", "no journal"])
def test_a_root_without_journals_is_a_usage_error(tmp_path: Path, kind: str) -> None:
    root = tmp_path / "srv"
    if kind == "file":
        root.write_text("x")
    elif kind != "missing":
        root.mkdir()
    if kind == "no journal":
        (root / "support" / "versions").mkdir(parents=True)
    with pytest.raises(UsageError) as err:
        journals.read_root(root)
    assert err.value.message.startswith(f"--root {root}: ")
    assert "gitmodel deploy --root" in err.value.message


# --- merged with the registry, filtered, exported ------------------------------------------------


@pytest.fixture
def two_roots(released: Registry, tmp_path: Path) -> tuple[Registry, Path, Path, list[str]]:
    """`released` and two roots whose lines fall before, among and after the registry's rows."""
    times = [m["time"] for m in as_json(released)["moves"]]
    first = times[0].replace("Z", ".500Z")  # half a second after the first tags
    a, b = tmp_path / "srv-a", tmp_path / "srv-b"
    journal(
        a,
        "support",
        line("2000-01-01T00:00:00Z", "done", version="v1.0.0", seconds=1.5),
        line(first, "failed", reason='=HYPERLINK("http://evil")\x1b[2J', version="v1.1.0", exit=1),
        b'{"time":"2999-01-01T00:00:00Z","step":"torn',
    )
    canary = line(
        "2999-01-01T00:00:00Z", "canary-on", op="canary", env="staging", version="v1.0.0", model="acme:bot"
    )
    journal(b, "acme:bot", canary)
    return released, a, b, times


def test_journal_rows_are_merged_in_time_order_and_filtered_alike(
    two_roots: tuple[Registry, Path, Path, list[str]],
) -> None:
    reg, a, b, times = two_roots
    data = as_json(reg, "--root", str(a), "--root", str(b), "--root", str(a))  # a twice: once
    rows = data["moves"]
    assert [r["source"] for r in rows] == ["host", *["registry"] * times.count(times[0]), "host"] + [
        "registry"
    ] * (len(times) - times.count(times[0])) + ["host"]
    assert rows[0]["time"] == "2000-01-01T00:00:00.000Z" and rows[0]["duration"] == 1.5
    assert rows[-1]["model"] == "acme:bot" and rows[-1]["root"] == str(b)
    assert data["columns"][: len(REGISTRY_HEAD.split(","))] == REGISTRY_HEAD.split(",")
    assert data["columns"][-5:] == ["source", "root", "step", "outcome", "duration"]
    assert all(list(r) == data["columns"] for r in rows)
    assert data["skipped"] == 1
    assert [(r["root"], r["journals"], r["records"], r["skipped"]) for r in data["roots"]] == [
        (str(a), 1, 2, 1),
        (str(b), 1, 1, 0),
    ]
    staging = as_json(reg, "--root", str(a), "--root", str(b), "--env", "staging")["moves"]
    assert [(r["source"], r["step"]) for r in staging if r["source"] == "host"] == [("host", "canary-on")]
    acme = as_json(reg, "--root", str(a), "--root", str(b), "--namespace", "acme")["moves"]
    assert [(r["model"], r["step"]) for r in acme] == [("acme:bot", "canary-on")]
    late = as_json(reg, "--root", str(a), "--root", str(b), "--since", "2998-12-31")
    assert [r["step"] for r in late["moves"]] == ["canary-on"]
    assert [(r["records"], r["shown"]) for r in late["roots"]] == [(2, 0), (1, 1)]
    assert as_json(reg)["roots"] == [] and as_json(reg)["skipped"] == 0


def test_csv_and_table_show_the_host_rows_safely(two_roots: tuple[Registry, Path, Path, list[str]]) -> None:
    reg, a, b, _ = two_roots
    out = reg.ok("audit", "--root", str(a), "--csv")
    lines = out.stdout.splitlines()
    assert lines[0] == REGISTRY_HEAD + ",source,root,step,outcome,duration"
    (failed,) = [x for x in lines if ",failed," in x]
    assert "\x1b" not in out.stdout and '"\'=HYPERLINK(""http://evil"")\\x1b[2J"' in failed
    assert failed.endswith(f",host,{a},failed,failed,")
    assert lines[1].endswith(f",host,{a},done,ok,1.5")
    assert all(x.endswith(",registry,,,,") for x in lines[2:] if ",registry," in x)
    # The footer never enters the CSV: on stderr, and only when a line was left out.
    said = f"{a}: 2 of 2 journal record(s) shown from 1 journal(s); 1 line(s) skipped "
    said += "(torn by a kill, not a JSON record, or over 1 MiB)"
    assert out.stderr == f"note: {said}\n"
    table = reg.ok("audit", "--root", str(a), "--root", str(b), "--wide").stdout.splitlines()
    assert table[0].split()[-4:] == ["BY", "OUTCOME", "DETAIL", "ROOT"]
    assert table[1].split()[2:4] == ["deploy", "done"] and "  ok 1.5s  " in table[1]
    assert table[1].rstrip().endswith(str(a)) and table[-3].rstrip().endswith(str(b))
    assert "\x1b" not in "".join(table) and "\\x1b[2J" in "".join(table)
    assert table[-2:] == [said, f"{b}: 1 of 1 journal record(s) shown from 1 journal(s)"]
    one = reg.ok("audit", "--root", str(b)).stdout.splitlines()
    assert one[0].split()[-4:] == ["SIGNED", "BY", "OUTCOME", "DETAIL"]
    assert "canary-on" in one[-2] and one[-2].split()[2:4] == ["canary", "canary-on"]


def test_a_root_that_is_not_one_writes_nothing(
    released: Registry, tmp_path: Path, fs_guard: Callable[..., Guard]
) -> None:
    empty = tmp_path / "srv"
    empty.mkdir()
    guard = fs_guard(tmp_path)
    err = released.fails(2, "audit", "--root", str(empty), "--csv")
    assert err.stdout == "" and f"--root {empty}: no host journals" in err.stderr
    err = released.fails(2, "audit", "--root", str(tmp_path / "nowhere"))
    assert "no such directory" in err.stderr
    guard.assert_only()


# --- a root a real deploy wrote --------------------------------------------------------------------


def test_a_deployed_root_is_read_without_its_lock_and_without_a_write(
    deployed: World, fs_guard: Callable[..., Guard]
) -> None:
    from gitmodel import lock

    w = deployed
    # A redeploy the server never confirms: the host journals the revert and the failure.
    refused = w.reg.run(
        "deploy",
        "production",
        "support",
        "--root",
        str(w.root),
        "--no-fetch",
        "--info-url",
        "http://127.0.0.1:9/info",
        "--health-timeout",
        "0.2",
        cwd=w.host,
    )
    assert refused.exit_code != 0
    guard = fs_guard(w.root)
    held = hostlayout.lock_path(w.mroot)

    def busy(waited: float) -> Exception:
        raise AssertionError("the test could not take the deploy lock")

    with lock.hold(held, 0, busy):  # a deploy in progress: the audit neither waits nor fails
        data = json.loads(w.reg.run("audit", "--root", str(w.root), "--json", cwd=w.host).stdout)
    guard.assert_only()
    host = [r for r in data["moves"] if r["source"] == "host"]
    steps = [r["step"] for r in host]
    assert steps[0] == "start" and steps.count("done") == 1 and steps[-1] == "failed"
    done = host[steps.index("done")]
    assert (done["version"], done["environment"], done["outcome"]) == ("v1.0.0", "production", "ok")
    assert done["duration"] > 0 and done["tag"].startswith("support#production#")
    assert host[-1]["outcome"] == "failed" and "127.0.0.1:9" in (host[-1]["reason"] or "")
    # The host's lines follow the moves they carried out.
    times = [r["time"] if "." in r["time"] else r["time"].replace("Z", ".000Z") for r in data["moves"]]
    assert times == sorted(times)
    assert data["roots"] == [
        {
            "root": str(w.root),
            "journals": 1,
            "records": len(host),
            "shown": len(host),
            "skipped": 0,
            "refused": [],
        }
    ]
