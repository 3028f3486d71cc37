"""A fetch mirrors origin's refs/gitmodel/* without deleting what this clone made and never pushed.

An approval made without --push lives only under this clone's refs/gitmodel/approvals/;
the next command that fetches (any `--push`, status, deploy) must not delete it. What
origin had and no longer has still goes (a stale ref would make every lease fail).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from plugin.registry import Registry, git
from plugin.signing import keygen, use_key

from gitmodel import git as gitmod
from gitmodel import trust


def refs_under(repo: Path, prefix: str) -> dict[str, str]:
    listed = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", prefix).stdout.split("\n")
    return dict(line.split(" ") for line in listed if line)


@pytest.mark.slow
def test_an_approval_made_without_push_survives_the_next_fetching_command(
    template_copy: Callable[[str], Registry], tmp_path: Path
) -> None:
    model = template_copy("two_pushed")
    model.ok("promote", "support", "v1.0.0", "staging", "--push")
    use_key(model.root, keygen(tmp_path / "keys", "bob"))
    made = model.ok("approve", "support", "staging").stdout  # kept here, not pushed
    assert "approved support#staging#1" in made
    [mine] = refs_under(model.root, trust.APPROVALS)
    assert git(model.remote.parent / "origin.git", "for-each-ref", trust.APPROVALS).stdout == ""

    model.ok("promote", "support", "v1.1.0", "staging", "--push")  # fetches refs/gitmodel/* first
    assert mine in refs_under(model.root, trust.APPROVALS)


def test_a_ref_origin_deleted_goes_and_one_it_moved_follows(
    template_copy: Callable[[str], Registry], tmp_path: Path
) -> None:
    model = template_copy("two_pushed")
    origin = model.remote.parent / "origin.git"
    head = git(model.root, "rev-parse", "HEAD").stdout.strip()
    first = git(model.root, "rev-parse", "HEAD~1").stdout.strip()
    for name in ("a", "b"):
        git(model.root, "update-ref", f"refs/gitmodel/approvals/x/{name}", head)
    git(model.root, "push", "-q", "origin", "refs/gitmodel/approvals/x/a", "refs/gitmodel/approvals/x/b")
    gitmod.fetch_tags(model.root)  # this clone now knows origin has both
    git(origin, "update-ref", "-d", "refs/gitmodel/approvals/x/a")
    git(origin, "update-ref", "refs/gitmodel/approvals/x/b", first)
    git(model.root, "update-ref", "refs/gitmodel/approvals/x/c", head)  # made here, never pushed

    gitmod.fetch_tags(model.root)
    assert refs_under(model.root, "refs/gitmodel/approvals/") == {
        "refs/gitmodel/approvals/x/b": first,
        "refs/gitmodel/approvals/x/c": head,
    }
    gitmod.fetch_tags(model.root)  # nothing changed on origin: nothing changes here
    assert set(refs_under(model.root, "refs/gitmodel/approvals/")) == {
        "refs/gitmodel/approvals/x/b",
        "refs/gitmodel/approvals/x/c",
    }
