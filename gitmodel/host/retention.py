"""Keep the last K versions on the host so going back to them downloads nothing.

"Last" means most recently served (from the journal); versions never served go
first.  The version `current` points at is never removed, and nothing is ever
removed from the DVC remote or the registry: this is the host's disk only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gitmodel import hostlayout
from gitmodel.host import journal, layout
from gitmodel.refs import Version


def expired(
    hot: list[Version], current: Version | None, keep: int, records: list[dict[str, Any]]
) -> list[Version]:
    """Versions to remove: all but `current` and the keep-1 most recently served others."""
    served = journal.swapped_in_order(records)
    rank = {v: i for i, v in enumerate(served)}
    others = sorted((v for v in hot if v != current), key=lambda v: (rank.get(str(v), -1), v.key))
    room = max(0, keep - (1 if current in hot else 0))
    return others[: max(0, len(others) - room)]


def enforce(root: Path, model: str, keep: int, log: journal.Journal) -> list[Version]:
    mroot = hostlayout.model_root(root, model)
    records = list(journal.read(mroot))
    current = layout.current_version(root, model)
    gone = expired(layout.hot_versions(root, model), current, keep, records)
    for version in gone:
        layout.retire(hostlayout.versions_dir(root, model) / str(version))
        log.step("retired", version=version, keep=keep)
    return gone
