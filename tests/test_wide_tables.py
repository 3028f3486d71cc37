"""`list`, `status` and `audit` fit a narrow terminal (identities shortened, long text cut
with "…") and show every cell in full with --wide, like `history` (tests/test_progress.py
proves the fitting itself in a real pseudo-terminal; here each command's table and flag)."""

from __future__ import annotations

import pytest
from plugin.registry import Registry, git

from gitmodel.cli import output

NAME, EMAIL = "Dana Q. Longname-Example of the Release Team", "dana.longname@release.example.com"
REASON = "the refund answers went wrong after the first quarter's retraining on support tickets"


@pytest.fixture
def narrow(monkeypatch: pytest.MonkeyPatch) -> int:
    """A terminal of 80 columns on stdout (CliRunner's stdout is not one)."""
    monkeypatch.setattr(output, "terminal_width", lambda: 80)
    return 80


def widest(text: str) -> int:
    return max(len(line) for line in text.splitlines())


def identity(registry: Registry) -> None:
    git(registry.root, "config", "user.name", NAME)
    git(registry.root, "config", "user.email", EMAIL)


def test_audit_shortens_the_actor_and_cuts_the_reason_unless_wide(released: Registry, narrow: int) -> None:
    identity(released)
    released.ok("promote", "support", "v1.1.0", "staging")
    released.ok("rollback", "staging", "support", "--to", "v1.0.0", "--reason", REASON, "--pointer-only")
    fitted = released.ok("audit").stdout
    wide = released.ok("audit", "--wide").stdout
    # Times, versions and names are never cut, so 80 columns is out of reach: as near as it goes.
    assert widest(fitted) < widest(wide) - 60, fitted
    assert NAME not in fitted and REASON not in fitted and "the refund …" in fitted
    assert f"{NAME} <{EMAIL}>" in wide and REASON in wide and "…" not in wide


def test_list_cuts_a_long_schedule_column_unless_wide(released: Registry, narrow: int) -> None:
    released.ok("deprecate", "support", "v1.1.0", "--on", "2099-01-01")
    released.ok("deprecate", "support", "v1.0.0", "--on", "2099-02-01", "--reason", REASON)
    full = released.ok("list", "--wide").stdout
    assert "v1.1.0 on 2099-01-01" in full and "v1.0.0 on 2099-02-01" in full, full
    assert "…" not in full
    fitted = released.ok("list").stdout
    assert narrow < widest(full) and widest(fitted) <= narrow + 2, (fitted, full)  # a cut keeps 12
    assert "v1.0.0 on 2…" in fitted and "support" in fitted and "v1.0.0" in fitted


def test_status_cuts_long_next_steps_unless_wide(released: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output, "terminal_width", lambda: 50)
    released.ok("promote", "support", "v1.1.0", "staging")  # no --push: an unpushed move
    fitted = released.ok("status", "staging").stdout
    wide = released.ok("status", "staging", "--wide").stdout
    assert "UNPUSHED" in fitted and widest(fitted) < widest(wide), fitted
    assert "made withou…" in fitted
    assert "made without --push: stays local" in wide and "…" not in wide, wide
