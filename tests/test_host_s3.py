"""deploy from an S3 remote: moto's standalone server on 127.0.0.1, dvc-s3 over HTTP."""

from __future__ import annotations

import json
import time

import pytest
from plugin.host import BUCKET, FollowServer, Host, deploy_json, free_port, md5_of

from gitmodel import hostlayout


def test_fresh_host_clone_deploys_from_s3(host: Host, follow: FollowServer) -> None:
    host.use_s3()
    host.promote("v2.0.0")
    done = deploy_json(host, *follow.flags())
    assert done["downloaded"] == 1 and done["mode"] == "hardlink"
    assert host.assert_current_valid() == "v2.0.0" and follow.version == "v2.0.0"
    host.promote("v2.1.0")
    assert deploy_json(host, *follow.flags())["downloaded"] == 1
    # back to a hot version: no S3 request needed at all
    host.ok("rollback", "production", "support", "--push", cwd=host.dev)
    again = deploy_json(host, *follow.flags())
    assert (again["version"], again["downloaded"], again["mode"]) == ("v2.0.0", 0, "hot")


def test_folder_artifact_from_s3(host: Host) -> None:
    host.use_s3()
    host.promote("v1.1.0", model="acme/adapter")
    out = host.ok("deploy", "production", "acme/adapter", "--root", str(host.root), "--json").stdout
    assert json.loads(out)["deployed"][0]["downloaded"] == 3  # the .dir manifest and two files
    assert host.assert_current_valid("acme:adapter") == "v1.1.0"


def _private_prefix(host: Host) -> str:
    """Copy the world's S3 objects to a prefix only this host reads."""
    s3 = host.world.moto.client()
    src = host.world.s3_url.removeprefix(f"s3://{BUCKET}/")
    dst = f"private-{host.root.parent.name}"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=src + "/"):
        for obj in page.get("Contents", []):
            key = dst + obj["Key"][len(src) :]
            s3.copy_object(Bucket=BUCKET, Key=key, CopySource={"Bucket": BUCKET, "Key": obj["Key"]})
    host.use_s3()
    from plugin.host import _dvc, base_env

    _dvc(
        host.clone,
        base_env(host.world.home),
        "remote",
        "modify",
        "--local",
        "s3",
        "url",
        f"s3://{BUCKET}/{dst}",
    )
    return dst


@pytest.mark.slow  # copies the bucket's objects, then two S3 fetches (~3 s)
def test_corrupted_s3_object_is_refused(host: Host, follow: FollowServer) -> None:
    prefix = _private_prefix(host)
    host.promote("v1.0.0")
    deploy_json(host, *follow.flags())
    host.promote("v1.1.0")
    md5 = md5_of(host, "v1.1.0")
    s3 = host.world.moto.client()
    key = f"{prefix}/files/md5/{md5[:2]}/{md5[2:]}"
    data = bytearray(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    data[100] ^= 0xFF
    s3.put_object(Bucket=BUCKET, Key=key, Body=bytes(data))
    err = host.fails(1, "deploy", "production", "support", "--root", str(host.root), *follow.flags()).stderr
    # caught by its md5 as it arrives (gitmodel/dvc/wire.py), before it enters the cache
    assert f"the DVC remote's object {md5} of support.gguf does not match its name" in err
    assert host.current() == "v1.0.0" and follow.version == "v1.0.0"
    assert not (hostlayout.versions_dir(host.root, "support") / "v1.1.0").exists()


def test_s3_object_missing(host: Host) -> None:
    prefix = _private_prefix(host)
    host.promote("v1.0.0")
    md5 = md5_of(host, "v1.0.0")
    host.world.moto.client().delete_object(Bucket=BUCKET, Key=f"{prefix}/files/md5/{md5[:2]}/{md5[2:]}")
    err = host.fails(1, "deploy", "production", "support", "--root", str(host.root)).stderr
    assert f"the DVC remote lacks 1 object(s) of support v1.0.0 ({md5})" in err
    assert host.current() is None


@pytest.mark.slow  # botocore retries for ~8 s before giving up
def test_s3_endpoint_down_exits_4(host: Host) -> None:
    host.use_s3()
    from plugin.host import _dvc, base_env

    _dvc(
        host.clone,
        base_env(host.world.home),
        "remote",
        "modify",
        "--local",
        "s3",
        "endpointurl",
        f"http://127.0.0.1:{free_port()}",
    )
    host.promote("v1.0.0")
    start = time.monotonic()
    err = host.fails(4, "deploy", "production", "support", "--root", str(host.root)).stderr
    assert "cannot read s3://" in err and "(DVC remote s3): Could not connect to the endpoint URL" in err
    assert time.monotonic() - start < 60
    assert host.current() is None
