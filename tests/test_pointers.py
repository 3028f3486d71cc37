"""Signed pointer documents: published after each pushed move, polled by hosts, never trusted
beyond what git and the host's trust file allow.

Real keys, a real origin, real DVC remotes (a local directory and the moto S3 server), a
real host root.  Each attack: the document is refused in one logged line, journaled,
nothing is fetched or deployed, and nothing else under the host root changes (fs_guard).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from plugin.fleet import KEY, Fleet, Sources, copy_fleet, local_config
from plugin.fsguard import Guard
from plugin.host import BUCKET, Host, Moto, World, git
from plugin.signing import keygen, use_key
from plugin.templates import Snapshots

from gitmodel import git as gitmod
from gitmodel import objstore
from gitmodel.errors import RemoteDirMissing, RemoteUnreachable
from gitmodel.host import cacheprune
from gitmodel.pointers import document
from gitmodel.pointers.document import BadDocument


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pointer-keys")
    return {name: keygen(folder, name) for name in ("alice", "bob", "mallory")}


@pytest.fixture(scope="session")
def snapshots(tmp_path_factory: pytest.TempPathFactory) -> Snapshots:
    return Snapshots(tmp_path_factory.mktemp("pointer-snapshots"))


@pytest.fixture(scope="session")
def s3(moto: Moto) -> Any:
    return moto.client()


@pytest.fixture
def fleet_copy(
    world: World,
    keys: dict[str, Path],
    snapshots: Snapshots,
    s3: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[str, Path], Fleet]:
    """fleet_copy(NAME, BASE): snapshot NAME ("fleet" or "served", built on first use)
    copied into BASE, with its S3 documents under BASE's own prefix."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setattr(gitmod, "ls_remote_tags", _no_ls_remote)  # pointer mode never asks
    return partial(copy_fleet, Sources(world, keys, snapshots, s3))


@pytest.fixture
def fleet(fleet_copy: Callable[[str, Path], Fleet], tmp_path: Path) -> Fleet:
    """support v1.0.0 in production, moved by alice; gitmodel.yaml publishes documents to the
    local remote and to S3; the host trusts alice and bob and has deployed v1.0.0.

    A copy of a snapshot built once per session (the build checks the deploy)."""
    return fleet_copy("fleet", tmp_path)


@pytest.mark.slow
def test_a_fleet_copy_names_no_path_of_its_snapshot(
    fleet: Fleet, snapshots: Snapshots, tmp_path: Path, s3: Any
) -> None:
    """Each copy's clones, claims and remotes are its own: nothing reaches back."""
    template = str(snapshots.base).encode()
    for path in tmp_path.rglob("*"):
        if path.is_file() and not path.is_symlink() and "objects" not in path.parts:
            assert template not in path.read_bytes(), path
    assert git(fleet.host.clone, "remote", "get-url", "origin") == str(tmp_path / "origin.git")
    [claim] = (fleet.host.clone / ".dvc/cache/.gitmodel-claims").iterdir()
    assert claim == cacheprune.claim_path(claim.parent.parent, fleet.host.root, "support")
    prefix = fleet.s3_prefix.removeprefix(f"s3://{BUCKET}/")
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix + "/")["Contents"]
    assert sorted(o["Key"].removeprefix(prefix) for o in listed) == [
        "/" + document.key("support", env) for env in ("production", "staging")
    ]


def _no_ls_remote(*_args: object, **_kw: object) -> set[str]:
    raise AssertionError("an agent polling documents ran git ls-remote")


@pytest.fixture
def agent_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.INFO, logger="gitmodel.agent"):
        yield caplog


# --- the object-store door ------------------------------------------------------------


def test_a_local_store_answers_changed_then_same_then_changed(tmp_path: Path) -> None:
    store = objstore.open_store("storage", {"url": str(tmp_path)}, tmp_path)
    assert store.get("gitmodel/pointers/production/x.json").status == objstore.ABSENT
    store.put("gitmodel/pointers/production/x.json", b"{}")
    first = store.get("gitmodel/pointers/production/x.json")
    assert (first.status, first.body) == (objstore.CHANGED, b"{}")
    assert store.get("gitmodel/pointers/production/x.json", first.etag).status == objstore.SAME
    store.put("gitmodel/pointers/production/x.json", b"{}")  # same bytes, a new file: look again
    assert store.get("gitmodel/pointers/production/x.json", first.etag).status == objstore.CHANGED
    assert sorted(p.name for p in (tmp_path / "gitmodel/pointers/production").iterdir()) == ["x.json"]


def test_a_missing_local_remote_is_not_created(tmp_path: Path, fs_guard: type[Guard]) -> None:
    guard = fs_guard(tmp_path)
    store = objstore.open_store("storage", {"url": "gone"}, tmp_path)
    with pytest.raises(RemoteDirMissing, match="does not exist"):
        store.put("gitmodel/pointers/production/x.json", b"{}")
    with pytest.raises(RemoteDirMissing):
        store.get("gitmodel/pointers/production/x.json")
    guard.assert_unchanged()


def test_s3_conditional_gets_answer_not_modified(moto: Moto, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    moto.client().create_bucket(Bucket=BUCKET)
    settings = {"url": f"s3://{BUCKET}/door-test", "endpointurl": moto.endpoint, "region": "us-east-1"}
    store = objstore.open_store("s3", settings, Path("/nonexistent"))
    store.put("a.json", b'{"a": 1}')
    first = store.get("a.json")
    assert first.status == objstore.CHANGED and first.body == b'{"a": 1}' and first.etag
    assert store.get("a.json", first.etag).status == objstore.SAME
    store.put("a.json", b'{"a": 2}')
    assert store.get("a.json", first.etag).body == b'{"a": 2}'
    assert store.get("b.json").status == objstore.ABSENT


def test_an_unreachable_s3_endpoint_is_exit_4(monkeypatch: pytest.MonkeyPatch) -> None:
    from plugin.host import free_port

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    settings = {"url": f"s3://{BUCKET}/x", "endpointurl": f"http://127.0.0.1:{free_port()}"}
    store = objstore.open_store("s3", settings, Path("/nonexistent"))
    with pytest.raises(
        RemoteUnreachable, match=r"cannot read s3://gitmodel-test/x/a.json \(DVC remote s3\)"
    ) as e:
        store.get("a.json")
    assert e.value.exit_code == 4


def test_other_remote_kinds_are_refused_in_one_line() -> None:
    with pytest.raises(
        Exception, match=r"DVC remote gcs is gs://: pointer documents go to local-path and s3://"
    ):
        objstore.open_store("gcs", {"url": "gs://bucket/x"}, Path("."))


# --- the document's form --------------------------------------------------------------


def _genuine() -> dict[str, object]:
    inner = {
        "model": "support",
        "env": "production",
        "version": "v1.0.0",
        "tag": "support#production#2",
        "object": "a" * 40,
        "commit": "b" * 40,
        "canary": None,
        "seq": 2,
        "signer": "A <a@b>",
        "published": "2026-01-01T00:00:00Z",
    }
    signed = (
        f"object {'a' * 40}\ntype tag\ntag pointer/support/production\ntagger A <a@b> 0 +0000\n\n"
        + json.dumps(inner)
        + "\n-----BEGIN SSH SIGNATURE-----\nx\n-----END SSH SIGNATURE-----\n"
    )
    return {"gitmodel-pointer": 1, **inner, "signed": signed}


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda d: "not json", "it is not JSON"),
        (lambda d: {**d, "gitmodel-pointer": 2}, "format 1"),
        (lambda d: {k: v for k, v in d.items() if k != "signed"}, "it is not signed"),
        (lambda d: {**d, "signed": str(d["signed"]).split("-----BEGIN")[0]}, "it is not signed"),
        (lambda d: {**d, "version": "v9.0.0"}, "its fields differ from the ones its signature covers"),
        (lambda d: {**d, "signed": str(d["signed"]).replace("production", "staging")}, "fields differ"),
        (
            lambda d: {**d, "signed": str(d["signed"]).replace("object " + "a" * 40, "object " + "c" * 40)},
            "points at another move",
        ),
    ],
)
def test_malformed_documents_are_refused(change: object, why: str) -> None:
    data = change(_genuine())  # type: ignore[operator]
    body = data.encode() if isinstance(data, str) else json.dumps(data).encode()
    with pytest.raises(BadDocument, match=why):
        document.parse(body, "support", "production", "s3://b/k")


def test_a_document_of_another_environment_is_refused() -> None:
    with pytest.raises(BadDocument, match="document of support in production, not of support in staging"):
        document.parse(json.dumps(_genuine()).encode(), "support", "staging", "k")


# --- publishing -----------------------------------------------------------------------


@pytest.mark.slow
def test_a_pushed_move_publishes_a_signed_document_to_each_remote(fleet: Fleet, moto: Moto) -> None:
    doc = fleet.doc()
    assert doc["version"] == "v1.0.0" and doc["env"] == "production" and doc["canary"] is None
    assert str(doc["tag"]).startswith("support#production#")
    assert doc["object"] == git(fleet.host.dev, "rev-parse", f"refs/tags/{doc['tag']}")
    assert "-----BEGIN SSH SIGNATURE-----" in str(doc["signed"])
    prefix = fleet.s3_prefix.removeprefix(f"s3://{BUCKET}/")
    s3 = moto.client().get_object(Bucket=BUCKET, Key=f"{prefix}/{KEY}")["Body"].read()
    assert json.loads(s3)["object"] == doc["object"]
    staging = json.loads((fleet.store / document.key("support", "staging")).read_text())
    assert staging["version"] == "v1.0.0"
    again = fleet.host.ok("publish", "support", "production", "--json", cwd=fleet.host.dev)
    outcomes = {(p["remote"], p["outcome"]) for p in json.loads(again.stdout)["published"]}
    assert outcomes == {("storage", "unchanged"), ("s3", "unchanged")}


@pytest.mark.slow
def test_a_failed_publish_never_fails_the_move_and_publish_repairs_it(fleet: Fleet) -> None:
    host = fleet.host
    local_config(host.dev, host.root.parent / "unmounted", fleet.s3_prefix, host.world.moto.endpoint)
    host.ok("promote", "support", "v1.1.0", "staging", "--push", cwd=host.dev)
    result = host.ok("promote", "support", "v1.1.0", "production", "--push", cwd=host.dev)
    said = "gitmodel: warning: support production is on origin, but its pointer document was not published"
    assert f"{said} to DVC remote storage" in result.stderr
    assert "`gitmodel publish` repairs it" in result.stderr
    assert result.stderr.count("gitmodel: warning:") == 1  # the S3 copy was written
    assert git(host.origin, "tag", "--list", "support#production#*").count("\n") >= 1
    assert not (host.root.parent / "unmounted").exists()
    assert fleet.doc()["version"] == "v1.0.0"  # the local store still holds the old one
    again = host.fails(4, "publish", "support", "production", cwd=host.dev)
    assert "unmounted, which does not exist" in again.stderr
    assert not (host.root.parent / "unmounted").exists()
    local_config(host.dev, fleet.store, fleet.s3_prefix, host.world.moto.endpoint)
    fixed = host.ok("publish", "support", "production", "--json", cwd=host.dev)
    assert {p["outcome"] for p in json.loads(fixed.stdout)["published"]} == {"published", "unchanged"}
    assert fleet.doc()["version"] == "v1.1.0"


@pytest.mark.slow
def test_a_mover_without_a_signing_key_is_told_and_the_move_lands(fleet: Fleet) -> None:
    host = fleet.host
    use_key(host.dev, None)
    result = host.ok("promote", "support", "v1.1.0", "staging", "--push", cwd=host.dev)
    assert "pointer documents are signed and this clone has no signing key" in result.stderr
    assert "support#staging#" in git(host.origin, "tag", "--list", "support#staging#*")
    publish = host.fails(2, "publish", "support", "staging", cwd=host.dev)
    assert "no signing key" in publish.stderr


# --- hosts polling documents ----------------------------------------------------------


@pytest.mark.slow
def test_an_agent_follows_documents_and_asks_git_only_when_one_moved(fleet: Fleet) -> None:
    host = fleet.host
    agent = fleet.agent()
    fleet.fetches.clear()
    for _ in range(3):
        assert agent.tick() == 0
    assert fleet.fetches == []  # unchanged documents: the git server hears nothing
    host.ok("promote", "support", "v1.1.0", "staging", "--push", cwd=host.dev)
    host.ok("promote", "support", "v1.1.0", "production", "--push", cwd=host.dev)
    assert agent.tick() == 0
    assert fleet.fetches == [1]
    assert host.current() == "v1.1.0"
    host.assert_current_valid()
    assert agent.tick() == 0 and fleet.fetches == [1]


@pytest.mark.slow
def test_an_agent_follows_documents_on_s3(fleet: Fleet) -> None:
    host = fleet.host
    agent = fleet.agent("s3")
    assert agent.tick(fetch=True) == 0
    fleet.fetches.clear()
    host.ok("promote", "support", "v1.1.0", "staging", "--push", cwd=host.dev)
    host.ok("promote", "support", "v1.1.0", "production", "--push", cwd=host.dev)
    assert agent.tick() == 0 and agent.tick() == 0
    assert fleet.fetches == [1]
    assert host.current() == "v1.1.0"


def _refused(fleet: Fleet, guard: Guard, log: pytest.LogCaptureFixture, why: str) -> None:
    """One tick: the document is refused in one line and journaled; no fetch, no deploy."""
    fleet.fetches.clear()
    log.clear()
    assert fleet.agent_ref is not None and fleet.agent_ref.tick() == 0
    assert fleet.fetches == [], "a refused document made the host ask git"
    assert fleet.host.current() == "v1.1.0"
    fleet.host.assert_current_valid()
    warnings = [r.getMessage() for r in log.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and why in warnings[0], warnings
    assert warnings[0].startswith(f"refusing the pointer document {fleet.store}/{KEY}: ")
    last = fleet.host.journal()[-1]
    assert (last["op"], last["step"], last["exit"]) == ("pointer", "failed", 1)
    assert why in last["reason"]
    guard.assert_only(fleet.host.mroot() / "journal.jsonl")


@pytest.fixture
def served(fleet_copy: Callable[[str, Path], Fleet], tmp_path: Path) -> Fleet:
    """The host follows documents and serves v1.1.0; the v1.0.0 document is kept (for replays).

    A copy of a snapshot; the agent here has looked once at the v1.1.0 document."""
    fleet = fleet_copy("served", tmp_path)
    fleet.old = (tmp_path / "old.json").read_bytes()
    fleet.agent_ref = fleet.agent()
    fleet.fetches.clear()
    assert fleet.agent_ref.tick() == 0
    assert fleet.fetches == [] and fleet.host.current() == "v1.1.0"
    return fleet


@pytest.mark.slow
def test_attack_a_replayed_older_document_is_refused(
    served: Fleet, fs_guard: type[Guard], agent_log: pytest.LogCaptureFixture
) -> None:
    guard = fs_guard(served.host.root)
    served.put(served.old)
    _refused(served, guard, agent_log, "an older document (replayed?)")


@pytest.mark.slow
def test_attack_an_unsigned_document_is_refused(
    served: Fleet, fs_guard: type[Guard], agent_log: pytest.LogCaptureFixture
) -> None:
    doc = served.doc()
    doc["signed"] = str(doc["signed"]).split("-----BEGIN")[0]
    guard = fs_guard(served.host.root)
    served.put(json.dumps(doc).encode())
    _refused(served, guard, agent_log, "it is not signed")


@pytest.mark.slow
def test_attack_a_forged_document_is_refused(
    served: Fleet, fs_guard: type[Guard], agent_log: pytest.LogCaptureFixture
) -> None:
    """A genuine signature over other fields: pointing production at v2.0.0 by hand."""
    doc = served.doc()
    newer = int(str(doc["seq"])) + 5
    for old, new in (
        (str(doc["tag"]), f"support#production#{newer}"),
        ('"seq":' + str(doc["seq"]), f'"seq":{newer}'),
    ):
        doc["signed"] = str(doc["signed"]).replace(old, new)
    doc["tag"], doc["seq"] = f"support#production#{newer}", newer
    guard = fs_guard(served.host.root)
    served.put(json.dumps(doc).encode())
    _refused(served, guard, agent_log, "its signature does not match its content")


@pytest.mark.slow
def test_attack_a_document_signed_by_an_untrusted_key_is_refused(
    served: Fleet, keys: dict[str, Path], fs_guard: type[Guard], agent_log: pytest.LogCaptureFixture
) -> None:
    host = served.host
    use_key(host.dev, keys["mallory"])
    guard = fs_guard(host.root)
    host.ok("publish", "support", "production", cwd=host.dev)  # mallory's key, the real move
    (served.store / KEY).unlink()
    host.ok("publish", "support", "production", cwd=host.dev)
    _refused(served, guard, agent_log, "which " + str(served.trust) + " does not list")


@pytest.mark.slow
def test_attack_a_signed_document_naming_a_move_origin_lacks_is_refused_after_asking_git(
    served: Fleet, fs_guard: type[Guard], agent_log: pytest.LogCaptureFixture
) -> None:
    """Alice's own clone, a move never pushed, published without asking origin: the host
    checks the signature (good), asks git once, finds no such move and keeps serving."""
    host = served.host
    host.ok("rollback", "production", "support", "--reason", "local only", cwd=host.dev)
    host.ok("publish", "support", "production", "--no-fetch", cwd=host.dev)
    guard = fs_guard(host.root)
    served.fetches.clear()
    agent_log.clear()
    assert served.agent_ref is not None and served.agent_ref.tick() == 0
    assert served.fetches == [1]
    assert host.current() == "v1.1.0"
    warnings = [r.getMessage() for r in agent_log.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "origin does not have support#production#" in warnings[0], warnings
    guard.assert_only(host.mroot() / "journal.jsonl")
    served.fetches.clear()
    assert served.agent_ref.tick() == 0 and served.fetches == []  # judged once, not at every tick


@pytest.mark.slow
def test_attack_a_staging_document_copied_over_production_is_refused(
    served: Fleet, fs_guard: type[Guard], agent_log: pytest.LogCaptureFixture
) -> None:
    staging = (served.store / document.key("support", "staging")).read_bytes()
    guard = fs_guard(served.host.root)
    served.put(staging)
    _refused(served, guard, agent_log, "not of support in production")


def test_an_agent_polling_documents_needs_a_trust_file(host: Host) -> None:
    result = host.fails(1, "agent", "production", "--root", str(host.root), "--pointers", "--once")
    assert "trust file" in result.stderr and "does not exist" in result.stderr
    assert not host.root.exists()


@pytest.mark.slow
def test_with_a_spread_the_host_fetches_a_move_only_when_its_wait_is_over(fleet: Fleet) -> None:
    host = fleet.host
    agent = fleet.agent()
    assert agent.pointers is not None
    agent.pointers.spread = 3600.0
    host.ok("promote", "support", "v1.1.0", "staging", "--push", cwd=host.dev)
    host.ok("promote", "support", "v1.1.0", "production", "--push", cwd=host.dev)
    fleet.fetches.clear()
    assert agent.tick() == 0 and agent.tick() == 0
    assert fleet.fetches == [] and host.current() == "v1.0.0"  # seen, waiting its turn
    [(doc, _at)] = agent.pointers._waiting.values()
    agent.pointers._waiting["support"] = (doc, 0.0)  # its random wait is over
    assert agent.tick() == 0
    assert fleet.fetches == [1] and host.current() == "v1.1.0"


@pytest.mark.slow
def test_a_canary_move_republishes_the_environment_and_reaches_the_host(fleet: Fleet) -> None:
    from gitmodel import hostlayout

    host = fleet.host
    agent = fleet.agent()
    host.ok("promote", "support", "v1.1.0", "staging", "--push", cwd=host.dev)
    host.ok("canary", "start", "support", "v1.1.0", "production", "--percent", "30", "--push", cwd=host.dev)
    doc = fleet.doc()
    assert doc["version"] == "v1.0.0" and isinstance(doc["canary"], dict)
    assert doc["canary"]["version"] == "v1.1.0" and doc["seq"] == int(doc["canary"]["tag"].split("#")[2])
    fleet.fetches.clear()
    assert agent.tick() == 0
    assert fleet.fetches == [1]
    split = hostlayout.read_canary(host.root, "support")
    assert split is not None and str(split.version) == "v1.1.0" and split.percent == 30
    assert host.current() == "v1.0.0"


@pytest.mark.slow
def test_the_agent_command_polls_documents(fleet: Fleet) -> None:
    host = fleet.host
    host.ok("promote", "support", "v1.1.0", "staging", "--push", cwd=host.dev)
    host.ok("promote", "support", "v1.1.0", "production", "--push", cwd=host.dev)
    args = ["--pointers", "s3", "--git-every", "60", "--fetch-spread", "0", "--trust-file", str(fleet.trust)]
    result = host.ok("agent", "production", "support", "--root", str(host.root), *args, "--once")
    assert host.current() == "v1.1.0"
    assert "support v1.1.0 in production" in result.stderr, result.stderr
    bad = host.run(
        "agent",
        "production",
        "--root",
        str(host.root),
        "--pointers",
        "nope",
        "--once",
        "--trust-file",
        str(fleet.trust),
    )
    assert bad.exit_code == 2 and "DVC remote 'nope'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
