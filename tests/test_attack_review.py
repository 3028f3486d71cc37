"""Attacks found in a review of what still reaches a path, a file or a client from the repo.

The attacker can push to origin; the victim is a colleague's clone (or CI) that pulls
and then runs gitmodel.  Each test drives the real CLI against a real bare origin and
proves with a hashed listing (fs_guard) that nothing outside its place changed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from plugin.registry import Registry, git

MARK = "b3BlbnNzaC1rZXktdjEAAAAA"
SECRET = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{MARK} the victim's key\n".encode()


def _push_from_attacker(tmp_path: Path, files: dict[str, bytes], links: dict[str, str]) -> None:
    """A clone of origin that commits FILES and symlinks LINKS (path -> target) and pushes main."""
    attacker = tmp_path / "attacker"
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(attacker))
    for rel, data in files.items():
        (attacker / rel).parent.mkdir(parents=True, exist_ok=True)
        (attacker / rel).write_bytes(data)
    for rel, target in links.items():
        (attacker / rel).parent.mkdir(parents=True, exist_ok=True)
        (attacker / rel).unlink(missing_ok=True)
        os.symlink(target, attacker / rel)
    git(attacker, "add", "-A")
    git(attacker, "add", "-f", *files, *links)  # where DVC's ignored files go, too
    git(attacker, "commit", "-q", "-m", "nicer changelog layout")
    git(attacker, "push", "-q", "--no-verify", "origin", "HEAD:main")


@pytest.mark.slow
def test_a_changelog_template_linked_to_a_secret_is_not_pushed_in_a_request(
    released: Registry, tmp_path: Path, fs_guard: Callable[..., Any]
) -> None:
    # The attacker commits the registry's changelog layout as a link to a file only the
    # victim's machine has (a private key); a request's CHANGELOG.md is pushed to origin
    # (before the fix it held the key), and notifications carry it to webhooks.
    secret = tmp_path / "victim-home" / ".ssh" / "id_ed25519"
    secret.parent.mkdir(parents=True)
    secret.write_bytes(SECRET)
    link = ".gitmodel/changelog.md"
    _push_from_attacker(tmp_path, {}, {link: str(secret)})
    git(released.root, "pull", "-q", "--no-rebase", "origin", "main")
    assert os.path.islink(released.root / link)

    origin = tmp_path / "origin.git"
    guard = fs_guard(tmp_path)
    result = released.run("request", "promote", "support", "v1.1.0", "staging")
    pushed = git(origin, "for-each-ref", "--format=%(refname)", "refs/heads/gitmodel/").stdout.split()
    for ref in pushed:  # the secret left the victim's machine
        assert MARK not in git(origin, "log", "-p", ref).stdout
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stderr.startswith("gitmodel: error: ") and len(result.stderr.splitlines()) == 1
    assert f"error: {link} '-> " in result.stderr and "is refused: it is a symbolic link" in result.stderr
    assert pushed == []
    guard.assert_only(released.root / ".git" / "gitmodel")


def _plant(base: Path, secret: Path, kind: str) -> None:
    layout = base / ".gitmodel" / "changelog.md"
    if kind == "file link":
        os.symlink(secret, layout)
    elif kind == "folder link":
        layout.parent.rmdir()
        os.symlink(secret.parent, layout.parent)
    elif kind == "fifo":
        os.mkfifo(layout)
    else:
        layout.write_bytes(b"x" * 65)


@pytest.mark.parametrize(
    ("kind", "rule"),
    [
        ("file link", "it is a symbolic link"),
        ("folder link", ".gitmodel is a symbolic link"),
        ("fifo", "it is not a plain file"),
        ("huge", "it is over 64 bytes"),
    ],
)
def test_a_checkout_file_is_read_only_as_a_plain_file_below_the_checkout(
    tmp_path: Path, kind: str, rule: str
) -> None:
    from gitmodel.untrusted import UntrustedData, read_checkout_file

    secret = tmp_path / "elsewhere" / "changelog.md"
    secret.parent.mkdir()
    secret.write_bytes(b"secret")
    base = tmp_path / "checkout"
    (base / ".gitmodel").mkdir(parents=True)
    _plant(base, secret, kind)
    with pytest.raises(UntrustedData) as caught:
        read_checkout_file(base, ".gitmodel/changelog.md", "the layout", 64)
    assert rule in str(caught.value) and "\n" not in str(caught.value)
    assert secret.read_bytes() == b"secret"


def test_a_checkout_file_absent_or_plain(tmp_path: Path) -> None:
    from gitmodel.untrusted import read_checkout_file

    assert read_checkout_file(tmp_path, ".gitmodel/changelog.md", "the layout", 64) is None
    (tmp_path / ".gitmodel").write_bytes(b"a file where the folder would be")
    assert read_checkout_file(tmp_path, ".gitmodel/changelog.md", "the layout", 64) is None
    (tmp_path / ".gitmodel").unlink()
    (tmp_path / ".gitmodel").mkdir()
    (tmp_path / ".gitmodel" / "changelog.md").write_bytes(b"# {title}\n")
    assert read_checkout_file(tmp_path, ".gitmodel/changelog.md", "the layout", 64) == b"# {title}\n"


def _victim_files(tmp_path: Path) -> tuple[Path, Path]:
    """A file the victim may write (a shell profile) and a YAML mapping with a token."""
    home = tmp_path / "victim-home"
    home.mkdir(exist_ok=True)
    (home / ".bashrc").write_text("export PATH=$HOME/bin:$PATH\n")
    (home / ".config").mkdir(exist_ok=True)
    (home / ".config" / "hosts.yml").write_text(f"github.com:\n  oauth_token: {MARK}\n")
    return home / ".bashrc", home / ".config" / "hosts.yml"


@pytest.mark.slow
@pytest.mark.parametrize("planted", [".dvc.yaml.tmp", "dvc.yaml"])
def test_register_writes_nothing_through_a_link_the_repo_planted(
    template_copy: Callable[[str], Registry], tmp_path: Path, fs_guard: Callable[..., Any], planted: str
) -> None:
    # Links outside any model folder: the server hook lets them in.  Registering a new
    # model rewrote dvc.yaml through `.dvc.yaml.tmp` (the victim's .bashrc became YAML
    # whose keys the attacker chose) or read a dvc.yaml linked to a token file and
    # committed and pushed the token in it.
    reg = template_copy("pushed")
    origin = tmp_path / "origin.git"
    reg.ok("hooks", "install", "--server", "--path", str(origin))
    bashrc, token = _victim_files(tmp_path)
    _push_from_attacker(tmp_path, {}, {planted: str(bashrc if planted.endswith(".tmp") else token)})
    git(reg.root, "pull", "-q", "--no-rebase", "origin", "main")
    reg.write("bot.bin", b"\x00" * 50)

    guard = fs_guard(tmp_path / "victim-home")
    result = reg.run("register", "bot", "bot.bin", "--meta", str(reg.meta()), "--push")
    guard.assert_unchanged()
    assert MARK not in git(origin, "log", "-p", "--all").stdout
    if planted == "dvc.yaml":
        assert result.exit_code == 1, (result.stdout, result.stderr)
        assert result.stderr.startswith("gitmodel: error: dvc.yaml '-> ") and "symbolic link" in result.stderr
        assert len(result.stderr.splitlines()) == 1
    else:
        assert result.exit_code == 0, (result.stdout, result.stderr)
        assert os.path.islink(reg.root / planted)  # the attacker's link, left as it was


def test_a_checkout_file_is_replaced_never_written_through(tmp_path: Path) -> None:
    from gitmodel.untrusted import UntrustedData, checkout_folder, write_checkout_file

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "profile").write_bytes(b"mine")
    base = tmp_path / "checkout"
    (base / "models").mkdir(parents=True)
    os.symlink(outside / "profile", base / "models" / "model.yaml")
    write_checkout_file(base, "models/model.yaml", "model.yaml", b"name: x\n")
    assert not os.path.islink(base / "models" / "model.yaml")
    assert (base / "models" / "model.yaml").read_bytes() == b"name: x\n"
    os.symlink(outside, base / "models" / "bot")
    for call in (
        lambda: write_checkout_file(base, "models/bot/model.yaml", "model.yaml", b"name: x\n"),
        lambda: checkout_folder(base, "models/bot", "the model folder"),
    ):
        with pytest.raises(UntrustedData, match="bot is a symbolic link"):
            call()
    assert sorted(p.name for p in outside.iterdir()) == ["profile"]
    assert (outside / "profile").read_bytes() == b"mine"
    assert sorted(p.name for p in (base / "models").iterdir()) == ["bot", "model.yaml"]  # no temp left
    checkout_folder(base, "models/new", "the model folder")  # absent: register makes it


BOMB = "gitmodel: archive support v1.0.0\n\ngitmodel-record: " + "[" * 5000 + "]" * 5000 + "\n"


def test_json_nested_past_the_parsers_depth_is_refused_like_any_bad_json() -> None:
    # Records ride on tags and refs/gitmodel/*; .dir manifests and pointer documents come
    # from the DVC remote.  Each raised RecursionError (exit 70, "internal error").
    from gitmodel import records
    from gitmodel.dvc.cache import dir_manifest
    from gitmodel.pointers import document
    from gitmodel.untrusted import UntrustedData

    nested = "[" * 5000 + "]" * 5000
    assert records.parse(BOMB) == {}
    with pytest.raises(UntrustedData, match="it must be JSON"):
        dir_manifest(nested, "0" * 32 + ".dir")
    with pytest.raises(document.BadDocument, match="it is not JSON"):
        document.parse(nested.encode(), "support", "production", "s3://b/k")
    signed = f"object {'a' * 40}\ntype tag\n\n{nested}\n-----BEGIN SSH SIGNATURE-----\n"
    body = json.dumps({document.FORMAT_KEY: document.FORMAT, "signed": signed}).encode()
    with pytest.raises(document.BadDocument, match="its signed message is not JSON"):
        document.parse(body, "support", "production", "s3://b/k")


@pytest.mark.slow
def test_a_lifecycle_record_bomb_pushed_past_the_hook_breaks_no_command(
    template_copy: Callable[[str], Registry], tmp_path: Path, fs_guard: Callable[..., Any]
) -> None:
    # Every clone fetches refs/gitmodel/lifecycle/*; a record line of nested arrays raised
    # RecursionError in whoever read it. The server hook refuses it now (`lifecycle-records`,
    # tests/test_lifecycle_refs.py); one that got past it (hosted Git, an admin) breaks nothing.
    reg = template_copy("pushed")
    origin = tmp_path / "origin.git"
    reg.ok("hooks", "install", "--server", "--path", str(origin))
    attacker = tmp_path / "attacker"
    git(tmp_path, "clone", "-q", str(origin), str(attacker))
    git(attacker, "tag", "-a", "-m", BOMB, "bomb", "HEAD")
    refused = git(attacker, "push", "origin", "refs/tags/bomb:refs/gitmodel/lifecycle/support/1", check=False)
    assert refused.returncode != 0 and "[lifecycle-records]" in refused.stderr
    git(attacker, "push", "-q", "origin", "refs/tags/bomb")  # a foreign tag: not gitmodel's business
    git(origin, "update-ref", "refs/gitmodel/lifecycle/support/1", "refs/tags/bomb")  # past the hook
    git(reg.root, "fetch", "-q", "origin", "refs/gitmodel/*:refs/gitmodel/*")

    guard = fs_guard(tmp_path)
    for args in (["list"], ["show", "support@v1.0.0"], ["history", "support"]):
        result = reg.run(*args)
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
    guard.assert_unchanged()


@pytest.mark.slow
@pytest.mark.parametrize("planted", [".dvc/cache", ".dvc/tmp", ".dvc/config.local", ".dvc/config"])
def test_a_new_host_writes_nothing_through_a_dvc_folder_the_repo_planted(
    deployed: Any, tmp_path: Path, fs_guard: Callable[..., Any], planted: str
) -> None:
    # A new host clones origin: a `.dvc/cache` or `.dvc/tmp` committed as a link to a
    # folder of the host's (a web root, a disk that must not fill) takes DVC's writes.
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "index.html").write_text("hello\n")
    if planted.endswith(".local"):  # the host's own settings level: its cache moves there
        _push_from_attacker(tmp_path, {planted: f"[cache]\n    dir = {outside}\n".encode()}, {})
    elif planted.endswith("config"):  # a file of the host's read as DVC's settings (or /dev/zero)
        _push_from_attacker(tmp_path, {}, {planted: str(outside / "index.html")})
    else:
        _push_from_attacker(tmp_path, {}, {planted: str(outside)})
    host2 = tmp_path / "host2"
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(host2))
    guard = fs_guard(outside)
    result = deployed.reg.run(
        "deploy", "production", "support", "--root", str(tmp_path / "root2"), "--no-fetch", cwd=host2
    )
    guard.assert_unchanged()
    assert result.exit_code == 1, (result.stdout, result.stderr)
    said = "'-> " if planted.endswith("config") else f"the registry tracks '{planted}'"
    assert said in result.stderr and len(result.stderr.splitlines()) == 1
    assert not os.path.lexists(tmp_path / "root2" / "support" / "current")


def test_the_commit_hooks_settings_are_not_read_through_a_link(tmp_path: Path) -> None:
    # The pre-commit hook reads `hooks:` from the work tree's gitmodel.yaml: linked to
    # /dev/zero it read until memory ran out.
    from gitmodel.policy import settings
    from gitmodel.untrusted import UntrustedData

    os.symlink("/dev/zero", tmp_path / "gitmodel.yaml")
    with pytest.raises(UntrustedData, match="it is a symbolic link"):
        settings.load(tmp_path)


@pytest.mark.parametrize("planted", ["link", "fifo"])
def test_every_command_reads_gitmodel_yaml_only_as_a_plain_file(tmp_path: Path, planted: str) -> None:
    # config.load is what every command on a clone or host reads first: a gitmodel.yaml
    # committed as a link to /dev/zero made each of them read until memory ran out, and a
    # FIFO in its place would hang them.
    from gitmodel import config
    from gitmodel.untrusted import UntrustedData

    if planted == "link":
        os.symlink("/dev/zero", tmp_path / "gitmodel.yaml")
    else:
        os.mkfifo(tmp_path / "gitmodel.yaml")
    said = "it is a symbolic link" if planted == "link" else "it is not a plain file"
    with pytest.raises(UntrustedData, match=said) as caught:
        config.load(tmp_path)
    assert "\n" not in caught.value.message and caught.value.exit_code == 1


def test_an_oversized_gitmodel_yaml_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    from gitmodel import config, yamlio
    from gitmodel.untrusted import UntrustedData

    (tmp_path / "gitmodel.yaml").write_bytes(b"#" * (yamlio.MAX_BYTES + 1))
    with pytest.raises(UntrustedData, match="over"):
        config.load(tmp_path)


def test_the_tracked_dvc_remote_is_read_through_the_door(tmp_path: Path) -> None:
    # register compares the remote it pushes to with the one the committed .dvc/config
    # names (what hosts read); that file comes from whoever pushed.
    from gitmodel import dvc
    from gitmodel.untrusted import UntrustedData

    (tmp_path / ".dvc").mkdir()
    assert dvc.tracked_remote(tmp_path) is None
    (tmp_path / ".dvc" / "config").write_text(
        "[core]\n    remote = store\n['remote \"store\"']\n    url = /srv/dvc\n"
    )
    assert dvc.tracked_remote(tmp_path) == ("store", "/srv/dvc")
    (tmp_path / ".dvc" / "config").unlink()
    os.symlink("/dev/zero", tmp_path / ".dvc" / "config")
    with pytest.raises(UntrustedData, match="it is a symbolic link"):
        dvc.tracked_remote(tmp_path)


@pytest.mark.slow
def test_a_forged_archive_record_does_not_stop_a_host_deploying_bytes_the_remote_holds(
    deployed: Any, tmp_path: Path, fs_guard: Callable[..., Any]
) -> None:
    # refs/gitmodel/lifecycle/* are not judged by the server hook: a hand-made "archived"
    # record for the version production serves made every new host refuse to deploy it,
    # though the DVC remote held its bytes. A host now names the archive only when the
    # remote lacks the bytes (the restore hint), so the record refuses nothing by itself.
    from gitmodel import records

    attacker = tmp_path / "attacker"
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(attacker))
    forged = records.format_message("archive", {"action": "archive", "version": "v1.0.0", "actor": "x"})
    git(attacker, "tag", "-a", "-m", forged, "forged", "HEAD")
    git(attacker, "push", "-q", "origin", "refs/tags/forged:refs/gitmodel/lifecycle/support/1")
    host2 = tmp_path / "host2"
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(host2))
    git(host2, "fetch", "-q", "origin", "refs/gitmodel/*:refs/gitmodel/*")
    shown = json.loads(deployed.reg.run("show", "support@v1.0.0", "--json", cwd=host2).stdout)
    assert shown["status"] == "archived"  # the record is read: the clone believes it
    guard = fs_guard(tmp_path / "host", tmp_path / "root")
    result = deployed.reg.run(
        "deploy", "production", "support", "--root", str(tmp_path / "root2"), "--no-fetch", cwd=host2
    )
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert os.readlink(tmp_path / "root2" / "support" / "current") == "versions/v1.0.0"
    guard.assert_unchanged()


def test_the_commit_hook_reads_gitmodel_yaml_within_the_yaml_readers_limit() -> None:
    from gitmodel import yamlio
    from gitmodel.policy import settings

    assert settings.YAML_LIMIT == yamlio.MAX_BYTES
