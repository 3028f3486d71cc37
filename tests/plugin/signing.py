"""Real SSH keys and trust files for the signing tests (a helper module, not a test module)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def keygen(folder: Path, name: str) -> Path:
    """An ed25519 key pair without passphrase (as docs/security.md makes one); the private key."""
    folder.mkdir(parents=True, exist_ok=True)
    key = folder / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@test", "-f", str(key)], check=True
    )
    return key


def pub(key: Path) -> str:
    return Path(f"{key}.pub").read_text().strip()


def use_key(repo: Path, key: Path | None) -> None:
    """What a user does once: git's SSH signing with this key (None: stop signing)."""
    if key is None:
        subprocess.run(["git", "config", "--unset", "user.signingkey"], cwd=repo, check=False)
        return
    subprocess.run(["git", "config", "gpg.format", "ssh"], cwd=repo, check=True)
    subprocess.run(["git", "config", "user.signingkey", f"{key}.pub"], cwd=repo, check=True)


def trust_file(path: Path, keys: dict[str, Path], envs: dict[str, list[str]], approvals: str = "") -> Path:
    lines = ["keys:"] + [f"  {n}: {pub(k)}" for n, k in keys.items()] + ["environments:"]
    lines += [f"  {env}: [{', '.join(names)}]" for env, names in envs.items()]
    path.write_text("\n".join(lines) + "\n" + approvals)
    return path
