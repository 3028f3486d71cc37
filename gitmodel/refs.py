"""The tag grammar: model names, versions and GTO-format ref names (pure).

Tag names follow iterative/gto 1.10 so that `gto`, `dvc artifacts get` and
`dvc.api.artifacts_show()` read a gitmodel registry the same way we do:

    NAME@vX.Y.Z          registration          NAME@vX.Y.Z!     deregistration
    NAME#STAGE#N         stage assignment      NAME#STAGE!#N    unassignment
    NAME@deprecated      deprecation of the model

A namespaced model is DVC's ``dir:name``; inside tag names the ``:`` is written ``=``.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import NamedTuple

from gitmodel.errors import InvalidName, InvalidVersion, UsageError

MAX_NAME = 100
# refs/gitmodel/seq/MODEL: the last counted move's tag; its lease keeps two clones from
# taking the same `#N` (docs/security.md, "Seq refs").
SEQ_PREFIX = "refs/gitmodel/seq/"
_SEGMENT = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_NAME_RE = re.compile(rf"^(?:(?P<ns>{_SEGMENT})[:/])?(?P<name>{_SEGMENT})$")
_VERSION_RE = re.compile(r"^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
_STAGE_RE = re.compile(rf"^{_SEGMENT}$")
_TAG_RE = re.compile(
    rf"^(?:(?P<ns>{_SEGMENT})=)?(?P<name>{_SEGMENT})"
    r"(?:@(?P<version>v(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*))(?P<dereg>!)?"
    r"|@(?P<deprecated>deprecated)"
    rf"|#(?P<stage>{_SEGMENT})(?P<unassign>!)?#(?P<counter>[1-9]\d*))$"
)


def parse_model(text: str) -> str:
    """Validate a model name and return its canonical form (``acme:support`` or ``support``).

    ``acme/support`` is accepted for ``acme:support``.
    """
    if not text:
        raise InvalidName(text, "it is empty")
    if len(text) > MAX_NAME:
        raise InvalidName(text[:20] + "...", f"it is longer than {MAX_NAME} characters")
    m = _NAME_RE.match(text)
    if not m:
        raise InvalidName(text, _why_invalid(text))
    return f"{m['ns']}:{m['name']}" if m["ns"] else m["name"]


def _why_invalid(text: str) -> str:
    bad = sorted({c for c in text if not (c.islower() or c.isdigit() or c in "-/:")})
    if bad:
        shown = " ".join("space" if c == " " else repr(c) for c in bad)
        return f"it contains {shown}"
    if text.count("/") + text.count(":") > 1:
        return "only one namespace level is allowed"
    if ".." in text:
        return "it contains '..'"
    return "each part must start and end with a letter or digit"


def model_dir(model: str) -> str:
    """Repo-relative directory holding a model's metadata and DVC pointers."""
    ns, _, name = model.rpartition(":")
    return f"{ns}/models/{name}" if ns else f"models/{name}"


def dvc_yaml_dir(model: str) -> str:
    """Directory whose dvc.yaml declares the model ("" for the repo root)."""
    return model.rpartition(":")[0]


def short_name(model: str) -> str:
    """The artifact's key inside its dvc.yaml."""
    return model.rpartition(":")[2]


def to_tag(model: str) -> str:
    return model.replace(":", "=")


def parse_stage(text: str) -> str:
    if not _STAGE_RE.match(text):
        raise UsageError(f"invalid environment name {text!r}: use lowercase letters, digits and '-'")
    return text


class Version(NamedTuple):
    """vMAJOR.MINOR.PATCH; a tuple, so versions order as semver says (and build fast:
    a listing at 100k tags makes 50k of them)."""

    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> Version:
        m = _VERSION_RE.match(text)
        if not m:
            raise InvalidVersion(text)
        return cls(int(m[1]), int(m[2]), int(m[3]))

    def __str__(self) -> str:
        return f"v{self.major}.{self.minor}.{self.patch}"

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    def bump(self, level: str) -> Version:
        if level == "major":
            return Version(self.major + 1, 0, 0)
        if level == "minor":
            return Version(self.major, self.minor + 1, 0)
        if level == "patch":
            return Version(self.major, self.minor, self.patch + 1)
        raise UsageError(f"unknown bump level {level!r}: use major, minor or patch")

    def level_from(self, older: Version) -> str | None:
        """Which part was bumped going from ``older`` to this version (None if not greater)."""
        if self <= older:
            return None
        if self.major != older.major:
            return "major"
        if self.minor != older.minor:
            return "minor"
        return "patch"


class Action(StrEnum):
    REGISTER = "register"
    DEREGISTER = "deregister"
    ASSIGN = "assign"
    UNASSIGN = "unassign"
    DEPRECATE = "deprecate"


class Ref(NamedTuple):
    """One parsed gitmodel/GTO tag name."""

    model: str
    action: Action
    version: Version | None = None
    stage: str | None = None
    counter: int | None = None

    def tag(self) -> str:
        base = to_tag(self.model)
        if self.action is Action.REGISTER:
            return f"{base}@{self.version}"
        if self.action is Action.DEREGISTER:
            return f"{base}@{self.version}!"
        if self.action is Action.DEPRECATE:
            return f"{base}@deprecated"
        bang = "!" if self.action is Action.UNASSIGN else ""
        return f"{base}#{self.stage}{bang}#{self.counter}"


def parse_tag(tag: str) -> Ref | None:
    """Parse a tag name; None for anything that is not ours (foreign tags are ignored)."""
    if len(tag) > 2 * MAX_NAME + 40:
        return None
    m = _TAG_RE.match(tag)
    if not m:
        return None
    model = f"{m['ns']}:{m['name']}" if m["ns"] else m["name"]
    if len(model) > MAX_NAME:
        return None
    if m["version"]:
        action = Action.DEREGISTER if m["dereg"] else Action.REGISTER
        return Ref(model, action, version=Version(int(m["major"]), int(m["minor"]), int(m["patch"])))
    if m["deprecated"]:
        return Ref(model, Action.DEPRECATE)
    action = Action.UNASSIGN if m["unassign"] else Action.ASSIGN
    return Ref(model, action, stage=m["stage"], counter=int(m["counter"]))


def parse_tags(tags: list[str]) -> list[Ref | None]:
    """`parse_tag` of many names at once, each model part and each suffix parsed once.

    A name is its model part, then a suffix from the first "@" or "#" on (a model
    part holds neither), and the grammar judges the two apart: at 100k tags the same
    thousand models and the same hundred suffixes repeat (~3x faster than one by one).
    """
    models: dict[str, str | None] = {}
    suffixes: dict[str, Ref | None] = {}
    found: list[Ref | None] = []
    for tag in tags:
        at, hashmark = tag.find("@"), tag.find("#")
        cut = at if hashmark < 0 or 0 <= at < hashmark else hashmark
        if cut <= 0 or len(tag) > 2 * MAX_NAME + 40:
            found.append(None)
            continue
        base, suffix = tag[:cut], tag[cut:]
        if base not in models:
            whole = parse_tag(base + "@deprecated")
            models[base] = whole.model if whole else None
        if suffix not in suffixes:
            suffixes[suffix] = parse_tag("x" + suffix)
        model, rest = models[base], suffixes[suffix]
        if model is None or rest is None:
            found.append(None)
        else:  # tuple.__new__: Ref's own __new__ is a Python call, 100k times
            found.append(tuple.__new__(Ref, (model, rest.action, rest.version, rest.stage, rest.counter)))
    return found


def version_tag(model: str, version: Version) -> str:
    return Ref(model, Action.REGISTER, version=version).tag()


def assignment_tag(model: str, stage: str, counter: int, unassign: bool = False) -> str:
    action = Action.UNASSIGN if unassign else Action.ASSIGN
    return Ref(model, action, stage=stage, counter=counter).tag()
