"""Semantic version rules: what changed between two versions decides the bump (pure).

major: the base model changed.  minor: artifact bytes changed on the same base model.
patch: only the inference config, prompt template (its name, or the text of a template
file: model.yaml's `prompts:` hashes) or functional checks (checks.yaml) changed.  Nothing changed: refused.
"""

from __future__ import annotations

from typing import Any

from gitmodel.errors import PolicyError
from gitmodel.refs import Version

LEVELS = ("patch", "minor", "major")
PATCH_FIELDS = ("inference", "prompt_template")


def change_level(
    old: dict[str, Any], new: dict[str, Any], checks_changed: bool = False
) -> tuple[str | None, str]:
    """The bump a change requires, and a short reason (checks.yaml is not in the metadata)."""
    if old.get("base_model") != new.get("base_model"):
        return "major", f"base model {old.get('base_model')} -> {new.get('base_model')}"
    old_files = (old.get("artifact") or {}).get("files")
    new_files = (new.get("artifact") or {}).get("files")
    if old_files != new_files:
        return "minor", "artifact bytes changed"
    changed = [f for f in PATCH_FIELDS if old.get(f) != new.get(f)]
    changed += _templates(old.get("prompts") or {}, new.get("prompts") or {})
    if checks_changed:
        changed.append("functional checks")
    if changed:
        return "patch", f"{' and '.join(changed)} changed"
    return None, "nothing that defines the model changed (base model, bytes, inference, prompt, checks)"


def _templates(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The prompt templates (prompts/NAME.txt, hashed in model.yaml) whose text changed, came or went."""
    names = sorted(n for n in {*old, *new} if old.get(n) != new.get(n))
    if not names:
        return []
    return [f"prompt template{'s' if len(names) > 1 else ''} {', '.join(names)}"]


def check_version(
    model: str,
    version: Version,
    existing: list[Version],
    required: str | None,
    reason: str,
) -> None:
    """Refuse a version that is not the newest or whose bump contradicts the change."""
    if not existing:
        return
    latest = max(existing)
    if version <= latest:
        raise PolicyError(
            f"{model} {version} is not greater than the latest version {latest}; "
            f"use {latest.bump(required or 'patch')} or `--bump auto`"
        )
    if required is None:
        raise PolicyError(f"{model}: refusing {version}: {reason} since {latest}")
    level = version.level_from(latest)
    if level != required:
        raise PolicyError(
            f"{model} {version} is a {level} bump but {reason}, which needs a {required} bump: "
            f"use {latest.bump(required)} or `--bump auto`"
        )


def next_version(
    model: str, existing: list[Version], bump: str, required: str | None, reason: str
) -> Version:
    if not existing:
        return Version(1, 0, 0)
    latest = max(existing)
    level = required if bump == "auto" else bump
    if level is None:
        raise PolicyError(f"{model}: nothing to register: {reason} since {latest}")
    return latest.bump(level)
