"""What git tells a hook on stdin, parsed (pure functions).

pre-push gets one line per ref: `<local ref> <local id> <remote ref> <remote id>`;
pre-receive one per ref: `<old id> <new id> <ref>`.  Both become `RefUpdate`s seen
from the receiving side: the ref there, its value there now, the value pushed.
An all-zero id (git.ZERO, or 64 zeros in a SHA-256 repository) means "absent":
an old zero id is a creation, a new zero id a deletion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gitmodel.errors import UsageError
from gitmodel.git import ZERO

_OID = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
TAGS = "refs/tags/"


class HookInputError(UsageError):
    """Git gave the hook a line we cannot read; nothing was checked."""

    def __init__(self, hook: str, line: str, why: str) -> None:
        super().__init__(
            f"{hook}: cannot read the line {line!r} from git ({why}); run the hook from git, not by hand"
        )


def is_zero(oid: str) -> bool:
    return set(oid) == {"0"}


@dataclass(frozen=True)
class RefUpdate:
    ref: str  # full ref name on the receiving side
    old: str  # its value there now (all zeros: it does not exist)
    new: str  # the value pushed (all zeros: delete it)
    local_ref: str | None = None  # pre-push only: what the pusher named locally

    @property
    def is_create(self) -> bool:
        return is_zero(self.old) and not is_zero(self.new)

    @property
    def is_delete(self) -> bool:
        return is_zero(self.new) and not is_zero(self.old)

    @property
    def is_move(self) -> bool:
        return not is_zero(self.old) and not is_zero(self.new) and self.old != self.new

    @property
    def tag(self) -> str | None:
        """The tag name for a ref under refs/tags/, else None."""
        return self.ref[len(TAGS) :] if self.ref.startswith(TAGS) else None


def _oid(hook: str, line: str, text: str) -> str:
    if not _OID.match(text):
        raise HookInputError(hook, line, f"{text!r} is not an object id")
    return text


def parse_pre_push(text: str) -> list[RefUpdate]:
    """`<local ref> SP <local id> SP <remote ref> SP <remote id>` per line.

    A deletion reads `(delete) <zeros> <remote ref> <remote id>`.
    """
    updates = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split(" ")
        if len(parts) != 4:
            raise HookInputError("pre-push", line, "expected 4 fields")
        local_ref, local_id, remote_ref, remote_id = parts
        updates.append(
            RefUpdate(
                ref=remote_ref,
                old=_oid("pre-push", line, remote_id),
                new=_oid("pre-push", line, local_id),
                local_ref=local_ref,
            )
        )
    return updates


def parse_pre_receive(text: str) -> list[RefUpdate]:
    """`<old id> SP <new id> SP <ref>` per line (the `update` hook's arguments, too)."""
    updates = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split(" ")
        if len(parts) != 3:
            raise HookInputError("pre-receive", line, "expected 3 fields")
        old, new, ref = parts
        updates.append(RefUpdate(ref, _oid("pre-receive", line, old), _oid("pre-receive", line, new)))
    return updates


__all__ = ["ZERO", "HookInputError", "RefUpdate", "is_zero", "parse_pre_push", "parse_pre_receive"]
