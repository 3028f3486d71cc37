"""refs/gitmodel/seq/MODEL behind the model's newest counter: a warning, not a violation.

Moves pushed without gitmodel (`git push --tags` after a local move, `gto assign` and a
push) are accepted by the server hook and leave origin's seq ref behind. A CI clone that
fetches refs/gitmodel/* cannot tell that from a rewind (docs/security.md, Seq refs), and
neither changes what is served; what a rewind would let through, a counter used twice,
is refused by the replay itself. So `verify --all` warns (exit 0) with the way to catch
up; the rewind's own test, with the counter it lets through twice failing verify, is
tests/test_policy_attacks.py::test_verify_finds_a_rewound_seq_ref.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from pathlib import Path

import pytest
from click.testing import Result
from plugin.branches import clone
from plugin.clients import run_client
from plugin.fsguard import Guard
from plugin.registry import Registry, git

from gitmodel.policy.namespace import seq_behind

SEQ = "refs/gitmodel/seq/support"


def verify(reg: Registry, where: Path, code: int, *args: str) -> Result:
    result = reg.run("verify", "--all", *args, cwd=where)
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    return result


def tag_object(repo: Path, name: str) -> str:
    return git(repo, "rev-parse", f"refs/tags/{name}").stdout.strip()


def test_the_warning_names_a_few_tags_and_counts_the_rest() -> None:
    above = [f"m#staging#{n}" for n in range(3, 8)]
    why = seq_behind("m", "refs/gitmodel/seq/m", "m#staging#2", above)
    shown = "m#staging#3, m#staging#4, m#staging#5 and 2 more"
    assert f"it names m#staging#2, but 5 later move(s) of m ({shown}) were pushed without it" in why
    assert why.endswith("`git push origin +refs/tags/m#staging#7:refs/gitmodel/seq/m`")


@pytest.mark.slow
def test_moves_pushed_without_gitmodel_leave_the_seq_ref_behind_and_verify_only_warns(
    template_copy: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg = template_copy("two_pushed")  # type: ignore[operator]
    origin = tmp_path / "origin.git"
    reg.ok("hooks", "install", "--server", "--path", str(origin))
    reg.ok("promote", "support", "v1.0.0", "staging", "--push")
    assert git(origin, "rev-parse", SEQ).stdout.strip() == tag_object(reg.root, "support#staging#1")

    # A local move sent by `git push --tags`, then GTO's own assignment and its push: the
    # server hook accepts both, and neither moves the seq ref.
    reg.ok("promote", "support", "v1.1.0", "staging")
    git(reg.root, "push", "-q", "origin", "--tags")
    monkeypatch.setenv("GIT_COMMITTER_DATE", f"{int(time.time()) + 3600} +0000")  # after gitmodel's
    run_client(reg.root, "gto", "assign", "support", "--version", "v1.0.0", "--stage", "production")
    monkeypatch.delenv("GIT_COMMITTER_DATE")
    git(reg.root, "push", "-q", "origin", "support#production#3")
    assert git(origin, "rev-parse", SEQ).stdout.strip() == tag_object(reg.root, "support#staging#1")

    # CI, on a clone with origin's refs/gitmodel/*: a warning naming both moves, exit 0, nothing written.
    ci = clone(origin, tmp_path / "ci")
    guard = Guard(ci)
    result = verify(reg, ci, 0)
    [line] = result.stderr.splitlines()
    assert line.startswith(
        f"gitmodel: warning: {SEQ} [seq-refs]: it is behind: it names support#staging#1, but 2 later "
        "move(s) of support (support#staging#2, support#production#3) were pushed without it"
    ), line
    assert "the policy holds" in result.stdout
    doc = json.loads(verify(reg, ci, 0, "--json").stdout)
    assert doc["ok"] is True and [(w["subject"], w["rule"]) for w in doc["warnings"]] == [(SEQ, "seq-refs")]
    guard.assert_unchanged()

    # The command the warning gives passes the server hook, and CI is then quiet.
    command = re.search(r"`(git push origin [^`]+)`$", line)
    assert command is not None, line
    git(reg.root, *shlex.split(command.group(1))[1:])
    assert git(origin, "rev-parse", SEQ).stdout.strip() == tag_object(reg.root, "support#production#3")
    assert verify(reg, clone(origin, tmp_path / "ci2"), 0).stderr == ""

    # Behind again (a local move pushed by hand), the next gitmodel --push leases the value
    # it fetched and moves the ref on, as the warning says.
    reg.ok("rollback", "staging", "support", "--reason", "back", "--pointer-only")
    git(reg.root, "push", "-q", "origin", "--tags")
    assert "it is behind" in verify(reg, clone(origin, tmp_path / "ci3"), 0).stderr
    reg.ok("promote", "support", "v1.1.0", "production", "--push")
    assert git(origin, "rev-parse", SEQ).stdout.strip() == tag_object(reg.root, "support#production#5")
    assert verify(reg, clone(origin, tmp_path / "ci4"), 0).stderr == ""
