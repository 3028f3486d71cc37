"""Are a version's bytes on the DVC remote?  (rule `dvc-remote`; imports DVC, so never on a fast path)

Client side the registry checkout is a DVC repo: ask it.  Server side there is no
work tree and often no access to the remote, so the check is off unless the bare
repository's git config says `gitmodel.dvcRemoteCheck = true`; then the remote named by
its `gitmodel.dvcRemoteUrl` (set by `hooks install --server --dvc-remote URL`) is asked
from a scratch DVC project (no Git).  The pushed .dvc/config is never read: a pusher
would choose which endpoint the server calls.  Credentials come from the server's
environment (e.g. AWS_* variables), never the push.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from gitmodel import git
from gitmodel.policy import settings

CONFIG_KEY = "gitmodel.dvcRemoteCheck"
URL_KEY = "gitmodel.dvcRemoteUrl"
_TRUE = ("true", "yes", "on", "1")


def client_enabled(repo: Path) -> bool:
    return settings.load(repo).dvc_remote_check


def server_enabled(repo: Path) -> bool:
    value = git.config_get(repo, CONFIG_KEY)
    return value is not None and value.strip().lower() in _TRUE


def missing_client(repo: Path, pointers: Sequence[str]) -> list[str]:
    from gitmodel import dvc  # only once a version tag is being pushed with the check on

    return dvc.missing_on_remote(repo, pointers)


def missing_server(repo: Path, pointers: Sequence[str]) -> list[str]:
    """Ask the server's own remote (the bare repository's git config), from a scratch DVC project.

    Never the pushed .dvc/config: its remote is whatever the pusher wants the server to
    call, with the server's credentials.
    """
    from gitmodel import dvc
    from gitmodel.errors import UsageError

    url = git.config_get(repo, URL_KEY)
    if not url:
        raise UsageError(
            f"the server's DVC check is on but {URL_KEY} is not set; run `gitmodel hooks install --server "
            "--dvc-remote URL` with the remote this server may read"
        )
    with tempfile.TemporaryDirectory(prefix="gitmodel-dvc-check-") as tmp:
        project = Path(tmp) / ".dvc"
        project.mkdir()
        # no_scm: the scratch project has no Git repository, and needs none.
        (project / "config").write_text(
            f"[core]\n    remote = server\n    no_scm = true\n['remote \"server\"']\n    url = {url}\n",
            encoding="utf-8",
        )
        return dvc.missing_on_remote(Path(tmp), pointers)


def check_url(url: str) -> str:
    """A remote URL the scratch config can hold as written (no line breaks, quotes or comments)."""
    from gitmodel.errors import UsageError

    if not url.strip() or any(c in url for c in "\n\r\"'#;") or url != url.strip():
        raise UsageError(f"--dvc-remote {url!r} is not a usable remote URL; give e.g. s3://bucket/path")
    if "://" not in url and not Path(url).is_absolute():
        raise UsageError(f"--dvc-remote {url!r} must be a URL (s3://...) or an absolute path")
    return url
