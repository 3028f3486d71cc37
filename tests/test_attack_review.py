"""Attacks found in a review of what still reaches a path, a file or a client from the repo.

The attacker can push to origin; the victim is a colleague's clone (or CI) that pulls
and then runs gitmodel.  Each test drives the real CLI against a real bare origin and
proves with a hashed listing (fs_guard) that nothing outside its place changed.
"""

from __future__ import annotations

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
        os.symlink(target, attacker / rel)
    git(attacker, "add", "-A")
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
