"""Downloads from a plain S3 remote by streamed GETs (gitmodel/dvc/wire.py): DVC's remote
layout and cache layout, every byte checked against its md5 name, the idle deadline."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from plugin import forkrun
from plugin.host import BUCKET, Moto
from plugin.registry import Registry, git, random_bytes

from gitmodel import dvc
from gitmodel.errors import PolicyError, RemoteUnreachable


def s3_default(registry: Registry, endpoint: str, prefix: str, *extra: tuple[str, str]) -> str:
    url = f"s3://{BUCKET}/{prefix}"
    steps = [["remote", "add", "-d", "s3", url], ["remote", "modify", "s3", "endpointurl", endpoint]]
    for args in steps + [["remote", "modify", "s3", key, value] for key, value in extra]:
        proc = forkrun.run("dvc", args, registry.root, timeout=300)  # DVC imported once per worker
        assert proc.returncode == 0, (args, proc.stderr)
    git(registry.root, "commit", "-q", "-m", "s3", ".dvc/config")
    return url


@pytest.fixture(name="pushed")
def pushed_fixture(
    registry: Registry, moto: Moto, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> dict[str, str]:
    """A file and a folder registered and pushed to a moto S3 default remote; cache emptied."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    moto.client().create_bucket(Bucket=BUCKET)
    s3_default(registry, moto.endpoint, tmp_path.name)
    registry.write("s.gguf", random_bytes(300_000, 1))
    registry.ok("register", "support", "s.gguf", "--meta", str(registry.meta()), "--push")
    registry.write("ad/a.json", '{"r": 8}')
    registry.write("ad/w/b.bin", random_bytes(50_000, 2))
    registry.ok("register", "acme:ad", "ad", "--meta", str(registry.meta()), "--push")
    pointers = {
        "file": (registry.root / "models/support/s.gguf.dvc").read_text(),
        "folder": (registry.root / "acme/models/ad/ad.dvc").read_text(),
    }
    subprocess.run(["chmod", "-R", "u+w", str(registry.root / ".dvc/cache")], check=True)
    subprocess.run(["rm", "-rf", str(registry.root / ".dvc/cache")], check=True)
    return pointers


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["file", "folder"])
def test_a_plain_s3_remote_is_read_without_dvc(registry: Registry, pushed: dict[str, str], kind: str) -> None:
    def no_dvc(repo: Path) -> None:
        raise AssertionError("fetch_out opened DVC: the wire path was not taken")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("gitmodel.dvc.config.open_repo", no_dvc)
        out = dvc.fetch_out(registry.root, pushed[kind])
    assert out.missing == [] and out.downloaded == (1 if kind == "file" else 3)
    for rel, cached in out.files.items():
        assert cached.stat().st_mode & 0o777 == 0o444  # as DVC leaves its cache objects
        source = registry.root / ("models/support/s.gguf" if kind == "file" else f"acme/models/ad/ad/{rel}")
        assert cached.read_bytes() == source.read_bytes()
    assert dvc.fetch_out(registry.root, pushed[kind]).downloaded == 0  # cached: no transfer


@pytest.mark.slow
def test_a_corrupt_remote_object_never_enters_the_cache(
    registry: Registry, pushed: dict[str, str], moto: Moto, tmp_path: Path
) -> None:
    md5 = dvc.pointer_md5(pushed["file"])
    key = f"{tmp_path.name}/files/md5/{md5[:2]}/{md5[2:]}"
    data = bytearray(moto.client().get_object(Bucket=BUCKET, Key=key)["Body"].read())
    data[10] ^= 0xFF
    moto.client().put_object(Bucket=BUCKET, Key=key, Body=bytes(data))
    with pytest.raises(PolicyError, match=f"object {md5} of s.gguf does not match its name"):
        dvc.fetch_out(registry.root, pushed["file"])
    cache = registry.root / ".dvc/cache/files/md5"
    assert [p.name for p in cache.rglob("*") if p.is_file()] == []  # no object, no partial


@pytest.mark.slow
def test_a_hung_s3_remote_ends_at_the_idle_deadline(
    registry: Registry, pushed: dict[str, str], silent_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITMODEL_DVC_TIMEOUT", "1")
    config = registry.root / ".dvc/config.local"
    config.write_text(f"['remote \"s3\"']\n    endpointurl = http://127.0.0.1:{silent_port}\n")
    began = time.monotonic()
    with pytest.raises(RemoteUnreachable, match=r"the DVC remote 's3' .* moved no byte within 1 s"):
        dvc.fetch_out(registry.root, pushed["file"])
    assert time.monotonic() - began < 20


def test_only_plain_s3_remotes_take_the_wire(tmp_path: Path) -> None:
    from gitmodel.dvc import wire

    (tmp_path / ".dvc").mkdir()
    config = tmp_path / ".dvc" / "config"
    for text, plain in [
        (
            "[core]\n    remote = s3\n['remote \"s3\"']\n    url = s3://b/p\n    endpointurl = http://x\n",
            True,
        ),
        ("[core]\n    remote = s3\n['remote \"s3\"']\n    url = s3://b/p\n    version_aware = true\n", False),
        ("[core]\n    remote = l\n['remote \"l\"']\n    url = /srv/dvc\n", False),
        (
            "[core]\n    remote = s3\n['remote \"s3\"']\n    url = s3://b/p\n[cache]\n    dir = /elsewhere\n",
            False,
        ),
    ]:
        config.write_text(text)
        conf = dvc.config.repo_config(tmp_path)
        eligible = (
            wire._plain_s3(tmp_path, conf, None) is not None and dvc.config.plain_cache(tmp_path) is not None
        )
        assert eligible == plain, text
    assert os.environ.get("DVC_GLOBAL_CONFIG_DIR")  # the hermetic fixture keeps user configs out
