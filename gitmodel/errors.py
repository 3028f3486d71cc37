"""The one error hierarchy and the exit codes the CLI maps it to.

Every error carries its facts as fields and a message that ends with what the
user should do next.  The CLI's single handler turns them into one line on
stderr and the documented exit code (DESIGN.md, "CLI contract").
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_POLICY = 1  # refused by policy or by the validation gate
EXIT_USAGE = 2  # bad input: names, versions, paths, files
EXIT_CONFLICT = 3  # a concurrent change won; safe to retry
EXIT_UNREACHABLE = 4  # a remote (git, DVC, HTTP) did not answer


class GitModelError(Exception):
    """Base of every error gitmodel raises on purpose."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(GitModelError):
    """The input is wrong: fix the command line or the file it names."""

    exit_code = EXIT_USAGE


class InvalidName(UsageError):
    def __init__(self, name: str, why: str) -> None:
        super().__init__(
            f"invalid model name {name!r}: {why}; use lowercase letters, digits and '-', "
            "with at most one '/' namespace level (e.g. acme/support)"
        )
        self.name = name


class InvalidVersion(UsageError):
    def __init__(self, version: str) -> None:
        super().__init__(f"invalid version {version!r}: write it as vMAJOR.MINOR.PATCH, e.g. v1.2.0")
        self.version = version


class NotARegistry(UsageError):
    pass


class UnknownModel(UsageError):
    def __init__(self, model: str, known: list[str]) -> None:
        hint = f"known models: {', '.join(known)}" if known else "register one with `gitmodel register`"
        super().__init__(f"unknown model {model!r}; {hint}")
        self.model = model


class UnknownVersion(UsageError):
    def __init__(self, model: str, version: str) -> None:
        super().__init__(f"{model} has no version {version}; `gitmodel history {model}` lists its versions")
        self.model = model
        self.version = version


class UnknownEnvironment(UsageError):
    def __init__(self, env: str, known: list[str]) -> None:
        super().__init__(f"unknown environment {env!r}; gitmodel.yaml lists: {', '.join(known) or 'none'}")
        self.env = env


class MetadataError(UsageError):
    """Metadata failed the schema; the message names the file, field and rule."""


class PolicyError(GitModelError):
    """Refused by a rule: semver, immutability, environment order, the gate."""

    exit_code = EXIT_POLICY


class VersionExists(PolicyError):
    def __init__(self, model: str, version: str) -> None:
        super().__init__(
            f"{model}@{version} is already registered and versions are immutable; "
            "register a new version instead"
        )
        self.model = model
        self.version = version


class ConflictError(GitModelError):
    """Someone else changed the same refs first; re-running is safe."""

    exit_code = EXIT_CONFLICT


class RemoteUnreachable(GitModelError):
    exit_code = EXIT_UNREACHABLE


class GitFailed(GitModelError):
    """A git command failed in a way no rule explains."""

    exit_code = EXIT_USAGE

    def __init__(self, args: list[str], stderr: str) -> None:
        last = (stderr.strip().splitlines() or ["(no output)"])[-1]
        super().__init__(f"git {' '.join(args[:2])} failed: {last}")
        self.args_ = args
        self.stderr = stderr


class RemoteDirMissing(RemoteUnreachable):
    """A local-path DVC remote whose directory is not there (an unmounted disk, a typo)."""

    def __init__(self, name: str, path: str) -> None:
        super().__init__(
            f"the DVC remote {name!r} is the directory {path}, which does not exist; mount or restore "
            f"it, or point the remote elsewhere with `dvc remote modify {name} url PATH` and commit "
            ".dvc/config"
        )
        self.name = name
        self.path = path


class NoDvcRemote(UsageError):
    """The registry's DVC config names no default remote: nowhere to fetch bytes from."""

    def __init__(self, where: str, fix: str) -> None:
        super().__init__(f"no DVC remote configured in {where}; {fix}")
        self.where = where
