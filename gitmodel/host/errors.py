"""Errors of the host side, each mapped to a documented exit code (docs/host.md)."""

from __future__ import annotations

from pathlib import Path

from gitmodel.errors import ConflictError, GitModelError, PolicyError, RemoteUnreachable, UsageError


class RootNotWritable(UsageError):
    def __init__(self, path: Path, why: str) -> None:
        super().__init__(f"cannot write to {path} ({why}); give a --root the deploying user can write to")
        self.path = path


class HostIOError(UsageError):
    """A filesystem call on the host failed for a reason no other error explains."""

    def __init__(self, path: object, why: str) -> None:
        super().__init__(f"cannot update {path} ({why}); check its permissions and filesystem")
        self.path = path


class DiskFull(PolicyError):
    """Rule `disk-space` (exit 1): a version's bytes do not fit, checked before a transfer or hit."""

    RULE = "disk-space"

    def __init__(self, path: Path, detail: str, what: str = "") -> None:
        subject = f"{what} " if what else ""
        super().__init__(
            f"refused {subject}[{self.RULE}]: no space left under {path} ({detail}); free space "
            "there or lower host.hot_versions in gitmodel.yaml; `current` was not changed"
        )
        self.path = path


class DeployBusy(ConflictError):
    def __init__(self, model: str, lock: Path, waited: float) -> None:
        super().__init__(
            f"another deploy of {model} holds {lock} (waited {waited:g} s); let it finish and retry"
        )
        self.model = model


class IntegrityError(PolicyError):
    """Bytes that do not match the version's recorded sha256: never served."""

    BAD_BYTES = "the DVC remote holds bad bytes for this version: re-push them from a good copy (`dvc push`)"
    # The version's own files contradict each other: no download can fix that.
    MISMATCH = (
        "the version's .dvc pointer and model.yaml disagree (edited or forged after registration): "
        "register a corrected version, or deploy another one"
    )

    def __init__(self, model: str, version: str, detail: str, fix: str = BAD_BYTES) -> None:
        super().__init__(f"refused {model} {version}: {detail}; {fix}; `current` was not changed")
        self.model = model
        self.version = version


class BytesMissing(PolicyError):
    def __init__(self, model: str, version: str, missing: list[str]) -> None:
        shown = ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else "")
        super().__init__(
            f"the DVC remote lacks {len(missing)} object(s) of {model} {version} ({shown}); push them "
            "with `dvc push` from a clone that has them; `current` was not changed"
        )
        self.missing = missing


class CheckFailed(PolicyError):
    """The reload action or the info endpoint said no; the swap was reverted."""


class InfoUnreachable(RemoteUnreachable):
    """The info endpoint never answered in time; the swap was reverted."""


class ReloadUnreachable(RemoteUnreachable):
    """The reload URL did not answer; the swap was reverted."""


class CanaryFailed(GitModelError):
    """The canary could not be brought to what the registry says; the stable is unaffected.

    Keeps the cause's exit code (1 refused bytes, disk space or server, 4 unreachable) and adds
    what the host serves now.
    """

    def __init__(self, cause: GitModelError, outcome: str) -> None:
        super().__init__(f"{cause.message}; {outcome}")
        self.cause = cause
        self.exit_code = cause.exit_code


class ForeignLink(PolicyError):
    """A symlink where gitmodel keeps its own files: never written through."""

    def __init__(self, path: object) -> None:
        super().__init__(
            f"{path} is a symlink, which gitmodel never makes there, so it will not write through "
            "it; remove it (and find out who planted it), then deploy again; `current` was not changed"
        )
        self.path = path
