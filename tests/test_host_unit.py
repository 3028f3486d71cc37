"""The host's pure parts: settings, journal, retention order, the symlink swap."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from gitmodel import config, hostlayout, localconfig
from gitmodel.config import HostPolicy
from gitmodel.errors import GitModelError, UsageError
from gitmodel.host import fs, journal, retention
from gitmodel.host.settings import HostSettings, Overrides, resolve
from gitmodel.refs import Version

V = Version.parse


def policy(host: object) -> HostPolicy:
    return config.parse({"environments": ["production"], "host": host}).host


def local(data: dict[str, Any]) -> localconfig.HostFile:
    return localconfig.parse_host(data, Path("/etc/gitmodel/host.yaml"))


def test_settings_defaults_and_precedence() -> None:
    empty = localconfig.HostFile(Path("/nonexistent/host.yaml"))
    assert resolve(HostPolicy(), "support", local=empty) == HostSettings()
    repo = policy(
        {
            "hot_versions": 5,
            "reload": {"command": "restart-llama"},
            "timeouts": {"health": 10, "lock": 1},
            "models": {"acme/support": {"hot_versions": 2}},
        }
    )
    host = local(
        {
            "info_url": "http://127.0.0.1:8080/info",
            "commands": {"restart-llama": "systemctl reload llama"},
            "models": {"acme/support": {"info_url": "http://127.0.0.1:8081/info", "timeouts": {"lock": 7}}},
        }
    )
    plain = resolve(repo, "support", local=host)
    assert (plain.hot_versions, plain.reload_cmd, plain.health_timeout, plain.lock_timeout) == (
        5,
        "systemctl reload llama",
        10.0,
        1.0,
    )
    assert plain.info_url == "http://127.0.0.1:8080/info"
    acme = resolve(repo, "acme:support", local=host)
    assert (acme.hot_versions, acme.info_url, acme.lock_timeout) == (2, "http://127.0.0.1:8081/info", 7.0)
    # The host file's own reload wins over the key gitmodel.yaml names; flags win over both.
    own = local({"reload": {"url": "http://127.0.0.1:1/reload"}})
    assert resolve(repo, "support", local=own).reload_url == "http://127.0.0.1:1/reload"
    assert resolve(repo, "support", local=own).reload_cmd is None
    flags = resolve(repo, "support", Overrides(reload_cmd="true", info_url="http://h/i"), local=host)
    assert (flags.reload_url, flags.reload_cmd, flags.info_url) == (None, "true", "http://h/i")


def test_a_reload_key_the_host_file_lacks_is_refused() -> None:
    with pytest.raises(UsageError) as info:
        resolve(policy({"reload": {"command": "restart-llama"}}), "support", local=local({}))
    assert str(info.value) == (
        "gitmodel.yaml: host.reload.command names the command 'restart-llama', which no local "
        "configuration defines; add `commands: {restart-llama: COMMAND}` to /etc/gitmodel/host.yaml"
    )


@pytest.mark.parametrize(
    ("host", "words", "code"),
    [
        ({"hot_versions": 0}, "host.hot_versions must be a whole number of at least 1", 2),
        ({"hot_versions": True}, "at least 1", 2),
        ({"reload": {"cmd": "x"}}, "host.reload.cmd is not a setting; did you mean command?", 2),
        ({"reload": "systemctl reload llama"}, "host.reload is a command line", 1),
        ({"reload": {"command": "touch /tmp/pwned"}}, "nothing executable comes from the repo", 1),
        ({"reload": {"url": "http://evil/"}}, "host.reload.url is a URL hosts call", 1),
        ({"info_url": "http://evil/"}, "host.info_url is a URL hosts call", 1),
        ({"timeouts": {"health": -1}}, "host.timeouts.health must be a number of seconds", 2),
        ({"timeouts": {"boot": 3}}, "host.timeouts.boot is not a timeout", 2),
        ({"hot_version": 3}, "host.hot_version is not a host setting; did you mean hot_versions?", 2),
        ({"hot": 3}, "host.hot is not a host setting; use hot_versions, models, reload, timeouts", 2),
        ({"models": ["a"]}, "host.models must be a mapping of model names", 2),
        ({"models": {"Bad Name": {}}}, "invalid model name", 2),
    ],
)
def test_settings_refusals_name_the_key(host: dict[str, Any], words: str, code: int) -> None:
    with pytest.raises(GitModelError) as info:
        policy(host)
    assert words in str(info.value) and info.value.exit_code == code


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"reload": {"url": "ftp://x"}}, "reload.url must be an http:// or https:// URL"),
        ({"reload": {"command": "a", "url": "http://x/"}}, "must be {command: CMD} or {url: URL}"),
        ({"root": "models"}, "root must be an absolute path"),
        ({"commands": {"Eval Small": "x"}}, "commands.Eval Small is not a command name"),
        ({"rooot": "/srv"}, "rooot is not a setting; did you mean root?"),
    ],
)
def test_host_file_refusals_name_the_key(data: dict[str, Any], words: str) -> None:
    with pytest.raises(UsageError) as info:
        local(data)
    assert str(info.value).startswith("/etc/gitmodel/host.yaml: ") and words in str(info.value)


def test_both_reload_flags_refused() -> None:
    with pytest.raises(UsageError, match="not both"):
        resolve(HostPolicy(), "m", Overrides(reload_url="http://a/r", reload_cmd="true"))


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
