"""Full disks on a host: a small real filesystem (tmpfs, mounted by the test), real DVC, real git.

The DVC cache or the root lives on a tmpfs of a few MiB; the artifacts are ~2 MiB.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from plugin.host import FollowServer, Host, md5_of, object_path, staging_empty

from gitmodel import hostlayout

MOUNT_SKIP = "needs root and `mount -t tmpfs` (a small filesystem made by the test)"
PARTIAL = ".AbCdEfGhIjKlMnOpQrStUv.tmp"  # DVC's partial name: "." + token_urlsafe(16) + ".tmp"

Mount = Callable[[str, str], Path]


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Mount]:
    mounted: list[Path] = []

    def mount(name: str, size: str) -> Path:
        target = tmp_path / name
        target.mkdir()
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            pytest.skip(f"{MOUNT_SKIP}: {proc.stderr.strip()}")
        mounted.append(target)
        return target

    yield mount
    for target in reversed(mounted):
        subprocess.run(["umount", "-l", str(target)], check=False)


def use_cache(host: Host, cache: Path) -> None:
    """The host clone's DVC cache at `cache` (DVC's own per-clone setting)."""
    dvc = Path(sys.executable).parent / "dvc"
    proc = subprocess.run(
        [str(dvc), "config", "--local", "cache.dir", str(cache)],
        cwd=host.clone,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def fill(where: Path, leave: int) -> Path:
    """A file that leaves `leave` bytes free on the filesystem of `where`."""
    filler = where / "filler"
    with filler.open("wb") as fh:
        while (free := shutil.disk_usage(where).free) > leave:
            try:
                fh.write(b"\0" * min(1024 * 1024, free - leave))
                fh.flush()
            except OSError:
                break
    return filler


def partials(cache: Path) -> list[Path]:
    return sorted(cache.rglob("*.tmp"))


def deploy_args(host: Host) -> list[str]:
    return ["deploy", "production", "support", "--root", str(host.root)]


def test_too_little_space_for_the_cache_is_refused_before_any_transfer(host: Host, tmpfs: Mount) -> None:
    cache = tmpfs("cache", "2m") / "cache"
    use_cache(host, cache)
    host.promote("v1.0.0")
    err = host.fails(1, *deploy_args(host)).stderr
    assert "refused support v1.0.0 [disk-space]: no space left under" in err
    assert "the DVC cache needs" in err and "`current` was not changed" in err
    assert host.current() is None
    assert not any(p.is_file() and p.name != ".gitmodel-transfer.lock" for p in cache.rglob("*"))
    assert host.journal()[-1]["step"] == "failed" and host.journal()[-1]["exit"] == 1


def test_root_on_another_filesystem_too_small_for_the_copy(host: Host, tmpfs: Mount) -> None:
    host.root = tmpfs("root", "1m") / "root"
    host.promote("v1.0.0")
    err = host.fails(1, *deploy_args(host)).stderr
    assert "[disk-space]" in err and "a copy under the root" in err
    assert host.current() is None


# The process fills the cache's filesystem between the space check and DVC's transfer: what
# another writer (or a size model.yaml understated) does to a real host.
FILLING = """
import shutil, sys
from pathlib import Path
from gitmodel import dvc
real = dvc.fetch_out
where = Path(sys.argv[1])
def filling(root, pointer, remote=None, **kw):
    with (where / "filler").open("wb") as fh:
        while (free := shutil.disk_usage(where).free) > 512 * 1024:
            fh.write(b"\\0" * min(1 << 20, free - 512 * 1024))
            fh.flush()
    return real(root, pointer, remote, **kw)
dvc.fetch_out = filling
sys.argv = ["gitmodel", *sys.argv[2:]]
from gitmodel.cli.main import cli
cli()
"""


def test_cache_filling_during_the_download(host: Host, follow: FollowServer, tmpfs: Mount) -> None:
    space = tmpfs("cache", "8m")
    cache = space / "cache"
    use_cache(host, cache)
    host.promote("v1.0.0")
    script = host.root.parent / "filling.py"
    script.write_text(FILLING)
    args = [*deploy_args(host), *follow.flags()]
    proc = subprocess.run(
        [sys.executable, str(script), str(space), *args],
        cwd=host.clone,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr  # no DVC lines, no traceback
    assert "[disk-space]" in lines[0] and "filled during the download" in lines[0]
    assert partials(cache) == []  # DVC's partial files are gone
    assert host.current() is None and staging_empty(host)
    # Retrying while the disk is still full is refused up front, and leaves nothing either.
    err = host.fails(1, *args).stderr
    assert "the DVC cache needs" in err and partials(cache) == []
    (space / "filler").unlink()
    done = json.loads(host.ok(*args, "--json").stdout)["deployed"][0]
    assert done["version"] == "v1.0.0" and follow.version == "v1.0.0"
    assert host.assert_current_valid() == "v1.0.0"


def test_partials_left_by_a_killed_download_are_removed(host: Host) -> None:
    host.promote("v1.0.0")
    md5 = md5_of(host, "v1.0.0")
    folder = object_path(host.clone / ".dvc" / "cache", md5).parent
    folder.mkdir(parents=True)
    (folder / PARTIAL).write_bytes(b"half an object")
    (folder / f"{md5[2:]}{PARTIAL}").write_bytes(b"half a move")
    (folder / "notes.tmp").write_bytes(b"not DVC's")  # not a partial's name: left alone
    host.ok(*deploy_args(host))
    assert [p.name for p in partials(host.clone / ".dvc" / "cache")] == ["notes.tmp"]


def test_hot_rollback_on_a_full_root_still_swaps(host: Host, follow: FollowServer, tmpfs: Mount) -> None:
    host.root = tmpfs("root", "16m") / "root"
    follow.root = host.root
    for version in ("v1.0.0", "v1.1.0"):
        host.promote(version)
        host.ok(*deploy_args(host), *follow.flags())
    # A journal that ends on a page boundary (padded with a blank line, which readers skip),
    # so the next record needs a new block and the full disk has none.
    path = hostlayout.journal_path(host.mroot())
    size = path.stat().st_size
    path.write_bytes(path.read_bytes() + b" " * (-(size + 1) % 4096) + b"\n")
    lines = len(host.journal())
    fill(host.root, 0)
    out = host.ok(
        "rollback", "production", "support", "--root", str(host.root), "--reason", "bad", *follow.flags()
    ).stdout
    assert host.current() == "v1.0.0" and follow.version == "v1.0.0"
    assert host.assert_current_valid() == "v1.0.0"
    assert "journal   " in out and "not written" in out and "No space left" in out
    assert len(host.journal()) == lines  # nothing could be written, and nothing was torn


@pytest.mark.slow
def test_cache_holds_no_bytes_of_hot_versions(host: Host, follow: FollowServer) -> None:
    """Disk use is the hot versions (hot_versions: 3) and nothing more in the DVC cache."""
    for version in ("v1.0.0", "v1.1.0", "v2.0.0", "v2.1.0"):
        host.promote(version)
        host.ok(*deploy_args(host), *follow.flags())
    cache = host.clone / ".dvc" / "cache" / "files" / "md5"
    objects = [p for p in cache.rglob("*") if p.is_file()]
    assert objects == []
    hot = hostlayout.hot_versions(host.root, "support")
    assert [str(v) for v in hot] == ["v1.1.0", "v2.0.0", "v2.1.0"]
    for version in hot:
        art = hostlayout.versions_dir(host.root, "support") / str(version) / "support.gguf"
        assert art.stat().st_nlink == 1
    # a retired version comes back from the remote, whole
    host.ok("rollback", "production", "support", "--to", "v1.0.0", "--push", "--reason", "x", cwd=host.dev)
    done = json.loads(host.ok(*deploy_args(host), "--json", *follow.flags()).stdout)["deployed"][0]
    assert done["downloaded"] == 1 and host.assert_current_valid() == "v1.0.0"
    assert [p for p in cache.rglob("*") if p.is_file()] == []
    assert os.path.isdir(cache)
