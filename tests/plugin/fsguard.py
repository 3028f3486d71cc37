"""A hashed listing of directory trees, to prove an attack changed nothing outside its place.

    guard = fs_guard(tmp_path)            # the fixture (plugin.fixtures): takes the listing now
    ...attack...
    guard.assert_only(host_root / "support" / ".staging", journal)   # what may differ

Files are listed with their mode and sha256, symlinks with their target (never followed),
directories with their mode.  Anything created, changed or deleted outside the allowed
paths fails the test with the list of paths.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

Listing = dict[str, str]


def listing(*roots: Path) -> Listing:
    out: Listing = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            for name in [*dirnames, *filenames]:
                path = os.path.join(dirpath, name)
                out[path] = _describe(path)
        out[str(root)] = _describe(str(root))
    return out


def _describe(path: str) -> str:
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return "link " + os.readlink(path)
    mode = oct(stat.S_IMODE(st.st_mode))
    if stat.S_ISDIR(st.st_mode):
        return "dir " + mode
    if not stat.S_ISREG(st.st_mode):
        return "other " + mode
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except PermissionError:
        return f"file {mode} unreadable {st.st_size}"
    return f"file {mode} {digest.hexdigest()}"


def differences(before: Listing, after: Listing) -> list[str]:
    keys = set(before) | set(after)
    return sorted(k for k in keys if before.get(k) != after.get(k))


class Guard:
    def __init__(self, *roots: Path) -> None:
        self.roots = [Path(r) for r in roots]
        self.before = listing(*self.roots)

    def changed(self) -> list[str]:
        return differences(self.before, listing(*self.roots))

    def assert_only(self, *allowed: Path) -> None:
        """Fail unless every changed path lies at or below one of `allowed`."""
        prefixes = [str(Path(a)) for a in allowed]
        outside = [p for p in self.changed() if not any(p == a or p.startswith(a + os.sep) for a in prefixes)]
        assert not outside, f"changed outside {prefixes}: {outside[:20]}"

    def assert_unchanged(self) -> None:
        self.assert_only()
