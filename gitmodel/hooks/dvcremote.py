"""Are a version's bytes on the DVC remote?  (rule `dvc-remote`; imports DVC, so never on a fast path)

Client side the registry checkout is a DVC repo: ask it.  Server side there is no
work tree and often no access to the remote, so the check is off unless the bare
repository's git config says `gitmodel.dvcRemoteCheck = true`; then the tagged
commit's .dvc/config is copied into a scratch DVC project (no Git) and that is asked.
Credentials come from the server's environment (e.g. AWS_* variables), never the push.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from gitmodel import git
from gitmodel.hooks import files, settings

CONFIG_KEY = "gitmodel.dvcRemoteCheck"
_TRUE = ("true", "yes", "on", "1")


def client_enabled(root: Path) -> bool:
    return settings.load(root).dvc_remote_check


def server_enabled(repo: Path) -> bool:
    value = git.config_get(repo, CONFIG_KEY)
    return value is not None and value.strip().lower() in _TRUE


def missing_client(root: Path, pointers: Sequence[str]) -> list[str]:
    from gitmodel import dvc  # only once a version tag is being pushed with the check on

    return dvc.missing_on_remote(root, pointers)


def missing_server(repo: Path, commit: str, pointers: Sequence[str]) -> list[str]:
    """Ask the remote named by the commit's .dvc/config, from a scratch DVC project."""
    from gitmodel import dvc
    from gitmodel.errors import RemoteUnreachable

    (config,) = files.read_texts(repo, [f"{commit}:.dvc/config"])
    if config is None:
        raise RemoteUnreachable(
            f"the tagged commit {commit[:10]} has no .dvc/config, so there is no DVC remote to check; "
            "commit one with `dvc remote add -d`"
        )
    with tempfile.TemporaryDirectory(prefix="gitmodel-dvc-check-") as tmp:
        project = Path(tmp) / ".dvc"
        project.mkdir()
        (project / "config").write_text(config, encoding="utf-8")
        # no_scm: the scratch project has no Git repository, and needs none.
        (project / "config.local").write_text("[core]\n    no_scm = true\n", encoding="utf-8")
        return dvc.missing_on_remote(Path(tmp), pointers)
