"""Hosts refuse pointers their trust file does not accept: real keys, real origin, real root.

Each attack: exit 1, one line naming the tag and why, `current` untouched, the refusal
journaled, and nothing else under the host root changed (fs_guard).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
from plugin.fsguard import Guard
from plugin.host import Host, World, git, make_host
from plugin.signing import keygen, trust_file, use_key
from plugin.templates import Snapshots

from gitmodel import git as gitmod
from gitmodel import hostlayout
from gitmodel.trust import APPROVAL_PREFIX, APPROVALS


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("host-keys")
    return {name: keygen(folder, name) for name in ("alice", "bob", "mallory")}


def trust_for(host: Host, keys: dict[str, Path], approvals: str = "") -> Path:
    """The host's trust file: alice and bob may move staging and production."""
    return trust_file(
        host.root.parent / "trust.yaml",
        {"alice": keys["alice"], "bob": keys["bob"]},
        {"staging": ["alice", "bob"], "production": ["alice", "bob"]},
        approvals,
    )


def _build_signed(world: World, keys: dict[str, Path], base: Path) -> None:
    host = make_host(world, base)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GITMODEL_TRUST_FILE", str(trust_for(host, keys)))
        use_key(host.dev, keys["alice"])
        host.promote("v1.0.0")
        host.ok("deploy", "production", "support", "--root", str(host.root))
    assert host.current() == "v1.0.0"


@pytest.fixture(scope="session")
def snapshots(tmp_path_factory: pytest.TempPathFactory) -> Snapshots:
    return Snapshots(tmp_path_factory.mktemp("signed-snapshots"))


@pytest.fixture
def signed(
    world: World,
    keys: dict[str, Path],
    snapshots: Snapshots,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Host:
    """A host requiring signatures (GITMODEL_TRUST_FILE) serving v1.0.0, promoted by alice.

    Built once per session (what the `host` fixture makes, then the promotion and the
    deploy) and copied into each test with every path made its own (plugin.templates)."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # as the `host` fixture sets
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    snapshots.get("signed", partial(_build_signed, world, keys))
    snapshots.copy("signed", tmp_path)
    host = Host(world, tmp_path / "origin.git", tmp_path / "dev", tmp_path / "host", tmp_path / "root")
    monkeypatch.setenv("GITMODEL_TRUST_FILE", str(tmp_path / "trust.yaml"))
    assert host.current() == "v1.0.0"
    return host


def pointer_tag(host: Host) -> str:
    out = git(host.dev, "for-each-ref", "--sort=-creatordate", "--format=%(refname:strip=2)", "refs/tags")
    return max(
        (t for t in out.split() if t.startswith("support#production#")), key=lambda t: int(t.split("#")[2])
    )


def refused(host: Host, guard: Guard, *why: str) -> str:
    """Deploy is refused with one line naming the tag and why; only the journal changed."""
    tag = pointer_tag(host)
    result = host.fails(1, "deploy", "production", "support", "--root", str(host.root))
    assert f"refusing {tag}: " in result.stderr
    for part in why:
        assert part in result.stderr, result.stderr
    assert host.current() == "v1.0.0"
    host.assert_current_valid()
    guard.assert_only(host.mroot() / "journal.jsonl")
    last = host.journal()[-1]
    assert last["step"] == "failed" and last["tag"] == tag and last["exit"] == 1
    assert last["reason"] == result.stderr.strip().removeprefix("gitmodel: error: ")
    return result.stderr


def test_a_move_signed_by_a_trusted_key_deploys(signed: Host, keys: dict[str, Path]) -> None:
    use_key(signed.dev, keys["bob"])
    signed.promote("v1.1.0")
    signed.ok("deploy", "production", "support", "--root", str(signed.root))
    assert signed.current() == "v1.1.0"


def test_a_signature_by_an_unknown_key_is_refused(
    signed: Host, keys: dict[str, Path], fs_guard: Callable[..., Guard]
) -> None:
    use_key(signed.dev, keys["mallory"])
    signed.promote("v1.1.0")
    guard = fs_guard(signed.root)
    err = refused(signed, guard, "signed by SHA256:", "does not list")
    assert str(signed.root.parent / "trust.yaml") in err


def test_an_unsigned_pointer_is_refused(signed: Host, fs_guard: Callable[..., Guard]) -> None:
    use_key(signed.dev, None)
    signed.promote("v1.1.0")
    refused(
        signed, fs_guard(signed.root), "it is not signed", "requires production moves signed by alice, bob"
    )


def _forge(host: Host, tag: str, onto: str, keep_signature: bool) -> None:
    """An attacker with push access re-creates `tag` on origin on another commit, with
    the same name and message (and, if `keep_signature`, the same signature block)."""
    original = git(host.dev, "cat-file", "tag", tag) + "\n"
    commit = git(host.dev, "rev-parse", f"{onto}^{{commit}}")
    lines = [f"object {commit}" if ln.startswith("object ") else ln for ln in original.split("\n")]
    text = "\n".join(lines)
    if not keep_signature:
        text = text[: text.index("-----BEGIN SSH SIGNATURE-----")]
    oid = subprocess.run(
        ["git", "mktag"], cwd=host.dev, input=text, capture_output=True, text=True, check=True
    ).stdout.strip()
    git(host.dev, "push", "-q", "--force", "origin", f"{oid}:refs/tags/{tag}")


@pytest.mark.parametrize("keep_signature", [True, False], ids=["signature-copied", "re-created-unsigned"])
def test_a_signed_tag_whose_target_changed_is_refused(
    signed: Host, keep_signature: bool, fs_guard: Callable[..., Guard]
) -> None:
    signed.promote("v1.1.0")  # alice's valid signature over v1.1.0's commit...
    tag = pointer_tag(signed)
    _forge(signed, tag, "support@v2.0.0", keep_signature)  # ...now on v2.0.0's, before the host looks
    why = "does not match the tag (its target or text changed" if keep_signature else "it is not signed"
    refused(signed, fs_guard(signed.root), why)


def test_an_old_signed_move_replayed_under_a_new_name_is_refused(
    signed: Host, keys: dict[str, Path], fs_guard: Callable[..., Guard]
) -> None:
    signed.promote("v1.1.0")
    signed.ok("deploy", "production", "support", "--root", str(signed.root))
    use_key(signed.dev, keys["alice"])
    signed.ok("rollback", "production", "support", "--push", cwd=signed.dev)
    signed.ok("deploy", "production", "support", "--root", str(signed.root))
    assert signed.current() == "v1.0.0"
    # the attacker re-files alice's signed promotion of v1.1.0 as the newest move
    old = git(signed.dev, "rev-parse", "refs/tags/support#production#4")
    counter = int(pointer_tag(signed).split("#")[2]) + 1
    git(signed.dev, "push", "-q", "origin", f"{old}:refs/tags/support#production#{counter}")
    git(signed.dev, "fetch", "-q", "--tags", "origin")
    refused(signed, fs_guard(signed.root), "a copy of the tag support#production#4")


def test_production_waits_for_a_second_key(
    host: Host, keys: dict[str, Path], monkeypatch: pytest.MonkeyPatch, fs_guard: Callable[..., Guard]
) -> None:
    monkeypatch.setenv("GITMODEL_TRUST_FILE", str(trust_for(host, keys, "approvals:\n  production: 2\n")))
    use_key(host.dev, keys["alice"])
    host.promote("v1.0.0")
    use_key(host.dev, keys["bob"])
    host.ok("approve", "support", "production", "--push", cwd=host.dev)
    host.ok("deploy", "production", "support", "--root", str(host.root))
    assert host.current() == "v1.0.0"

    use_key(host.dev, keys["alice"])
    host.promote("v1.1.0")
    tag = pointer_tag(host)
    assert "signed by your own key" in host.fails(1, "approve", "support", "production", cwd=host.dev).stderr
    # made by hand past that refusal: an approval signed by alice, the promotion's signer
    target = git(host.dev, "rev-parse", f"refs/tags/{tag}")
    oid = gitmod.create_signed_object(host.dev, APPROVAL_PREFIX + tag, target, "approve\n")
    git(host.dev, "push", "-q", "origin", f"{oid}:{APPROVALS}{tag}/{oid}")
    refused(
        host, fs_guard(host.root), "needs 2 different trusted keys", "approved by no key other than alice's"
    )

    use_key(host.dev, keys["bob"])
    host.ok("approve", "support", "production", "--push", cwd=host.dev)
    host.ok("deploy", "production", "support", "--root", str(host.root))
    assert host.current() == "v1.1.0"


@pytest.mark.parametrize("problem", ["missing", "directory", "garbage", "unreadable"])
def test_a_trust_file_that_cannot_be_read_refuses_every_deploy(
    signed: Host,
    keys: dict[str, Path],
    problem: str,
    monkeypatch: pytest.MonkeyPatch,
    fs_guard: Callable[..., Guard],
) -> None:
    use_key(signed.dev, keys["alice"])
    signed.promote("v1.1.0")  # a perfectly good move: the host still must not trust blindly
    path = signed.root.parent / "trust.yaml"
    if problem == "missing":
        path.unlink()
    elif problem == "directory":
        path.unlink()
        path.mkdir()
    elif problem == "garbage":
        path.write_text("keys: [\n")
    else:
        if os.geteuid() == 0:
            pytest.skip("root reads a mode-000 file")
        path.chmod(0)
    guard = fs_guard(signed.root)
    result = signed.fails(1, "deploy", "production", "support", "--root", str(signed.root))
    assert f"trust file {path} " in result.stderr and "refuses to deploy" in result.stderr
    assert signed.current() == "v1.0.0"
    guard.assert_unchanged()  # refused before touching ROOT: not even the journal


def test_the_flag_names_the_trust_file(
    signed: Host, keys: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITMODEL_TRUST_FILE")
    use_key(signed.dev, keys["mallory"])
    signed.promote("v1.1.0")
    trust = str(signed.root.parent / "trust.yaml")
    result = signed.fails(
        1, "deploy", "production", "support", "--root", str(signed.root), "--trust-file", trust
    )
    assert "which " + trust + " does not list" in result.stderr
    missing = str(signed.root.parent / "nope.yaml")
    result = signed.fails(
        1, "deploy", "production", "support", "--root", str(signed.root), "--trust-file", missing
    )
    assert "does not exist" in result.stderr
    assert signed.current() == "v1.0.0"


def test_the_agent_keeps_serving_and_journals_the_refusal(
    signed: Host, keys: dict[str, Path], fs_guard: Callable[..., Guard]
) -> None:
    use_key(signed.dev, keys["mallory"])
    signed.promote("v1.1.0")
    guard = fs_guard(signed.root)
    result = signed.run("agent", "production", "support", "--root", str(signed.root), "--once")
    assert result.exit_code == 1
    assert f"refusing {pointer_tag(signed)}: signed by SHA256:" in result.stderr
    assert signed.current() == "v1.0.0"
    guard.assert_only(signed.mroot() / "journal.jsonl")
    assert signed.journal()[-1]["step"] == "failed"


def test_rollback_on_the_host_signs_with_the_operators_key(signed: Host, keys: dict[str, Path]) -> None:
    signed.promote("v1.1.0")
    signed.ok("deploy", "production", "support", "--root", str(signed.root))
    use_key(signed.clone, keys["bob"])
    out = signed.ok("rollback", "production", "support", "--root", str(signed.root)).stdout
    assert "v1.0.0" in out and signed.current() == "v1.0.0"
    history = json.loads(signed.ok("history", "support", "--json").stdout)["events"]
    assert history[-1]["action"] == "rollback" and history[-1]["signature"]["signer"] == "bob"


def test_an_unsigned_canary_is_refused(
    signed: Host, keys: dict[str, Path], fs_guard: Callable[..., Guard]
) -> None:
    use_key(signed.dev, None)
    signed.ok("promote", "support", "v1.1.0", "staging", "--push", cwd=signed.dev)
    signed.ok(
        "canary", "start", "support", "v1.1.0", "production", "--percent", "10", "--push", cwd=signed.dev
    )
    guard = fs_guard(signed.root)
    result = signed.fails(1, "deploy", "production", "support", "--root", str(signed.root))
    assert "refusing support#production-canary#" in result.stderr and "it is not signed" in result.stderr
    assert not (hostlayout.model_root(signed.root, "support") / "canary.json").exists()
    guard.assert_only(signed.mroot() / "journal.jsonl")


def test_the_agent_refuses_an_unsigned_canary_of_a_served_pointer(
    signed: Host, fs_guard: Callable[..., Guard]
) -> None:
    """The agent's canary-only update (deploy_canary) checks the canary's tag too."""
    use_key(signed.dev, None)
    signed.ok("promote", "support", "v1.1.0", "staging", "--push", cwd=signed.dev)
    start = ("canary", "start", "support", "v1.1.0", "production", "--percent", "10", "--push")
    signed.ok(*start, cwd=signed.dev)
    guard = fs_guard(signed.root)
    result = signed.run("agent", "production", "support", "--root", str(signed.root), "--once")
    assert result.exit_code == 1
    assert "canary update of support" in result.stderr and "it is not signed" in result.stderr
    assert not (hostlayout.model_root(signed.root, "support") / "canary.json").exists()
    assert signed.current() == "v1.0.0"
    guard.assert_only(signed.mroot() / "journal.jsonl")


def _host_file(text: str) -> Path:
    """This host's file (gitmodel/localconfig.py), where the hermetic fixture points."""
    path = Path(os.environ["GITMODEL_HOST_CONFIG"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_require_signatures_without_a_trust_file_refuses(
    host: Host, keys: dict[str, Path], fs_guard: Callable[..., Guard]
) -> None:
    use_key(host.dev, keys["alice"])
    host.promote("v1.0.0")
    _host_file("require_signatures: true\n")
    guard = fs_guard(host.root.parent)  # the clone, origin, the root-to-be: all untouched
    result = host.fails(1, "deploy", "production", "support", "--root", str(host.root))
    assert "trust file /etc/gitmodel/trust.yaml does not exist" in result.stderr
    assert not host.root.exists()
    guard.assert_unchanged()


def test_the_host_files_trust_file_is_used(host: Host, keys: dict[str, Path]) -> None:
    _host_file(f"trust_file: {trust_for(host, keys)}\nrequire_signatures: true\n")
    use_key(host.dev, keys["mallory"])
    host.promote("v1.0.0")
    result = host.fails(1, "deploy", "production", "support", "--root", str(host.root))
    assert f"which {host.root.parent / 'trust.yaml'} does not list" in result.stderr
    use_key(host.dev, keys["bob"])
    host.ok("approve", "support", "production", "--push", cwd=host.dev)  # bob vouches for it
    host.ok("deploy", "production", "support", "--root", str(host.root))
    assert host.current() == "v1.0.0"
