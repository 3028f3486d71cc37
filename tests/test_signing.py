"""Signed moves: real `git tag -s` with real SSH keys (ssh-keygen), real verify-tag.

The attacks on a host live in test_signing_host.py; here the promoter's side (which
moves sign, history's SIGNER, approve) and the one check every enforcement point
calls (gitmodel.trust.check_move), against real tags in a real registry.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from plugin.registry import Registry, git, refs
from plugin.signing import keygen, trust_file, use_key

from gitmodel import git as gitmod
from gitmodel import trust
from gitmodel.errors import EXIT_POLICY

GOOD = "metrics: {accuracy: 0.942, hallucination_rate: 0.021, latency_p95_ms: 890}\n"


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    return {name: keygen(folder, name) for name in ("alice", "bob", "mallory")}


@pytest.fixture
def model(template_copy: Callable[[str], Registry]) -> Registry:
    """support v1.0.0 and v1.1.0 registered (pushed), nothing promoted, nothing signed."""
    return template_copy("two_pushed")


@pytest.fixture
def trusted(model: Registry, keys: dict[str, Path], tmp_path: Path) -> trust.Trust:
    path = trust_file(
        tmp_path / "trust.yaml",
        {"alice": keys["alice"], "bob": keys["bob"]},
        {"staging": ["alice", "bob"], "production": ["alice", "bob"]},
    )
    return trust.load(path)


def tag_object(repo: Path, tag: str) -> str:
    return git(repo, "cat-file", "tag", tag).stdout


def history(reg: Registry, *extra: str) -> list[dict[str, object]]:
    return json.loads(reg.ok("history", "support", "--json", *extra).stdout)["events"]  # type: ignore[no-any-return]


# --- which moves sign ------------------------------------------------------------------


def test_moves_are_unsigned_without_a_key_and_history_is_unchanged(model: Registry) -> None:
    model.ok("promote", "support", "v1.0.0", "staging")
    assert "SIGNATURE" not in tag_object(model.root, "support#staging#1")
    out = model.ok("history", "support").stdout
    assert "SIGNER" not in out.splitlines()[0]
    assert all(e["signature"] is None for e in history(model))


def test_promote_rollback_canary_and_deprecate_sign_with_the_users_key(
    model: Registry, keys: dict[str, Path]
) -> None:
    use_key(model.root, keys["alice"])
    model.ok("promote", "support", "v1.0.0", "staging")
    model.ok("promote", "support", "v1.1.0", "staging")
    model.ok("rollback", "staging", "support")
    model.ok("promote", "support", "v1.0.0", "production")
    model.ok("canary", "start", "support", "v1.1.0", "staging", "--percent", "10")
    model.ok("canary", "abort", "support", "staging")
    model.ok("deprecate", "support", "v1.1.0")
    moves = [t for t in git(model.root, "tag", "-l").stdout.split() if "#" in t or t.endswith("!")]
    assert len(moves) == 7
    for tag in moves:
        assert "-----BEGIN SSH SIGNATURE-----" in tag_object(model.root, tag), tag
    # registrations are not moves: `register` leaves them as they were
    assert "SIGNATURE" not in tag_object(model.root, "support@v1.0.0")
    # the records still parse (the signature follows the record line)
    rows = [(e["action"], e["version"]) for e in history(model, "--env", "staging")]
    assert rows[:3] == [("promote", "v1.0.0"), ("promote", "v1.1.0"), ("rollback", "v1.0.0")]


def test_history_names_the_signer_from_the_trust_file(
    model: Registry, keys: dict[str, Path], trusted: trust.Trust, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_key(model.root, keys["alice"])
    model.ok("promote", "support", "v1.0.0", "staging")
    use_key(model.root, keys["mallory"])
    model.ok("promote", "support", "v1.1.0", "staging")
    use_key(model.root, None)
    model.ok("promote", "support", "v1.0.0", "production")

    monkeypatch.setenv("GITMODEL_TRUST_FILE", str(trusted.path))
    events = {e["tag"]: e["signature"] for e in history(model)}
    assert events["support#staging#1"]["status"] == "good"  # type: ignore[index]
    assert events["support#staging#1"]["signer"] == "alice"  # type: ignore[index]
    assert events["support#staging#2"]["status"] == "unknown-key"  # type: ignore[index]
    assert str(events["support#staging#2"]["key"]).startswith("SHA256:")  # type: ignore[index]
    assert events["support#production#3"] is None
    table = model.ok("history", "support").stdout.splitlines()
    assert "SIGNER" in table[0]
    assert any("promote" in ln and " alice " in ln for ln in table)
    assert any("unknown key SHA256:" in ln for ln in table)

    # without any trust file the signature is still checked, the key shown by fingerprint
    monkeypatch.delenv("GITMODEL_TRUST_FILE")
    first = history(model)[2]["signature"]
    assert first["status"] == "unknown-key" and first["key"] == events["support#staging#1"]["key"]  # type: ignore[index]


def test_plain_history_runs_no_verification_when_nothing_is_signed(
    model: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    model.ok("promote", "support", "v1.0.0", "staging")

    def boom(*_: object, **__: object) -> None:
        raise AssertionError("verify-tag ran for an unsigned registry")

    monkeypatch.setattr(gitmod, "verify_tag", boom)
    monkeypatch.delitem(sys.modules, "gitmodel.signing", raising=False)
    assert len(history(model)) == 3
    assert "gitmodel.signing" not in sys.modules  # not even imported


def test_a_key_git_cannot_sign_with_writes_nothing(model: Registry, tmp_path: Path) -> None:
    git(model.root, "config", "gpg.format", "ssh")
    git(model.root, "config", "user.signingkey", str(tmp_path / "gone.pub"))
    before = model.snapshot()
    result = model.fails(2, "promote", "support", "v1.0.0", "staging")
    assert "could not sign tag support#staging#1" in result.stderr
    assert "user.signingkey" in result.stderr
    assert model.snapshot() == before


# --- the one check: gitmodel.trust.check_move ---------------------------------------------


def signed_promotion(model: Registry, key: Path, version: str = "v1.0.0", env: str = "staging") -> str:
    use_key(model.root, key)
    model.ok("promote", "support", version, env)
    return json.loads(model.ok("history", "support", "--json").stdout)["events"][-1]["tag"]  # type: ignore[no-any-return]


def refused(model: Registry, tag: str, env: str, t: trust.Trust) -> str:
    with pytest.raises(trust.UntrustedMove) as info:
        trust.check_move(model.root, tag, env, t)
    assert info.value.exit_code == EXIT_POLICY
    assert "\n" not in info.value.message
    assert info.value.message.startswith(f"refusing {tag}: ")
    return info.value.message


def test_a_move_signed_by_an_allowed_key_is_accepted(
    model: Registry, keys: dict[str, Path], trusted: trust.Trust
) -> None:
    tag = signed_promotion(model, keys["alice"])
    move = trust.check_move(model.root, tag, "staging", trusted)
    assert (move.signer, move.approvers) == ("alice", ())
    assert move.key.startswith("SHA256:")


def test_unknown_key_unsigned_and_wrong_environment_are_refused(
    model: Registry, keys: dict[str, Path], trusted: trust.Trust, tmp_path: Path
) -> None:
    tag = signed_promotion(model, keys["mallory"])
    assert "which " in refused(model, tag, "staging", trusted) and "does not list" in refused(
        model, tag, "staging", trusted
    )
    use_key(model.root, None)
    model.ok("promote", "support", "v1.1.0", "staging")
    assert "is not signed" in refused(model, "support#staging#2", "staging", trusted)
    only_bob = trust.load(
        trust_file(
            tmp_path / "t2.yaml",
            {"alice": keys["alice"], "bob": keys["bob"]},
            {"staging": ["bob"], "production": ["alice"]},
        )
    )
    alice_tag = signed_promotion(model, keys["alice"], "v1.0.0")
    assert "signed by alice, who may not move staging" in refused(model, alice_tag, "staging", only_bob)
    assert "lists no key that may move qa" in refused(model, alice_tag, "qa", only_bob)


def test_a_signature_moved_onto_another_target_is_refused(
    model: Registry, keys: dict[str, Path], trusted: trust.Trust
) -> None:
    """Same name, same message, same signature block, another commit: the signature
    covers the object line, so it no longer verifies."""
    tag = signed_promotion(model, keys["alice"], "v1.0.0")
    assert trust.check_move(model.root, tag, "staging", trusted).signer == "alice"
    original = tag_object(model.root, tag)
    other = git(model.root, "rev-parse", "support@v1.1.0^{commit}").stdout.strip()
    forged = "\n".join(f"object {other}" if ln.startswith("object ") else ln for ln in original.split("\n"))
    oid = subprocess.run(
        ["git", "mktag"], cwd=model.root, input=forged, capture_output=True, text=True, check=True
    ).stdout.strip()
    git(model.root, "update-ref", f"refs/tags/{tag}", oid)
    assert gitmod.has_signature(git(model.root, "tag", "-l", "--format=%(contents)", tag).stdout)
    assert "does not match the tag" in refused(model, tag, "staging", trusted)
    shown = {e["tag"]: e["signature"] for e in history(model)}[tag]
    assert shown["status"] == "bad"  # type: ignore[index]


def test_a_signed_move_filed_under_another_name_is_refused(
    model: Registry, keys: dict[str, Path], trusted: trust.Trust
) -> None:
    """Replaying an old signed move as a newer counter: the name inside the object differs."""
    tag = signed_promotion(model, keys["alice"], "v1.0.0")
    oid = git(model.root, "rev-parse", tag).stdout.strip()
    git(model.root, "update-ref", "refs/tags/support#staging#9", oid)
    message = refused(model, "support#staging#9", "staging", trusted)
    assert f"copy of the tag {tag}" in message


# --- approvals -----------------------------------------------------------------------------


@pytest.fixture
def two_keys(model: Registry, keys: dict[str, Path], tmp_path: Path) -> trust.Trust:
    path = trust_file(
        tmp_path / "trust.yaml",
        {"alice": keys["alice"], "bob": keys["bob"], "mallory": keys["mallory"]},
        {"staging": ["alice", "bob"], "production": ["alice", "bob"]},
        "approvals:\n  production: 2\n",
    )
    return trust.load(path)


def test_production_needs_an_approval_by_a_second_key(
    model: Registry, keys: dict[str, Path], two_keys: trust.Trust
) -> None:
    signed_promotion(model, keys["alice"], "v1.0.0", "staging")
    tag = signed_promotion(model, keys["alice"], "v1.0.0", "production")
    assert "needs 2 different trusted keys" in refused(model, tag, "production", two_keys)
    assert "`gitmodel approve support production --push`" in refused(model, tag, "production", two_keys)

    before = refs(model.root)
    result = model.fails(1, "approve", "support", "production")  # alice approving herself
    assert "signed by your own key" in result.stderr
    assert refs(model.root) == before

    use_key(model.root, keys["mallory"])  # a key the file knows, but not for production
    model.ok("approve", "support", "production")
    assert "needs 2 different trusted keys" in refused(model, tag, "production", two_keys)

    use_key(model.root, keys["bob"])
    out = model.ok("approve", "support", "production").stdout
    assert f"approved {tag} (support v1.0.0 in production)" in out
    move = trust.check_move(model.root, tag, "production", two_keys)
    assert (move.signer, move.approvers) == ("alice", ("bob",))
    # staging needs one key: no approval asked
    assert trust.check_move(model.root, "support#staging#1", "staging", two_keys).approvers == ()


def test_an_approval_by_the_movers_own_key_does_not_count(
    model: Registry, keys: dict[str, Path], two_keys: trust.Trust
) -> None:
    """Made by hand (past `gitmodel approve`'s own refusal): the host still counts one key."""
    signed_promotion(model, keys["alice"], "v1.0.0", "staging")
    tag = signed_promotion(model, keys["alice"], "v1.0.0", "production")
    move = git(model.root, "rev-parse", f"refs/tags/{tag}").stdout.strip()
    oid = gitmod.create_signed_object(model.root, f"{trust.APPROVAL_PREFIX}{tag}", move, "approve\n")
    git(model.root, "update-ref", f"{trust.APPROVALS}{tag}/{oid}", oid)
    message = refused(model, tag, "production", two_keys)
    assert "signed by alice, approved by no key other than alice's" in message


def test_an_approval_of_another_move_does_not_count(
    model: Registry, keys: dict[str, Path], two_keys: trust.Trust
) -> None:
    signed_promotion(model, keys["alice"], "v1.0.0", "staging")
    first = signed_promotion(model, keys["alice"], "v1.0.0", "production")
    use_key(model.root, keys["bob"])
    model.ok("approve", "support", "production")
    signed_promotion(model, keys["alice"], "v1.1.0", "staging")
    second = signed_promotion(model, keys["alice"], "v1.1.0", "production")
    # bob's approval of the first move, filed under the second one
    [approval] = gitmod.refs_under(model.root, f"{trust.APPROVALS}{first}/")
    oid = git(model.root, "rev-parse", approval).stdout.strip()
    git(model.root, "update-ref", f"{trust.APPROVALS}{second}/{oid}", oid)
    assert "needs 2 different trusted keys" in refused(model, second, "production", two_keys)
    assert trust.check_move(model.root, first, "production", two_keys).approvers == ("bob",)


def test_an_unsigned_production_move_needs_two_approvals(
    model: Registry, keys: dict[str, Path], two_keys: trust.Trust
) -> None:
    model.ok("promote", "support", "v1.0.0", "staging")
    model.ok("promote", "support", "v1.0.0", "production")
    use_key(model.root, keys["bob"])
    model.ok("approve", "support", "production")
    message = refused(model, "support#production#2", "production", two_keys)
    assert "it is not signed" in message and "approved by bob only" in message
    assert "ask alice to run" in message
    use_key(model.root, keys["alice"])
    model.ok("approve", "support", "production")
    move = trust.check_move(model.root, "support#production#2", "production", two_keys)
    assert (move.signer, sorted(move.approvers)) == (None, ["alice", "bob"])


def test_approve_refuses_without_a_key_or_a_move(model: Registry, keys: dict[str, Path]) -> None:
    model.ok("promote", "support", "v1.0.0", "staging")
    before = refs(model.root)
    assert "user.signingkey" in model.fails(2, "approve", "support", "staging").stderr
    use_key(model.root, keys["bob"])
    assert "no production move" in model.fails(2, "approve", "support", "production").stderr
    assert refs(model.root) == before


def test_an_approval_vouches_for_a_move_signed_before_signing_or_rotation(
    model: Registry, keys: dict[str, Path], trusted: trust.Trust, tmp_path: Path
) -> None:
    """Turning signatures on, or retiring a key, without moving anything: a trusted key
    approves the current move, and that approval is what hosts accept."""
    model.ok("promote", "support", "v1.0.0", "staging")  # before anyone had a key
    assert "is not signed" in refused(model, "support#staging#1", "staging", trusted)
    use_key(model.root, keys["bob"])
    model.ok("approve", "support", "staging")
    move = trust.check_move(model.root, "support#staging#1", "staging", trusted)
    assert (move.signer, move.approvers) == (None, ("bob",))

    tag = signed_promotion(model, keys["mallory"], "v1.1.0")  # mallory's key is retired
    retired = trust.load(
        trust_file(tmp_path / "rotated.yaml", {"bob": keys["bob"]}, {"staging": ["bob"]}, "")
    )
    assert "which " in refused(model, tag, "staging", retired)
    use_key(model.root, keys["bob"])
    model.ok("approve", "support", "staging")
    assert trust.check_move(model.root, tag, "staging", retired).approvers == ("bob",)


def test_approve_push_lands_on_origin(model: Registry, keys: dict[str, Path], tmp_path: Path) -> None:
    tag = signed_promotion(model, keys["alice"], "v1.0.0", "staging")
    git(model.root, "push", "-q", "origin", f"refs/tags/{tag}")
    use_key(model.root, keys["bob"])
    out = model.ok("approve", "support", "staging", "--push").stdout
    assert "pushed to origin" in out
    remote = git(model.root, "ls-remote", "origin", f"{trust.APPROVALS}*").stdout
    assert f"{trust.APPROVALS}{tag}/" in remote
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(model.root / ".." / "origin.git"), str(clone))
    gitmod.fetch_tags(clone)  # how hosts fetch: approvals ride along
    assert gitmod.refs_under(clone, f"{trust.APPROVALS}{tag}/")


# --- the trust file ------------------------------------------------------------------------

ED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMVw4b0G1Jx5Yc0nY7o0wJm8eTq7c4V7q8n3L0p3x9aB"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("- a list\n", "must be a mapping"),
        ("keys: {a: " + ED + "}\nenvironments: {production: [a]}\nextra: 1\n", "unknown section 'extra'"),
        ("environments: {production: [a]}\n", "needs keys:"),
        ("keys: {a: ssh-ed25519 notbase64!}\nenvironments: {production: [a]}\n", "keys.a is not a public"),
        ("keys: {a: ssh-rsa " + ED.split()[1] + "}\nenvironments: {production: [a]}\n", "not a public key"),
        ("keys: {'a b': " + ED + "}\nenvironments: {production: ['a b']}\n", "is not a plain name"),
        ("keys: {a: " + ED + ", b: " + ED + " other}\nenvironments: {production: [a]}\n", "are the same key"),
        ("keys: {a: " + ED + "}\n", "needs environments:"),
        ("keys: {a: " + ED + "}\nenvironments: {production: [b]}\n", "names 'b', which keys: does not"),
        ("keys: {a: " + ED + "}\nenvironments: {Prod: [a]}\n", "'Prod' is not an environment name"),
        ("keys: {a: " + ED + "}\nenvironments: {production: [a]}\napprovals: {production: 2}\n", "only 1"),
        ("keys: {a: " + ED + "}\nenvironments: {production: [a]}\napprovals: {qa: 1}\n", "approvals.qa"),
        ("keys: {a: " + ED + "}\nenvironments: {production: [a]}\napprovals: {production: yes}\n", "whole"),
        ("keys: {a: [\n", "is not valid YAML"),
    ],
)
def test_a_malformed_trust_file_is_refused(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "trust.yaml"
    path.write_text(text)
    with pytest.raises(trust.TrustFileError) as info:
        trust.load(path)
    assert why in info.value.message
    assert info.value.message.startswith(f"trust file {path} ")
    assert "refuses to deploy" in info.value.message and "\n" not in info.value.message
    assert info.value.exit_code == EXIT_POLICY


def test_missing_and_unreadable_trust_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(trust.TrustFileError, match="does not exist"):
        trust.load(tmp_path / "nope.yaml")
    with pytest.raises(trust.TrustFileError, match="cannot be read"):
        trust.load(tmp_path)  # a directory
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe keys")
    with pytest.raises(trust.TrustFileError, match="cannot be read"):
        trust.load(tmp_path / "bin.yaml")


def test_canary_stages_follow_their_environment(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(f"keys: {{a: {ED}, g: 'openpgp:{'ab' * 20}'}}\nenvironments: {{production: [a, g]}}\n")
    t = trust.load(path)
    assert t.allowed("production-canary") == ("a", "g") and t.allowed("staging") is None
    assert t.keys["g"] == "openpgp:" + "AB" * 20
    assert t.allowed_signers() == f'a namespaces="git" {ED}\n'


# --- OpenPGP through the same `git tag -s` --------------------------------------------------


CAROL = ("Carol <carol@example.com>", "ed25519", "sign", "never")


@pytest.mark.skipif(shutil.which("gpg") is None, reason="needs gpg")
def test_gpg_signed_moves_verify_against_a_fingerprint(
    model: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("GNUPGHOME", str(home))
    subprocess.run(
        ["gpg", "--batch", "--quiet", "--passphrase", "", "--quick-gen-key", *CAROL],
        check=True,
        capture_output=True,
    )
    colons = subprocess.run(
        ["gpg", "--list-keys", "--with-colons"], check=True, capture_output=True, text=True
    ).stdout
    fpr = next(ln.split(":")[9] for ln in colons.splitlines() if ln.startswith("fpr:"))
    git(model.root, "config", "user.signingkey", "carol@example.com")
    model.ok("promote", "support", "v1.0.0", "staging")
    assert "-----BEGIN PGP SIGNATURE-----" in tag_object(model.root, "support#staging#1")
    path = tmp_path / "trust.yaml"
    path.write_text(f"keys: {{carol: 'openpgp:{fpr}'}}\nenvironments: {{staging: [carol]}}\n")
    move = trust.check_move(model.root, "support#staging#1", "staging", trust.load(path))
    assert (move.signer, move.key) == ("carol", fpr)
    monkeypatch.setenv("GITMODEL_TRUST_FILE", str(path))
    assert history(model)[-1]["signature"]["signer"] == "carol"  # type: ignore[index]
