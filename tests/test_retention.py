"""gc, restore and deprecation timelines on real registries: real git, real DVC remotes
(a second local remote, and S3 through moto), real clones pulling after a restore."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from plugin import forkrun
from plugin.fsguard import Guard
from plugin.host import BUCKET, Host, Moto
from plugin.registry import Registry, git

pytestmark = pytest.mark.slow

POLICY = """
retention:
  cold_remote: cold
  rollback_window: {window}
  min_retention_days: 0
  statuses:
    development: {{max_versions: {newest}}}
"""


def as_json(reg: Registry, *args: str) -> Any:
    return json.loads(reg.ok(*args, "--json").stdout)


def dvc(cwd: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """DVC's own CLI, forked from plugin.forkrun's zygote (DVC imported once per worker)."""
    proc = forkrun.run("dvc", args, cwd, timeout=300)
    assert not ok or proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


def with_policy(
    reg: Registry, cold_url: str, window: int = 1, *modify: tuple[str, str], newest: int = 0
) -> None:
    """gitmodel.yaml gets POLICY, .dvc/config a `cold` remote at COLD_URL; both committed."""
    dvc(reg.root, "remote", "add", "cold", cold_url)
    for key, value in modify:
        dvc(reg.root, "remote", "modify", "cold", key, value)
    with (reg.root / "gitmodel.yaml").open("a") as fh:
        fh.write(POLICY.format(window=window, newest=newest))
    git(reg.root, "add", "gitmodel.yaml", ".dvc/config")
    proc = git(reg.root, "commit", "-q", "-m", "retention policy", check=False)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)


def md5_of(reg: Registry, version: str) -> str:
    return md5_of_at(reg.root, version)


def obj(remote: Path, md5: str) -> Path:
    return remote / "files" / "md5" / md5[:2] / md5[2:]


def test_gc_archives_to_a_second_local_remote_and_restore_brings_it_back(
    template_copy: Callable[[str], Registry], tmp_path: Path
) -> None:
    reg = template_copy("served_twice")  # production and staging serve v1.1.0 (after v1.0.0)
    cold = tmp_path / "cold-remote"
    with_policy(reg, str(cold))
    old, new = md5_of(reg, "v1.0.0"), md5_of(reg, "v1.2.0")
    plan = as_json(reg, "gc", "--dry-run")
    assert {(r["version"], r["action"]) for r in plan["rows"]} == {
        ("v1.0.0", "archive"),
        ("v1.2.0", "archive"),
    }

    done = as_json(reg, "gc")
    assert all(r["done"] for r in done["rows"])
    for md5 in (old, new):
        assert obj(cold, md5).is_file() and not obj(reg.remote, md5).exists()
    assert obj(reg.remote, md5_of(reg, "v1.1.0")).is_file()  # served: untouched
    shown = as_json(reg, "show", "support@v1.2.0")
    assert shown["status"] == "archived"
    # The records reached origin with the refs (another clone sees the archive).
    lifecycle = git(tmp_path / "origin.git", "for-each-ref", "refs/gitmodel/lifecycle").stdout
    assert len(lifecycle.splitlines()) == 2

    refused = reg.fails(1, "promote", "support", "v1.2.0", "staging")
    assert "`gitmodel restore support@v1.2.0`" in refused.stderr
    refused = reg.fails(1, "rollback", "production", "support", "--to", "v1.0.0")
    assert "`gitmodel restore support@v1.0.0`" in refused.stderr

    back = as_json(reg, "restore", "support@v1.2.0")
    assert back["copied"] == 1 and obj(reg.remote, new).is_file()
    assert as_json(reg, "show", "support@v1.2.0")["status"] == "development"
    reg.fails(2, "restore", "support@v1.2.0")  # not archived any more

    # A fresh clone pulls the restored version from the hot remote with plain DVC.
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(clone))
    git(clone, "checkout", "-q", "support@v1.2.0")
    dvc(clone, "pull", "-q", "models/support/m.gguf.dvc")
    assert (clone / "models/support/m.gguf").stat().st_size == 2000
    # The archived one is not on the hot remote: DVC's own pull says so.
    git(clone, "checkout", "-q", "support@v1.0.0")
    proc = dvc(clone, "pull", "models/support/m.gguf.dvc", ok=False)
    assert proc.returncode != 0


def test_gc_archives_to_s3_and_restores(
    template_copy: Callable[[str], Registry], tmp_path: Path, moto: Moto, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    s3 = moto.client()
    if BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=BUCKET)
    prefix = f"cold-{tmp_path.name}"
    reg = template_copy("served_twice")
    with_policy(reg, f"s3://{BUCKET}/{prefix}", 2, ("endpointurl", moto.endpoint))
    new = md5_of(reg, "v1.2.0")
    done = as_json(reg, "gc")
    assert [(r["version"], r["action"]) for r in done["rows"] if r["action"] == "archive"] == [
        ("v1.2.0", "archive")
    ]
    kept = {r["version"]: r["reason"] for r in done["rows"] if r["action"] == "keep"}
    assert kept == {"v1.0.0": "rollback window of staging (last 2)"}
    key = f"{prefix}/files/md5/{new[:2]}/{new[2:]}"
    assert s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"] == 2000
    assert not obj(reg.remote, new).exists()
    as_json(reg, "restore", "support@v1.2.0")
    assert obj(reg.remote, new).is_file()
    reg.ok("promote", "support", "v1.2.0", "staging")  # restored: movable again


def test_gc_dry_run_changes_nothing(
    template_copy: Callable[[str], Registry], tmp_path: Path, fs_guard: Callable[..., Guard]
) -> None:
    reg = template_copy("served_twice")
    with_policy(reg, str(tmp_path / "cold-remote"))
    guard = fs_guard(reg.root, reg.remote, tmp_path / "origin.git")
    out = reg.ok("gc", "--dry-run")
    assert "would archive" in out.stdout and "v1.2.0" in out.stdout
    guard.assert_only()
    assert not (tmp_path / "cold-remote").exists()


def test_gc_without_a_cold_remote_refuses_before_moving_anything(
    template_copy: Callable[[str], Registry], fs_guard: Callable[..., Guard]
) -> None:
    reg = template_copy("served_twice")
    with (reg.root / "gitmodel.yaml").open("a") as fh:
        fh.write("retention:\n  min_retention_days: 0\n  statuses: {development: {max_versions: 0}}\n")
    guard = fs_guard(reg.root, reg.remote)
    err = reg.fails(2, "gc").stderr
    assert "retention.cold_remote" in err
    guard.assert_only()


def test_gc_refuses_a_cold_remote_that_is_the_hot_one(
    template_copy: Callable[[str], Registry], fs_guard: Callable[..., Guard]
) -> None:
    reg = template_copy("served_twice")
    config = (reg.root / ".dvc" / "config").read_text()
    remote = next(
        line.split("=", 1)[1].strip() for line in config.splitlines() if line.strip().startswith("remote =")
    )
    with (reg.root / "gitmodel.yaml").open("a") as fh:
        fh.write(f"retention:\n  cold_remote: {remote}\n  min_retention_days: 0\n")
        fh.write("  statuses: {development: {max_versions: 0}}\n")
    guard = fs_guard(reg.root, reg.remote)
    assert "the remote gc removes archived bytes from" in reg.fails(2, "gc").stderr
    guard.assert_only()


def test_a_typo_in_retention_is_one_line_at_commit_and_use(released: Registry) -> None:
    with (released.root / "gitmodel.yaml").open("a") as fh:
        fh.write("retention:\n  statuses: {production: {max_versions: 1}}\n")
    err = released.fails(2, "gc", "--dry-run").stderr
    assert "retention.statuses.production is served" in err
    git(released.root, "add", "gitmodel.yaml")
    proc = git(released.root, "commit", "-q", "-m", "bad policy", check=False)
    assert proc.returncode != 0 and "retention.statuses.production" in proc.stderr


def test_scheduled_deprecation_is_listed_then_enforced(released: Registry) -> None:
    released.ok("deprecate", "support", "v1.1.0", "--on", "2999-01-01", "--reason", "replaced by v2")
    listed = as_json(released, "list")["models"][0]
    assert listed["deprecations"] == [{"version": "v1.1.0", "on": "2999-01-01", "due": False}]
    assert "DEPRECATES" in released.ok("list").stdout
    released.ok("promote", "support", "v1.1.0", "staging")  # not due yet
    released.fails(1, "deprecate", "support", "v1.1.0", "--on", "2999-02-01")  # a schedule stands
    released.fails(2, "deprecate", "support", "v1.0.0", "--on", "2001-01-01")  # in the past
    released.fails(2, "deprecate", "support", "v1.0.0", "--on", "soon")


def test_a_due_deprecation_refuses_promote_and_gc_writes_the_tag(
    released: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datetime as dt

    from gitmodel.lifecycle import status

    released.ok("deprecate", "support", "v1.1.0", "--on", "2999-01-01")
    monkeypatch.setattr(status, "today", lambda: dt.date(2999, 1, 2))
    assert as_json(released, "show", "support@v1.1.0")["status"] == "deprecated"
    err = released.fails(1, "promote", "support", "v1.1.0", "staging").stderr
    assert "deprecated since 2999-01-01" in err
    plan = as_json(released, "gc", "--dry-run")["rows"]
    assert [(r["version"], r["action"]) for r in plan] == [("v1.1.0", "deprecate")]
    released.ok("gc")
    assert "support@v1.1.0!" in git(released.root, "tag", "-l").stdout.split()


def test_list_and_show_status_and_namespace(released: Registry) -> None:
    listed = as_json(released, "list")
    assert listed["models"][0]["status"] == "development"  # v1.1.0: registered, not promoted
    assert as_json(released, "show", "support@v1.0.0")["status"] == "production"
    assert "STATUS" in released.ok("list").stdout
    assert as_json(released, "list", "--namespace", "acme")["models"] == []
    released.fails(2, "list", "--namespace", "acme/support")


def md5_of_at(repo: Path, version: str) -> str:
    meta = git(repo, "show", f"support@{version}:models/support/model.yaml").stdout
    return next(line.split(":", 1)[1].strip() for line in meta.splitlines() if "dvc_md5" in line)


def test_a_host_asked_for_an_archived_version_it_lacks_says_restore(host: Host, tmp_path: Path) -> None:
    host.promote("v2.0.0")
    host.ok("deploy", "production", "support", "--root", str(host.root))
    hot, cold = tmp_path / "hot-remote", tmp_path / "cold-remote"
    shutil.copytree(host.world.remote, hot)  # the world's remote is shared by the session: never gc it
    for clone in (host.dev, host.clone):  # gc empties the hot remote this host downloads from
        dvc(clone, "remote", "modify", "--local", "storage", "url", str(hot))
    dvc(host.dev, "remote", "add", "cold", str(cold))
    with (host.dev / "gitmodel.yaml").open("a") as fh:
        fh.write(POLICY.format(window=1, newest=0))
    before = sorted(p.relative_to(hot) for p in hot.rglob("*") if p.is_file())
    plan = json.loads(host.ok("gc", "--json", cwd=host.dev).stdout)
    archived = {(r["model"], r["version"]) for r in plan["rows"] if r["action"] == "archive"}
    # acme/adapter's versions are folders: their manifests and files move too
    folders = {("acme:adapter", "v1.0.0"), ("acme:adapter", "v1.1.0")}
    assert archived == {("support", "v1.0.0"), ("support", "v1.1.0"), ("support", "v2.1.0"), *folders}
    host.ok("deploy", "production", "support", "--root", str(host.root))  # fetches the records
    # v1.1.0 never served here and never reached staging: the policy refuses it before any
    # download (an archive record alone refuses nothing on a host; docs/security.md).
    err = host.fails(
        1, "rollback", "production", "support", "--local", "--to", "v1.1.0", "--root", str(host.root)
    )
    assert "[promotion-order]" in err.stderr and "archived" not in err.stderr
    assert host.current() == "v2.0.0"
    assert (
        not obj(hot, md5_of_at(host.dev, "v1.1.0")).exists()
        and obj(host.world.remote, md5_of_at(host.dev, "v1.1.0")).is_file()
    )
    # A pointer moved to an archived version by hand: the remote lacks its bytes, and the
    # host says why and how to bring them back; nothing is swapped in.
    counters = [int(t.rsplit("#", 1)[1]) for t in git(host.dev, "tag", "-l", "support#*").stdout.split()]
    forced = f"support#staging#{max(counters) + 1}"
    git(host.dev, "tag", "-a", "-m", "by hand", forced, "support@v2.1.0^{}")
    git(host.dev, "push", "-q", "origin", forced)
    err = host.fails(1, "deploy", "staging", "support", "--root", str(tmp_path / "root2"))
    assert "`gitmodel restore support@v2.1.0`" in err.stderr and len(err.stderr.splitlines()) == 1
    assert not os.path.lexists(tmp_path / "root2" / "support" / "current")
    # Restoring every archived version gives the hot remote back exactly what it held.
    for model, version in sorted(archived):
        host.ok("restore", f"{model.replace(':', '/')}@{version}", cwd=host.dev)
    assert sorted(p.relative_to(hot) for p in hot.rglob("*") if p.is_file()) == before


def test_lifecycle_records_are_tag_objects_signed_with_the_users_key(
    released: Registry, tmp_path: Path
) -> None:
    from plugin.signing import keygen, use_key

    released.ok("deprecate", "support", "v1.0.0", "--on", "2999-01-01")
    use_key(released.root, keygen(tmp_path / "keys", "alice"))
    released.ok("deprecate", "support", "v1.1.0", "--on", "2999-01-01")
    plain = git(released.root, "cat-file", "-p", "refs/gitmodel/lifecycle/support/1").stdout
    signed = git(released.root, "cat-file", "-p", "refs/gitmodel/lifecycle/support/2").stdout
    assert plain.startswith("object ") and "\ntag gitmodel-lifecycle-support-1\n" in plain
    assert "SIGNATURE" not in plain and "-----BEGIN SSH SIGNATURE-----" in signed
    assert '"action":"deprecate-on"' in signed and '"on":"2999-01-01"' in signed
    assert git(released.root, "tag", "-l", "gitmodel-*").stdout == ""  # no tag left behind
    origin = git(tmp_path / "origin.git", "for-each-ref", "--format=%(refname)", "refs/gitmodel/lifecycle")
    assert origin.stdout.split() == ["refs/gitmodel/lifecycle/support/1", "refs/gitmodel/lifecycle/support/2"]


def test_bytes_a_live_version_shares_stay_hot(
    template_copy: Callable[[str], Registry], tmp_path: Path
) -> None:
    from plugin.registry import random_bytes

    reg = template_copy("served_twice")
    reg.write("m.gguf", random_bytes(2000, 3))  # v1.2.0's bytes again: only the inference changes
    meta = reg.meta(reg.meta().read_text().replace("temperature: 0.2", "temperature: 0.3"), "patch.yaml")
    reg.ok("register", "support", "m.gguf", "--meta", str(meta), "--bump", "patch", "--push")
    with_policy(reg, str(tmp_path / "cold-remote"), newest=1)
    shared = md5_of(reg, "v1.2.0")
    assert md5_of(reg, "v1.2.1") == shared
    done = {r["version"]: r for r in as_json(reg, "gc")["rows"]}
    assert done["v1.2.0"]["action"] == "archive" and "v1.2.1" not in done  # the newest development stays
    assert "1 kept (shared with a live version)" in done["v1.2.0"]["detail"]
    assert obj(reg.remote, shared).is_file() and obj(tmp_path / "cold-remote", shared).is_file()
    assert not obj(reg.remote, md5_of(reg, "v1.0.0")).exists()


def test_gc_judges_by_origins_pointers(template_copy: Callable[[str], Registry], tmp_path: Path) -> None:
    reg = template_copy("served_twice")
    with_policy(reg, str(tmp_path / "cold-remote"))
    git(reg.root, "push", "-q", "origin", "main", "--tags")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(other))
    moved = reg.run("promote", "support", "v1.2.0", "staging", "--push", cwd=other)  # reg has not seen it
    assert moved.exit_code == 0, (moved.stdout, moved.stderr)
    rows = {r["version"]: (r["action"], r["reason"]) for r in as_json(reg, "gc")["rows"]}
    assert rows == {"v1.0.0": ("archive", "beyond the newest 0 development")}
    assert obj(reg.remote, md5_of(reg, "v1.2.0")).is_file()


def test_a_version_promoted_while_gc_archives_it_keeps_its_bytes(
    template_copy: Callable[[str], Registry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gitmodel.lifecycle import events

    reg = template_copy("served_twice")
    with_policy(reg, str(tmp_path / "cold-remote"), 2)  # v1.0.0 kept by the window: v1.2.0 goes
    git(reg.root, "push", "-q", "origin", "main", "--tags")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(other))
    real = events.write

    def promote_first(*args: Any, **kw: Any) -> str:
        if args[4].get("action") == "archive":  # between the copy to cold and the record
            # another user's promote, in a process of its own (forked: imports paid once)
            proc = forkrun.run("gitmodel", ["promote", "support", "v1.2.0", "staging", "--push"], other)
            assert proc.returncode == 0, proc.stderr
        return real(*args, **kw)

    monkeypatch.setattr(events, "write", promote_first)
    rows = {r["version"]: (r["action"], r["reason"]) for r in as_json(reg, "gc")["rows"]}
    assert rows["v1.2.0"] == ("keep", "served by staging, since this gc began; nothing removed")
    assert obj(reg.remote, md5_of(reg, "v1.2.0")).is_file()
    assert as_json(reg, "show", "support@v1.2.0")["status"] == "staging"  # archive, then restore recorded
