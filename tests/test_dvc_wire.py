"""Downloads from a plain S3 remote by streamed GETs (gitmodel/dvc/wire.py): DVC's remote
layout and cache layout, every byte checked against its md5 name, the idle deadline."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
from plugin import forkrun
from plugin.host import BUCKET, Moto
from plugin.registry import Registry, git, make_runner, random_bytes
from plugin.templates import Snapshots, Templates

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


@dataclass
class Pushed:
    registry: Registry
    pointers: dict[str, str]  # "file", "folder": the text of its .dvc file


def _build(templates: Templates, moto: Moto, base: Path) -> None:
    """A file and a folder registered and pushed to a moto S3 default remote (its prefix:
    BASE's name); the cache emptied; the .dvc files' texts in pointers.json."""
    with pytest.MonkeyPatch.context() as mp:
        registry = templates.fresh(base, mp)
        moto.client().create_bucket(Bucket=BUCKET)
        s3_default(registry, moto.endpoint, base.name)
        registry.write("s.gguf", random_bytes(300_000, 1))
        registry.ok("register", "support", "s.gguf", "--meta", str(registry.meta()), "--push")
        registry.write("ad/a.json", '{"r": 8}')
        registry.write("ad/w/b.bin", random_bytes(50_000, 2))
        registry.ok("register", "acme:ad", "ad", "--meta", str(registry.meta()), "--push")
    pointers = {
        "file": (registry.root / "models/support/s.gguf.dvc").read_text(),
        "folder": (registry.root / "acme/models/ad/ad.dvc").read_text(),
    }
    (base / "pointers.json").write_text(json.dumps(pointers))
    subprocess.run(["chmod", "-R", "u+w", str(registry.root / ".dvc/cache")], check=True)
    subprocess.run(["rm", "-rf", str(registry.root / ".dvc/cache")], check=True)


@pytest.fixture(scope="session")
def snapshots(tmp_path_factory: pytest.TempPathFactory) -> Snapshots:
    return Snapshots(tmp_path_factory.mktemp("wire-snapshots"))


@pytest.fixture(name="pushed")
def pushed_fixture(
    templates: Templates,
    moto: Moto,
    snapshots: Snapshots,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Pushed:
    """A file and a folder registered and pushed to a moto S3 default remote under the
    test's own prefix (tmp_path's name); cache emptied.  Built once per session and copied,
    S3 objects included (registering through DVC's S3 client cost 3 s of CPU a test)."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    source = snapshots.get("pushed", partial(_build, templates, moto))
    old, new = source.name, tmp_path.name
    snapshots.copy("pushed", tmp_path, {f"s3://{BUCKET}/{old}": f"s3://{BUCKET}/{new}"})
    s3 = moto.client()
    for item in s3.list_objects_v2(Bucket=BUCKET, Prefix=old + "/").get("Contents", []):
        key = new + item["Key"].removeprefix(old)
        s3.copy_object(Bucket=BUCKET, Key=key, CopySource={"Bucket": BUCKET, "Key": item["Key"]})
    root = tmp_path / "repo"
    git(root, "commit", "-q", "--no-verify", "-m", "this copy's remotes", ".dvc/config")
    registry = Registry(root, tmp_path / "dvc-remote", make_runner(monkeypatch, root))
    return Pushed(registry, json.loads((tmp_path / "pointers.json").read_text()))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["file", "folder"])
def test_a_plain_s3_remote_is_read_without_dvc(pushed: Pushed, kind: str) -> None:
    registry = pushed.registry

    def no_dvc(repo: Path) -> None:
        raise AssertionError("fetch_out opened DVC: the wire path was not taken")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("gitmodel.dvc.config.open_repo", no_dvc)
        out = dvc.fetch_out(registry.root, pushed.pointers[kind])
    assert out.missing == [] and out.downloaded == (1 if kind == "file" else 3)
    for rel, cached in out.files.items():
        assert cached.stat().st_mode & 0o777 == 0o444  # as DVC leaves its cache objects
        source = registry.root / ("models/support/s.gguf" if kind == "file" else f"acme/models/ad/ad/{rel}")
        assert cached.read_bytes() == source.read_bytes()
    assert dvc.fetch_out(registry.root, pushed.pointers[kind]).downloaded == 0  # cached: no transfer


@pytest.mark.slow
def test_a_corrupt_remote_object_never_enters_the_cache(pushed: Pushed, moto: Moto, tmp_path: Path) -> None:
    registry = pushed.registry
    md5 = dvc.pointer_md5(pushed.pointers["file"])
    key = f"{tmp_path.name}/files/md5/{md5[:2]}/{md5[2:]}"
    data = bytearray(moto.client().get_object(Bucket=BUCKET, Key=key)["Body"].read())
    data[10] ^= 0xFF
    moto.client().put_object(Bucket=BUCKET, Key=key, Body=bytes(data))
    with pytest.raises(PolicyError, match=f"object {md5} of s.gguf does not match its name"):
        dvc.fetch_out(registry.root, pushed.pointers["file"])
    cache = registry.root / ".dvc/cache/files/md5"
    assert [p.name for p in cache.rglob("*") if p.is_file()] == []  # no object, no partial


@pytest.mark.slow
def test_a_hung_s3_remote_ends_at_the_idle_deadline(
    pushed: Pushed, silent_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = pushed.registry
    monkeypatch.setenv("GITMODEL_DVC_TIMEOUT", "1")
    config = registry.root / ".dvc/config.local"
    config.write_text(f"['remote \"s3\"']\n    endpointurl = http://127.0.0.1:{silent_port}\n")
    began = time.monotonic()
    with pytest.raises(RemoteUnreachable, match=r"the DVC remote 's3' .* moved no byte within 1 s"):
        dvc.fetch_out(registry.root, pushed.pointers["file"])
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
