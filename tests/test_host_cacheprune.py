"""The host's DVC cache is pruned to what retention keeps: downloads that were never built
(a deploy killed after its download) go at the next successful deploy; what another root
sharing the cache still needs stays; what gitmodel did not download is never touched.

Real git, real DVC (local-path remote), real kill -9 at a named step (gitmodel/testhook.py);
the unit tests below drive cacheprune on a hand-made cache.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from plugin.fsguard import Guard
from plugin.host import FollowServer, Host, cache_path, md5_of, wait_until

from gitmodel import hostlayout
from gitmodel.dvc import cache as dvccache
from gitmodel.host import cacheprune
from gitmodel.host.spec import VersionSpec
from gitmodel.refs import Version


def killed_after_download(host: Host, root: Path, env: str = "production") -> None:
    """`gitmodel deploy ENV support --root ROOT`, kill -9 once its download is complete."""
    marker = root.parent / f"paused-{root.name}-{env}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gitmodel", "deploy", env, "support", "--root", str(root)],
        cwd=host.clone,
        env={**os.environ, "GITMODEL_TEST_PAUSE_AT": "fetched", "GITMODEL_TEST_PAUSE_MARKER": str(marker)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: marker.exists() or proc.poll() is not None, timeout=60)
        assert proc.poll() is None, "the deploy ended before its download was complete"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)


def deploy(
    host: Host, root: Path, follow: FollowServer | None = None, env: str = "production"
) -> dict[str, object]:
    flags = follow.flags() if follow else []
    out = host.ok("deploy", env, "support", "--root", str(root), "--json", *flags).stdout
    return json.loads(out)["deployed"][0]  # type: ignore[no-any-return]


def cache(host: Host) -> Path:
    return host.clone / ".dvc" / "cache"


@pytest.mark.slow
def test_a_download_never_built_is_pruned_and_nothing_else(
    host: Host, follow: FollowServer, fs_guard: type[Guard]
) -> None:
    host.promote("v1.0.0")
    deploy(host, host.root, follow)
    host.promote("v1.1.0")
    killed_after_download(host, host.root)
    leftover = cache_path(host, md5_of(host, "v1.1.0"))
    assert leftover.is_file()  # downloaded, never built
    # Not gitmodel's download: what `dvc add` in this clone left must survive any prune.
    foreign = cache(host) / "files" / "md5" / "ab" / ("c" * 30)
    foreign.parent.mkdir(parents=True, exist_ok=True)
    foreign.write_bytes(b"a dev's unpushed bytes")
    hot = hostlayout.versions_dir(host.root, "support") / "v1.0.0"

    host.promote("v2.0.0")  # the pointer moves past v1.1.0: nothing will ever build it here
    guard = fs_guard(cache(host), hot)
    done = deploy(host, host.root, follow)
    assert done["version"] == "v2.0.0" and done["downloaded"] == 1

    assert not leftover.exists()
    new = cache_path(host, md5_of(host, "v2.0.0"))
    guard.assert_only(
        leftover,
        new.parent,  # v2.0.0's download landed there and was dropped once built
        cache(host) / dvccache.FETCHED,
        cache(host) / cacheprune.CLAIMS,
        cache(host) / dvccache.TRANSFER_LOCK,
    )
    assert foreign.read_bytes() == b"a dev's unpushed bytes"
    pruned = [r for r in host.journal() if r.get("step") == "cache-pruned"]
    assert pruned[-1]["objects"] == 1, pruned
    host.assert_current_valid()


@pytest.mark.slow
def test_a_shared_cache_keeps_what_the_other_root_is_building(host: Host, follow: FollowServer) -> None:
    """One clone, two roots: staging's download in flight survives production's prune,
    which removes production's own abandoned download in the same pass."""
    staging_root = host.root.parent / "staging-root"
    host.promote("v1.0.0")
    deploy(host, host.root, follow)
    host.ok("promote", "support", "v1.1.0", "staging", "--push", cwd=host.dev)
    killed_after_download(host, staging_root, env="staging")
    host.promote("v2.0.0")
    killed_after_download(host, host.root)  # production's download of v2.0.0, abandoned below
    staging_needs = cache_path(host, md5_of(host, "v1.1.0"))
    abandoned = cache_path(host, md5_of(host, "v2.0.0"))
    assert staging_needs.is_file() and abandoned.is_file()

    host.promote("v2.1.0")
    back = (
        "rollback",
        "staging",
        "support",
        "--to",
        "v1.1.0",
        "--reason",
        "hold",
        "--pointer-only",
        "--push",
    )
    host.ok(*back, cwd=host.dev)  # staging wants v1.1.0 again: its root still needs those bytes
    assert deploy(host, host.root, follow)["version"] == "v2.1.0"  # production's root prunes
    assert not abandoned.exists()
    assert staging_needs.is_file(), "production's prune removed what the staging root still needs"

    done = deploy(host, staging_root, env="staging")
    assert done["version"] == "v1.1.0" and done["downloaded"] == 0  # no second download


# --- the prune itself, on a hand-made cache ---------------------------------------------

SHA = "sha256:" + "0" * 64
MD5 = {name: f"{i:02x}" + "0" * 30 for i, name in enumerate(("kept", "gone", "claimed", "foreign"), 1)}


def obj(base: Path, md5: str) -> Path:
    return base / "files" / "md5" / md5[:2] / md5[2:]


@pytest.fixture
def fake(tmp_path: Path) -> tuple[Path, Path]:
    """A cache holding four objects (three downloaded by gitmodel), a root with v1.0.0 built."""
    base, root = tmp_path / "cache", tmp_path / "root"
    for md5 in MD5.values():
        obj(base, md5).parent.mkdir(parents=True)
        obj(base, md5).write_bytes(md5.encode())
    dvccache.note_fetched(base, [obj(base, MD5[k]) for k in ("kept", "gone", "claimed")])
    vdir = hostlayout.versions_dir(root, "support") / "v1.0.0"
    vdir.mkdir(parents=True)
    spec = VersionSpec(
        "support", Version.parse("v1.0.0"), "0" * 40, "m.gguf", "file", MD5["kept"], 1, {"m.gguf": SHA}, ""
    )
    hostlayout.manifest_path(vdir).write_text(json.dumps(spec.manifest()))
    return base, root


def test_prune_keeps_the_keep_set_and_live_claims_only(fake: tuple[Path, Path], tmp_path: Path) -> None:
    base, root = fake
    other = tmp_path / "other"
    hostlayout.model_root(other, "support").mkdir(parents=True)
    claimed = Version.parse("v9.0.0")  # another root's download, not built yet
    cacheprune.claim(base, other, "support", claimed, MD5["claimed"])
    done = cacheprune.prune(base, root, "support", [Version.parse("v1.0.0")])
    assert (done.objects, done.skipped) == (1, "")
    assert not obj(base, MD5["gone"]).exists()
    assert all(obj(base, MD5[k]).exists() for k in ("kept", "claimed", "foreign"))

    # The other root is gone: its claim goes, and with it what only it needed.
    hostlayout.model_root(other, "support").rmdir()
    assert cacheprune.prune(base, root, "support", [Version.parse("v1.0.0")]).objects == 1
    assert not obj(base, MD5["claimed"]).exists() and obj(base, MD5["foreign"]).exists()
    assert not cacheprune.claim_path(base, other, "support").exists()


def test_prune_waits_for_no_transfer_and_trusts_no_unreadable_claim(fake: tuple[Path, Path]) -> None:
    base, root = fake
    with dvccache.transferring(base):
        done = cacheprune.prune(base, root, "support", [])
    assert done.objects == 0 and "transfer" in done.skipped
    bad = base / cacheprune.CLAIMS / "bad.json"
    bad.write_text("{not json")
    done = cacheprune.prune(base, root, "support", [])
    assert done.objects == 0 and "unreadable claim" in done.skipped
    assert all(obj(base, md5).exists() for md5 in MD5.values())
    bad.unlink()
    assert cacheprune.prune(base, root, "support", []).objects == 3  # nothing kept now: all three
    assert obj(base, MD5["foreign"]).exists()
    assert (base / dvccache.FETCHED).read_text() == ""
