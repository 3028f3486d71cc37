"""A host following signed pointer documents (tests/test_pointers.py), copied per test.

`Fleet`: the host's clones and root, the local DVC remote both clones publish to and read
from, a private S3 prefix and the trust file.  Two states are built once per session
(per xdist worker) and copied into each test (plugin.templates.Snapshots), with the S3
documents copied under the test's own prefix:

    fleet    support v1.0.0 in production, moved by alice; gitmodel.yaml publishes documents
             to the local remote and to S3; the host trusts alice and bob, deployed v1.0.0
    served   fleet, then v1.1.0 in production and deployed by an agent following documents;
             the v1.0.0 document kept in old.json (for replays)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from gitmodel.host.agent import Agent
from gitmodel.host.pointer_watch import PointerWatch, open_watch
from gitmodel.pointers import document
from plugin.host import BUCKET, Host, World, git, make_host
from plugin.signing import trust_file, use_key
from plugin.templates import Snapshots

KEY = document.key("support", "production")


@dataclass
class Fleet:
    host: Host
    store: Path  # the local DVC remote both clones use (bytes and documents)
    s3_prefix: str
    trust: Path
    fetches: list[int] = field(default_factory=list)
    old: bytes = b""  # an earlier document, for replays
    agent_ref: Agent | None = None

    def doc(self) -> dict[str, object]:
        return dict(json.loads((self.store / KEY).read_text()))

    def put(self, body: bytes) -> None:
        (self.store / KEY).write_bytes(body)

    def watch(self, remote: str = "") -> PointerWatch:
        watch = open_watch(self.host.clone, "production", self.host.root, remote, self.trust, 3600.0)
        real = watch._fetch

        def counted(models: list[str] | None) -> None:
            self.fetches.append(1)
            real(models)

        watch.fetch = counted
        return watch

    def agent(self, remote: str = "") -> Agent:
        options = {"trust_file": self.trust}
        return Agent(
            self.host.clone,
            "production",
            self.host.root,
            0.1,
            ["support"],
            options,
            pointers=self.watch(remote),
        )


def local_config(clone: Path, store: Path, s3_url: str, endpoint: str) -> None:
    """This clone's own remotes (DVC's config.local): a private copy, a private S3 prefix
    and its endpoint (a host takes no endpoint from the registry: docs/host.md)."""
    (clone / ".dvc" / "config.local").write_text(
        f"['remote \"storage\"']\n    url = {store}\n"
        f"['remote \"s3\"']\n    url = {s3_url}\n    endpointurl = {endpoint}\n"
    )


@dataclass
class Sources:
    """What the snapshots are built from (session fixtures) and where they are kept."""

    world: World
    keys: dict[str, Path]  # alice, bob, mallory
    snapshots: Snapshots
    s3: Any  # a boto3 client of the moto server


def copy_fleet(src: Sources, name: str, base: Path) -> Fleet:
    """Snapshot NAME ("fleet" or "served", built on first use) copied into BASE, its S3
    documents copied under BASE's own prefix."""
    builds = {
        "fleet": partial(_build_fleet, src.world, src.keys),
        "served": partial(_build_served, partial(copy_fleet, src)),
    }
    source = src.snapshots.get(name, builds[name])
    old, new = s3_url(source), s3_url(base)
    src.snapshots.copy(name, base, {old: new})
    prefix, to = old.removeprefix(f"s3://{BUCKET}/"), new.removeprefix(f"s3://{BUCKET}/")
    for item in src.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix + "/").get("Contents", []):
        key = to + item["Key"].removeprefix(prefix)
        src.s3.copy_object(Bucket=BUCKET, Key=key, CopySource={"Bucket": BUCKET, "Key": item["Key"]})
    return fleet_at(src.world, base)


def s3_url(base: Path) -> str:
    return f"s3://{BUCKET}/pointers-{base.name}"


def fleet_at(world: World, base: Path) -> Fleet:
    """The Fleet whose clones, root, local remote and trust file are under BASE."""
    host = Host(world, base / "origin.git", base / "dev", base / "host", base / "root")
    return Fleet(host, base / "private-remote", s3_url(base), base / "trust.yaml")


def _build_fleet(world: World, keys: dict[str, Path], base: Path) -> None:
    host = make_host(world, base)
    store = host.private_remote()
    for clone in (host.dev, host.clone):
        local_config(clone, store, s3_url(base), world.moto.endpoint)
    conf = host.dev / "gitmodel.yaml"
    conf.write_text(conf.read_text() + "pointers:\n  publish: true\n  remotes: [storage, s3]\n")
    git(host.dev, "commit", "-qam", "publish pointer documents")
    git(host.dev, "push", "-q", "origin", "HEAD")
    git(host.clone, "pull", "-q")
    trust_file(
        base / "trust.yaml",
        {"alice": keys["alice"], "bob": keys["bob"]},
        {"staging": ["alice", "bob"], "production": ["alice", "bob"]},
    )
    use_key(host.dev, keys["alice"])
    host.promote("v1.0.0")
    assert fleet_at(world, base).agent().tick(fetch=True) == 0
    assert host.current() == "v1.0.0"


def _build_served(copy: Callable[[str, Path], Fleet], base: Path) -> None:
    fleet = copy("fleet", base)
    host = fleet.host
    (base / "old.json").write_bytes((fleet.store / KEY).read_bytes())
    agent = fleet.agent()
    host.ok("promote", "support", "v1.1.0", "staging", "--push", cwd=host.dev)
    host.ok("promote", "support", "v1.1.0", "production", "--push", cwd=host.dev)
    assert agent.tick() == 0
    assert host.current() == "v1.1.0"
