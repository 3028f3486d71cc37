"""The guard that attack tests rely on must itself notice changes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def test_guard_sees_create_change_delete_chmod_and_relink(tmp_path: Path, fs_guard) -> None:
    (tmp_path / "a").write_text("one")
    (tmp_path / "b").write_text("two")
    (tmp_path / "c").write_text("three")
    (tmp_path / "d").write_text("four")
    os.symlink("a", tmp_path / "l")
    guard = fs_guard(tmp_path)
    guard.assert_unchanged()
    (tmp_path / "a").write_text("ONE")
    (tmp_path / "b").unlink()
    os.chmod(tmp_path / "c", 0o600)
    (tmp_path / "new").write_text("x")
    os.unlink(tmp_path / "l")
    os.symlink("d", tmp_path / "l")
    assert guard.changed() == sorted(str(tmp_path / n) for n in ("a", "b", "c", "l", "new"))
    with pytest.raises(AssertionError, match="changed outside"):
        guard.assert_unchanged()


def test_guard_allows_only_the_named_subtrees(tmp_path: Path, fs_guard) -> None:
    (tmp_path / "ok").mkdir()
    (tmp_path / "other").mkdir()
    guard = fs_guard(tmp_path)
    (tmp_path / "ok" / "f").write_text("x")
    guard.assert_only(tmp_path / "ok")
    (tmp_path / "other" / "g").write_text("y")
    with pytest.raises(AssertionError, match="other"):
        guard.assert_only(tmp_path / "ok")
