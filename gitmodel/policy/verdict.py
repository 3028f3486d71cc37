"""Refusals: which rule, about which ref or file, and what to do instead.

Rule names are stable: docs/hooks.md lists them, and users grep for them.
"""

from __future__ import annotations

from dataclasses import dataclass

from gitmodel.errors import PolicyError

# pre-commit
SCHEMA = "schema"  # model.yaml validates against schema/model.schema.json
IMMUTABLE_FILES = "immutable-version-files"  # a registered version's files never change
VERSION_ORDER = "version-order"  # a new version is greater than every earlier one
NO_BYTES = "no-bytes-in-git"  # a model folder holds metadata and DVC pointers only
FILE_SIZE = "max-file-size"  # large files go through DVC
CONFIG = "config"  # gitmodel.yaml parses
# pre-push and pre-receive
IMMUTABLE_TAGS = "immutable-tags"  # gitmodel tags are never moved or deleted
ANNOTATED = "annotated-tags"  # gitmodel tags carry an annotation
BUMP = "bump-level"  # the bump matches the change (major/minor/patch)
MATCHES_TAG = "metadata-matches-tag"  # model.yaml at the tag describes that tag and its bytes
DVC_REMOTE = "dvc-remote"  # the version's bytes are on the DVC remote
ENVIRONMENT = "known-environment"  # assignments name an environment in gitmodel.yaml
# the policy's rules on assignments and refs (gitmodel/policy/), also run by `verify` and hosts
GRAMMAR = "tag-grammar"  # no tag in a model's namespace outside gitmodel's grammar
TARGET = "assignment-target"  # a stage tag marks a registered version's commit, files intact
COUNTER = "counter"  # #N above every counter the model has, within a bounded jump
DEPRECATED = "deprecated-version"  # no assignment to a deprecated version
ORDER = "promotion-order"  # environments are entered in gitmodel.yaml's order
EVIDENCE = "required-evidence"  # the metadata has every field gitmodel.yaml's `evidence:` requires
COMPATIBILITY = "compatibility"  # gitmodel.yaml's `compatibility:` allows the version's templates
GATE = "gate"  # the gate, recomputed from the metadata, passes (or the tag declares an override)
CANARY = "canary-required"  # an environment whose policy requires a canary is entered through one
SEQ = "seq-refs"  # refs/gitmodel/seq/* are never deleted or rewound
ENV_BRANCH = "environment-branch"  # an environment branch moves only with its assignment tag
REQUEST = "merged-request"  # gitmodel.yaml's `branches.requests` environments take merged requests only
LIFECYCLE = "lifecycle-records"  # refs/gitmodel/lifecycle/MODEL/N: created once, as gitmodel writes them

RULES = (
    SCHEMA,
    IMMUTABLE_FILES,
    VERSION_ORDER,
    NO_BYTES,
    FILE_SIZE,
    CONFIG,
    IMMUTABLE_TAGS,
    ANNOTATED,
    BUMP,
    MATCHES_TAG,
    DVC_REMOTE,
    ENVIRONMENT,
    GRAMMAR,
    TARGET,
    COUNTER,
    DEPRECATED,
    ORDER,
    EVIDENCE,
    COMPATIBILITY,
    GATE,
    CANARY,
    SEQ,
    ENV_BRANCH,
    REQUEST,
    LIFECYCLE,
)


@dataclass(frozen=True)
class Violation:
    subject: str  # a tag name or a repo-relative path
    rule: str
    message: str  # why, ending with what to do instead

    def line(self) -> str:
        return f"refused {self.subject} [{self.rule}]: {self.message}"


class HookRefused(PolicyError):
    """One or more rules refused the commit or push (exit 1); each names its rule."""

    def __init__(self, hook: str, violations: list[Violation]) -> None:
        super().__init__("; ".join(v.line() for v in violations))
        self.hook = hook
        self.violations = violations
