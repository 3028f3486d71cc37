"""The host's pure parts: settings, journal, retention order, the symlink swap."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from gitmodel import hostlayout
from gitmodel.errors import UsageError
from gitmodel.host import fs, journal, retention
from gitmodel.host.settings import HostSettings, Overrides, resolve
from gitmodel.refs import Version

V = Version.parse


def test_settings_defaults_and_precedence() -> None:
    assert resolve({}, "support") == HostSettings()
    host = {
        "hot_versions": 5,
        "reload": {"command": "systemctl reload llama"},
        "info_url": "http://127.0.0.1:8080/info",
        "timeouts": {"health": 10, "lock": 1},
        "models": {"acme/support": {"info_url": "http://127.0.0.1:8081/info", "hot_versions": 2}},
    }
    plain = resolve(host, "support")
    assert (plain.hot_versions, plain.reload_cmd, plain.health_timeout, plain.lock_timeout) == (
        5,
        "systemctl reload llama",
        10.0,
        1.0,
    )
    acme = resolve(host, "acme:support")
    assert (acme.hot_versions, acme.info_url) == (2, "http://127.0.0.1:8081/info")
    flags = resolve(host, "support", Overrides(reload_url="http://127.0.0.1:1/reload", info_url="http://h/i"))
    assert (flags.reload_url, flags.reload_cmd, flags.info_url) == (
        "http://127.0.0.1:1/reload",
        None,
        "http://h/i",
    )
    assert resolve({"info": {"url": "http://x/info"}}, "m").info_url == "http://x/info"


@pytest.mark.parametrize(
    ("host", "words"),
    [
        ({"hot_versions": 0}, "at least 1"),
        ({"hot_versions": True}, "at least 1"),
        ({"reload": {"cmd": "x"}}, "{command: CMD} or {url: URL}"),
        ({"reload": {"url": "ftp://x"}}, "http://"),
        ({"timeouts": {"health": -1}}, "seconds"),
        ({"timeouts": {"boot": 3}}, "timeouts.boot is unknown"),
        ({"hot": 3}, "host.hot is not a host setting"),
        ({"models": ["a"]}, "must map model names"),
        ({"models": {"Bad Name": {}}}, "invalid model name"),
    ],
)
def test_settings_refusals_name_the_key(host: dict[str, Any], words: str) -> None:
    with pytest.raises(UsageError, match=None) as info:
        resolve(host, "support")
    assert words in str(info.value)


def test_both_reload_flags_refused() -> None:
    with pytest.raises(UsageError, match="not both"):
        resolve({}, "m", Overrides(reload_url="http://a/r", reload_cmd="true"))


def _done(version: str, op: str = "deploy") -> dict[str, Any]:
    return {"step": "done", "op": op, "version": version}


def test_served_history_pops_on_the_way_back() -> None:
    records = [
        _done("v1.0.0"),
        _done("v1.1.0"),
        _done("v1.1.0"),
        _done("v2.0.0"),
        _done("v1.1.0", "rollback"),
        {"step": "swapped", "version": "v9.9.9"},
    ]
    assert journal.served_history(records) == ["v1.0.0", "v1.1.0"]
    records.append(_done("v1.0.0", "rollback-local"))
    assert journal.served_history(records) == ["v1.0.0"]
    records.append(_done("v3.0.0", "rollback"))  # "back" to a version never served: pushed
    assert journal.served_history(records) == ["v1.0.0", "v3.0.0"]


def test_journal_survives_a_torn_line(tmp_path: Path) -> None:
    log = journal.Journal(tmp_path, "deploy", "support", "production")
    log.step("start", version=V("v1.0.0"))
    with journal.journal_path(tmp_path).open("ab") as fh:
        fh.write(b'{"step": "swa')  # a writer killed mid-line
    log.step("done", version=V("v1.0.0"), path=tmp_path)
    records = list(journal.read(tmp_path))
    assert [r["step"] for r in records] == ["start", "done"]
    assert records[1]["version"] == "v1.0.0" and records[1]["path"] == str(tmp_path)
    assert journal.journal_path(tmp_path).read_bytes().endswith(b"\n")


def test_journal_appends_from_many_threads_stay_whole(tmp_path: Path) -> None:
    def writer(n: int) -> None:
        log = journal.Journal(tmp_path, "deploy", "m", "e")
        for i in range(50):
            log.step("x", n=n, i=i)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(list(journal.read(tmp_path))) == 200


@pytest.mark.parametrize(
    ("hot", "current", "keep", "gone"),
    [
        (["v1.0.0", "v1.1.0", "v2.0.0", "v2.1.0"], "v2.1.0", 3, ["v1.0.0"]),
        (["v1.0.0", "v1.1.0", "v2.0.0"], "v1.0.0", 1, ["v2.0.0", "v1.1.0"]),
        (["v1.0.0", "v1.1.0"], "v1.1.0", 3, []),
        (["v1.0.0", "v9.0.0"], None, 1, ["v1.0.0"]),
    ],  # nothing current: the most recent stays
)
def test_retention_keeps_current_and_the_most_recently_served(
    hot: list[str],
    current: str | None,
    keep: int,
    gone: list[str],
) -> None:
    records = [{"step": "swapped", "version": v} for v in ("v1.0.0", "v2.0.0", "v1.1.0", "v2.1.0", "v9.0.0")]
    got = retention.expired([V(v) for v in hot], V(current) if current else None, keep, records)
    assert [str(v) for v in got] == gone


def test_retention_prefers_recency_over_version_order() -> None:
    records = [{"step": "swapped", "version": v} for v in ("v2.0.0", "v1.0.0", "v3.0.0")]
    got = retention.expired([V("v1.0.0"), V("v2.0.0"), V("v3.0.0")], V("v3.0.0"), 2, records)
    assert [str(v) for v in got] == ["v2.0.0"]  # v1.0.0 was served after v2.0.0


def test_swap_is_one_rename_and_never_shows_a_gap(tmp_path: Path) -> None:
    for v in ("v1.0.0", "v1.1.0"):
        (tmp_path / "support" / "versions" / v).mkdir(parents=True)
    fs.swap_current(tmp_path, "support", V("v1.0.0"))
    seen: set[str] = set()
    missing = 0
    stop = time.monotonic() + 0.5

    def poll() -> None:
        nonlocal missing
        while time.monotonic() < stop:
            try:
                seen.add(os.readlink(tmp_path / "support" / "current"))
            except FileNotFoundError:
                missing += 1

    reader = threading.Thread(target=poll)
    reader.start()
    for i in range(400):
        fs.swap_current(tmp_path, "support", V("v1.1.0" if i % 2 else "v1.0.0"))
    reader.join(timeout=5)
    assert missing == 0
    assert seen <= {"versions/v1.0.0", "versions/v1.1.0"}
    assert hostlayout.current_version(tmp_path, "support") == V("v1.1.0")
    assert not list((tmp_path / "support").glob(".current-*"))


def test_clean_stale_and_retire(tmp_path: Path) -> None:
    mroot = fs.prepare(tmp_path, "support")
    half = mroot / ".staging" / "v1.0.0-123" / "support.gguf"
    half.parent.mkdir()
    half.write_bytes(b"x")
    fs.make_read_only(half.parent)
    (mroot / ".current-99").symlink_to("versions/v1.0.0")
    assert sorted(fs.clean_stale(mroot)) == [".current-99", ".staging/v1.0.0-123"]
    vdir = mroot / "versions" / "v1.0.0"
    (vdir / "sub").mkdir(parents=True)
    (vdir / "sub" / "f").write_bytes(b"y")
    fs.make_read_only(vdir)
    fs.retire(vdir)
    assert not vdir.exists() and list((mroot / ".staging").iterdir()) == []
