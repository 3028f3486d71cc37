"""Why the server cannot load a version; each message says what to do next."""

from __future__ import annotations

from pathlib import Path

from gitmodel.errors import UsageError


class NothingDeployed(UsageError):
    """`current` does not exist yet: the server starts unhealthy and waits for a reload."""

    def __init__(self, link: Path) -> None:
        super().__init__(
            f"no version deployed: {link} does not exist; run `gitmodel deploy`, then reload the server"
        )
        self.link = link


class InvalidVersionDir(UsageError):
    """`current` resolves to something that is not a complete version of this model."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(f"{path}: {why}; redeploy with `gitmodel deploy`")
        self.path = path
        self.why = why


class InvalidArtifact(InvalidVersionDir):
    """The artifact claims a format (a .gguf name) that its bytes do not have."""


class ServeError(UsageError):
    """The server cannot start: a bad flag or an address already in use."""
