"""register's own `dvc add` (gitmodel/dvc/track.py): byte for byte what DVC writes, and
DVC's tools (status, push, pull, artifacts get) work on it, against a local-path remote
and the S3 test server."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from plugin import forkrun
from plugin.host import BUCKET, Moto
from plugin.registry import Registry, git, random_bytes

from gitmodel.dvc import track


def dvc(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    proc = forkrun.run("dvc", args, cwd, env)  # DVC's own CLI in a process of its own
    assert not check or proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


def fresh(base: Path, name: str) -> Path:
    root = base / name
    root.mkdir()
    git(root, "init", "-q")
    dvc(root, "init", "-q")
    git(root, "commit", "-q", "-m", "dvc init")
    return root


def picture(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under models/ and .dvc/cache: its mode and bytes (DVC's own tmp/ aside)."""
    found = {}
    for top in ("models", ".dvc/cache"):
        for path in sorted((root / top).rglob("*")):
            if path.is_file():
                found[str(path.relative_to(root))] = (path.stat().st_mode & 0o777, path.read_bytes())
    return found


def lay_out(root: Path, kind: str) -> Path:
    folder = root / "models" / "m"
    folder.mkdir(parents=True)
    (folder / ".gitignore").write_text("/other.bin")  # no final newline: DVC adds one first
    if kind == "file":
        target = folder / "w [1]#.gguf"  # gitignore escaping
        target.write_bytes(random_bytes(70_000, 3))
        return target
    target = folder / "adapter"
    for rel, data in {
        "a.txt": b"hi\n",
        "crlf.txt": b"x\r\ny\r\n",  # DVC 3's md5 is of the raw bytes
        "sub/b.txt": b"yo",
        "sub.txt": b"sorted by relpath string: sub.txt before sub/b.txt",
        "empty": b"",
        "d\u00e9j\u00e0 vu/1.0": random_bytes(9_000, 4),
    }.items():
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        (target / rel).write_bytes(data)
    return target


@pytest.mark.parametrize("kind", ["file", "directory"])
def test_track_writes_what_dvc_add_writes(tmp_path: Path, kind: str) -> None:
    theirs, ours = fresh(tmp_path, "theirs"), fresh(tmp_path, "ours")
    for round_ in range(2):  # then again over the pointer the first round wrote
        for root in (theirs, ours):
            target = lay_out(root, kind) if round_ == 0 else root / "models/m" / _name(kind)
            if round_ == 1:
                extra = target / "new.bin" if kind == "directory" else target
                if kind == "file":
                    target.chmod(0o644)
                    target.write_bytes(random_bytes(80_000, 5))
                else:
                    extra.write_bytes(b"one more file")
            if root is theirs:
                dvc(root, "add", "-q", str(target))
            else:
                assert track.add(root, target) is not None
        assert picture(ours) == picture(theirs)
        assert dvc(ours, "status", "-q", check=False).returncode == 0  # up to date


def _name(kind: str) -> str:
    return "w [1]#.gguf" if kind == "file" else "adapter"


def test_the_manifest_is_dvc_datas_own(tmp_path: Path) -> None:
    from dvc_data.hashfile.hash_info import HashInfo
    from dvc_data.hashfile.meta import Meta
    from dvc_data.hashfile.tree import Tree

    hashes = {"sub/b": "1" * 32, "sub.txt": "2" * 32, "Z": "3" * 32, "\u00e9": "4" * 32, "a b": "5" * 32}
    tree = Tree()
    for rel, md5 in hashes.items():
        tree.add(tuple(rel.split("/")), Meta(), HashInfo("md5", md5))
    tree.digest()
    assert track.manifest_bytes(hashes) == tree.as_bytes()


@pytest.mark.parametrize(
    "setup",
    [
        "cache-type",
        "dvcignore",
        "stages",
        "executable",
        "edited-pointer",
        "tracked-by-git",
        "inside-tracked-folder",
    ],
)
def test_what_it_does_not_reproduce_is_left_to_dvc(tmp_path: Path, setup: str) -> None:
    root = fresh(tmp_path, "repo")
    target = lay_out(root, "file")
    if setup == "cache-type":
        dvc(root, "config", "cache.type", "hardlink")
    elif setup == "dvcignore":
        (root / ".dvcignore").write_text("# comment\n*.tmp\n")
    elif setup == "stages":
        (root / "dvc.yaml").write_text("stages:\n  train:\n    cmd: python train.py\n")
    elif setup == "executable":
        target.chmod(0o755)
    elif setup == "edited-pointer":
        dvc(root, "add", "-q", str(target))
        pointer = target.with_name(target.name + ".dvc")
        pointer.write_text(pointer.read_text() + "  desc: the team's note\n")
        target.chmod(0o644)
        target.write_bytes(b"new bytes")
    elif setup == "tracked-by-git":
        git(root, "add", "-f", str(target))
    elif setup == "inside-tracked-folder":
        (root / "models" / "m.dvc").write_text("outs:\n- path: m\n")
    before = picture(root)
    assert track.add(root, target) is None
    assert picture(root) == before  # nothing written: DVC's add takes it from here


def pointer_md5(path: Path) -> str:
    from gitmodel.dvc import pointer_md5 as read

    return read(path.read_text())


@pytest.mark.slow
def test_dvc_tools_read_what_register_wrote(tmp_path: Path, registry: Registry, moto: Moto) -> None:
    """status, push, pull and artifacts get, for a file and a folder artifact, against the
    registry's local-path remote and an S3 remote."""

    def no_dvc(repo: Path) -> None:
        raise AssertionError("register opened DVC: the fast path was not taken")

    root = registry.root
    moto.client().create_bucket(Bucket=BUCKET)
    s3 = f"s3://{BUCKET}/{tmp_path.name}-track"
    dvc(root, "remote", "add", "s3", s3)
    dvc(root, "remote", "modify", "s3", "endpointurl", moto.endpoint)
    git(root, "commit", "-q", "-m", "s3 remote", ".dvc/config")
    data = random_bytes(300_000, 7)
    registry.write("support.gguf", data)
    registry.write("adapter/adapter_config.json", '{"r": 16}')
    registry.write("adapter/w/adapter.safetensors", random_bytes(40_000, 8))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("gitmodel.dvc.config.open_repo", no_dvc)
        registry.ok("register", "support", "support.gguf", "--meta", str(registry.meta()))
        registry.ok("register", "acme:adapter", "adapter", "--meta", str(registry.meta()))

    status = dvc(root, "status")
    assert "up to date" in status.stdout, status.stdout
    for remote in (None, "s3"):
        flags = ["-r", remote] if remote else []
        dvc(root, "push", *flags)
        assert "in sync" in dvc(root, "status", "-c", *flags).stdout
    for oid in (
        pointer_md5(root / "models/support/support.gguf.dvc"),
        adapter_md5 := pointer_md5(root / "acme/models/adapter/adapter.dvc"),
    ):
        assert (registry.remote / "files/md5" / oid[:2] / oid[2:]).is_file()
    assert adapter_md5.endswith(".dir")
    git(root, "push", "-q", "origin", "HEAD", "--tags")

    for remote in (None, "s3"):
        clone = tmp_path / f"clone-{remote}"
        git(tmp_path, "clone", "-q", str(registry.root.parent / "origin.git"), str(clone))
        out = tmp_path / f"got-{remote}"
        choose = ["--remote", remote] if remote else []
        # Before any pull, so the bytes can only come from the remote.
        dvc(clone, "artifacts", "get", ".", "support", "-o", str(out / "s.gguf"), *choose)
        assert (out / "s.gguf").read_bytes() == data
        dvc(clone, "artifacts", "get", ".", "acme:adapter", "-o", str(out / "ad"), *choose)
        assert (out / "ad/w/adapter.safetensors").read_bytes() == (
            root / "acme/models/adapter/adapter/w/adapter.safetensors"
        ).read_bytes()
        dvc(clone, "pull", *(["-r", remote] if remote else []))
        assert (clone / "models/support/support.gguf").read_bytes() == data
        assert (clone / "acme/models/adapter/adapter/adapter_config.json").read_text() == '{"r": 16}'
        shutil.rmtree(clone)
