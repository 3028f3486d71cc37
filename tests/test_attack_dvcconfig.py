"""Attacks through the host clone's tracked .dvc/config, which whoever can push writes.

The operator's `git pull` brings the pushed .dvc/config into the host clone's work tree
(docs/host.md, "Setting up a host").  A host must take from it only a remote's name and a
plain URL (docs/host.md, "What a host takes from the registry"): never where its cache or
DVC's own state lives, and never where its credentials go.  Each attack pushes a config,
the host pulls and deploys; fs_guard over the test directory proves nothing outside the
host's root and its clone's .dvc/ changed, and a 127.0.0.1 listener records whether the
host called the pusher's server.
"""

from __future__ import annotations

import configparser
import http.server
import io
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from plugin.host import Host, _dvc, base_env, git

from gitmodel.dvc import config as dvcconf
from gitmodel.errors import PolicyError


class Listener:
    """A server on 127.0.0.1 that answers 404 to everything and remembers who asked."""

    def __init__(self) -> None:
        seen: list[tuple[str, str, str]] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                seen.append((self.command, self.path, self.headers.get("Authorization", "")))
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_HEAD = do_PUT = do_POST = _answer

        self.seen = seen
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.stop()


def push_config(host: Host, **sections: dict[str, str]) -> None:
    """The pusher edits .dvc/config (section "remote NAME" for a remote), commits and pushes
    main; the operator's `git pull` brings it into the host clone."""
    path = host.dev / ".dvc" / "config"
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(path.read_text())
    for name, keys in sections.items():
        section = f"'remote \"{name[7:]}\"'" if name.startswith("remote ") else name
        if not parser.has_section(section):
            parser.add_section(section)
        for key, value in keys.items():
            parser.set(section, key, value)
    out = io.StringIO()
    parser.write(out)
    path.write_text(out.getvalue())
    git(host.dev, "commit", "-qam", "a pushed .dvc/config")
    git(host.dev, "push", "-q", "origin", "main")
    git(host.clone, "pull", "-q", "origin", "main")


def dvc_local(host: Host, *args: str) -> None:
    """The operator's own DVC settings in the host clone (`dvc ... --local`)."""
    _dvc(host.clone, base_env(host.world.home), *args)


def allowed(host: Host) -> list[Path]:
    dot = host.clone / ".dvc"
    return [host.root, dot / "cache", dot / "tmp", host.clone / ".git"]


def refused(result: Any, *words: str) -> str:
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    err = str(result.stderr)
    assert err.startswith("gitmodel: error: ") and len(err.strip().splitlines()) == 1, err
    for word in words:
        assert word in err, err
    return err


# --- where the host writes ------------------------------------------------------------


@pytest.mark.slow
def test_pushed_cache_and_state_settings_change_nothing_on_the_host(
    host: Host, tmp_path: Path, fs_guard: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Measured before the rule, one key at a time: `cache.dir` got the objects, the
    transfer lock and the ledger; `core.site_cache_dir` got DVC's state (`repo/...`);
    `cache.shared = group` made the cache folders 0o2775.  All in one deploy now."""
    cache_dir, state_dir = tmp_path / "attacker-cache", tmp_path / "attacker-state"
    cache_dir.mkdir()
    state_dir.mkdir()
    # DVC_SITE_CACHE_DIR would win over any config: the host's own choice is its global config.
    monkeypatch.delenv("DVC_SITE_CACHE_DIR")
    dvc_local(host, "config", "--global", "core.site_cache_dir", str(host.world.home / "own-site-cache"))
    push_config(
        host,
        cache={"dir": str(cache_dir), "type": "symlink", "shared": "group"},
        core={"site_cache_dir": str(state_dir), "hardlink_lock": "true", "checksum_jobs": "1"},
    )
    host.promote("v1.0.0")  # from the local-path remote: DVC's own transfer, opened with the config
    guard = fs_guard(tmp_path)
    result = host.deploy()
    assert result.exit_code == 0, result.stderr
    assert host.assert_current_valid() == "v1.0.0"
    assert list(cache_dir.iterdir()) == [] and list(state_dir.iterdir()) == []
    guard.assert_only(*allowed(host))
    served = host.mroot() / "versions" / "v1.0.0" / "support.gguf"
    assert served.is_file() and not served.is_symlink()
    cache = host.clone / ".dvc" / "cache" / "files" / "md5"
    assert any(cache.rglob("*"))  # its own cache
    for path in [served, cache, *cache.rglob("*")]:
        assert not path.stat().st_mode & 0o020, f"{path} is group-writable"


# --- where the host's credentials go ---------------------------------------------------


@pytest.mark.slow
def test_a_pushed_endpoint_gets_no_request_from_the_host(
    host: Host, listener: Listener, tmp_path: Path, fs_guard: Callable[..., Any]
) -> None:
    dvc_local(host, "remote", "default", "--local", "s3")  # the host reads the team's S3 remote
    push_config(host, **{"remote s3": {"endpointurl": listener.url}})
    host.promote("v2.0.0")
    guard = fs_guard(tmp_path)
    result = host.deploy()
    assert listener.seen == []
    err = refused(result, "endpointurl", "'s3'", "dvc remote modify --local s3 endpointurl")
    assert listener.url not in err  # the fix names no pusher-chosen value
    assert host.current() is None
    guard.assert_only(*allowed(host))


@pytest.mark.slow
def test_a_pushed_default_remote_switch_gets_no_request_from_the_host(
    host: Host, listener: Listener, tmp_path: Path, fs_guard: Callable[..., Any]
) -> None:
    push_config(
        host,
        core={"remote": "evil"},
        **{"remote evil": {"url": "s3://loot/x", "endpointurl": listener.url}},
    )
    host.promote("v2.0.0")
    guard = fs_guard(tmp_path)
    result = host.deploy()
    assert listener.seen == []
    refused(result, "'evil'", "endpointurl")
    guard.assert_only(*allowed(host))


@pytest.mark.slow
def test_a_rollback_on_the_host_checks_the_remote_with_the_hosts_settings(
    host: Host,
    listener: Listener,
    tmp_path: Path,
    fs_guard: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`gitmodel rollback ENV --root` (the 3 a.m. command) first checks that the DVC remote
    holds the target's bytes; on the host that check too takes nothing but a plain URL from
    the pushed config (found by hand: DVC created the pushed site_cache_dir and was pointed
    at the pushed endpoint)."""
    state_dir = tmp_path / "attacker-state"
    state_dir.mkdir()
    monkeypatch.delenv("DVC_SITE_CACHE_DIR")
    dvc_local(host, "config", "--global", "core.site_cache_dir", str(host.world.home / "own-site-cache"))
    host.promote("v1.0.0")
    host.promote("v2.0.0")
    assert host.deploy().exit_code == 0  # v1.0.0 never reached this host: the rollback is cold
    push_config(
        host,
        core={"remote": "evil", "site_cache_dir": str(state_dir)},
        **{"remote evil": {"url": "s3://loot/x", "endpointurl": listener.url}},
    )
    guard = fs_guard(tmp_path)
    result = host.run("rollback", "production", "support", "--reason", "r", "--root", str(host.root))
    assert listener.seen == []
    refused(result, "'evil'", "endpointurl")
    assert list(state_dir.iterdir()) == []
    assert host.current() == "v2.0.0"
    guard.assert_only(*allowed(host))


@pytest.mark.slow
def test_a_pushed_http_remote_is_not_called(
    host: Host, listener: Listener, tmp_path: Path, fs_guard: Callable[..., Any]
) -> None:
    push_config(host, core={"remote": "web"}, **{"remote web": {"url": listener.url + "/dvc"}})
    host.promote("v2.0.0")
    guard = fs_guard(tmp_path)
    result = host.deploy()
    assert listener.seen == []
    refused(result, "'web'", "http://", "dvc remote add --local")
    guard.assert_only(*allowed(host))


@pytest.mark.slow
def test_a_host_that_sets_its_own_endpoint_ignores_the_pushed_one(host: Host, listener: Listener) -> None:
    host.use_s3()  # `dvc remote default --local s3` and its endpointurl, on the host
    push_config(host, **{"remote s3": {"endpointurl": listener.url}})
    host.promote("v2.0.0")
    assert host.deploy().exit_code == 0
    assert host.assert_current_valid() == "v2.0.0"
    assert listener.seen == []


@pytest.mark.slow
def test_a_host_with_its_own_remote_takes_nothing_from_the_registry(
    host: Host, listener: Listener, tmp_path: Path
) -> None:
    mine = host.private_remote()  # `dvc remote modify --local storage url PATH`
    push_config(
        host,
        core={"remote": "storage"},
        **{"remote storage": {"url": listener.url, "ssl_verify": "false"}},
    )
    host.promote("v1.0.0")
    assert host.deploy().exit_code == 0
    assert host.assert_current_valid() == "v1.0.0"
    assert listener.seen == []
    assert mine.is_dir()


@pytest.mark.slow
def test_the_pointer_watch_takes_no_pushed_endpoint(host: Host, listener: Listener) -> None:
    from gitmodel.pointers.publish import stores

    dvc_local(host, "remote", "default", "--local", "s3")
    push_config(host, **{"remote s3": {"endpointurl": listener.url}})
    with pytest.raises(PolicyError, match="endpointurl"):
        stores(host.clone, [], host=True)
    assert listener.seen == []


# --- the rule, over the pure core -----------------------------------------------------


@pytest.mark.parametrize(
    ("own", "tracked", "taken"),
    [
        (
            {},
            {"core": {"remote": "s"}, "remote s": {"url": "s3://b/p"}},
            {"core": {"remote": "s"}, "remote s": {"url": "s3://b/p"}},
        ),
        ({}, {"cache": {"dir": "/x"}, "core": {"site_cache_dir": "/y", "no_scm": "true"}}, {}),
        ({}, {"remote s": {"url": "s3://b/p", "endpointurl": "http://e"}}, {"remote s": {"url": "s3://b/p"}}),
        ({}, {"remote w": {"url": "https://h/p"}}, {}),
        ({}, {"remote l": {"url": "../remote"}}, {"remote l": {"url": "../remote"}}),
        ({"core": {"remote": "mine"}}, {"core": {"remote": "evil"}}, {}),
        ({"remote s": {"url": "s3://mine"}}, {"remote s": {"url": "s3://evil"}}, {}),
        (
            {"remote s": {"access_key_id": "k"}},
            {"remote s": {"url": "s3://b"}},
            {"remote s": {"url": "s3://b"}},
        ),
    ],
    ids=[
        "name-and-url",
        "cache-core",
        "endpoint",
        "http",
        "local-path",
        "own-default",
        "own-url",
        "own-keys",
    ],
)
def test_what_a_host_takes_from_the_tracked_config(
    own: dvcconf.Conf, tracked: dvcconf.Conf, taken: dvcconf.Conf
) -> None:
    assert dvcconf.tracked_part(own, tracked) == taken


def test_publishing_on_a_host_takes_no_pushed_endpoint(tmp_path: Path) -> None:
    """`rollback --root` on a host publishes its move's document: with the host's settings."""
    import os

    from gitmodel.pointers.publish import stores

    (tmp_path / ".dvc").mkdir()
    (tmp_path / ".dvc" / "config").write_text(
        "[core]\n    remote = s3\n['remote \"s3\"']\n    url = s3://b/p\n    endpointurl = http://127.0.0.1:9\n"
    )
    [store] = stores(tmp_path, [])  # a laptop (no host file): the team's config, as DVC reads it
    assert store.name == "s3"
    host_file = Path(os.environ["GITMODEL_HOST_CONFIG"])
    host_file.parent.mkdir(parents=True, exist_ok=True)
    host_file.write_text(f"root: {tmp_path / 'root'}\n")
    with pytest.raises(PolicyError, match="endpointurl"):
        stores(tmp_path, [])
