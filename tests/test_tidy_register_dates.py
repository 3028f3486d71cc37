"""A registration is dated after the model's newest tag, as moves are (moves.newest_date).

GTO and `dvc artifacts get` order a model's tags by their one-second tagger date; two
registrations (or a move and a registration) in one second must not tie there.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from plugin.clients import gto_json
from plugin.registry import Registry, git
from plugin.templates import new_version


def tag_date(reg: Registry, tag: str) -> int:
    raw = git(reg.root, "for-each-ref", "--format=%(taggerdate:unix)", f"refs/tags/{tag}").stdout
    return int(raw)


@pytest.mark.slow
def test_two_registrations_in_one_second_are_dated_apart_and_gto_orders_them(
    template_copy: Callable[[str], Registry], monkeypatch: pytest.MonkeyPatch
) -> None:
    reg = template_copy("registered")  # support v1.0.0
    first = tag_date(reg, "support@v1.0.0")
    monkeypatch.setenv("GIT_COMMITTER_DATE", f"{first} +0000")  # the clock stands still
    new_version(reg, 7)
    reg.ok("promote", "support", "v1.1.0", "staging")
    new_version(reg, 8)
    dates = [tag_date(reg, t) for t in ("support@v1.0.0", "support@v1.1.0", "support#staging#1")]
    dates.append(tag_date(reg, "support@v1.2.0"))
    assert dates == [first, first + 1, first + 2, first + 3]

    history = gto_json(reg.root, "history", "support")  # newest first, by tagger date
    assert [(e["event"], e["version"]) for e in history] == [
        ("registration", "v1.2.0"),
        ("assignment", "v1.1.0"),
        ("registration", "v1.1.0"),
        ("registration", "v1.0.0"),
    ]
    stamps = [e["timestamp"] for e in history]
    assert stamps == sorted(set(stamps), reverse=True)  # no two share a second
