"""What the 3 a.m. command (`gitmodel rollback ENV NAME --root ROOT`) no longer pays for,
and that the shared, cached Config stays what gitmodel.yaml says.

A hot rollback moves the pointer and swaps a symlink; it needs no promotion gate, no
pointer publisher when gitmodel.yaml does not publish, and one `git var` per move.
"""

from __future__ import annotations

import operator
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from gitmodel import config, git, moves
from gitmodel.git import tags

PUBLISHING = """\
environments: [staging, production]
promotion:
  production: {after: [staging]}
evidence:
  production: [metrics.accuracy]
host:
  hot_versions: 2
  reload: {command: restart}
  timeouts: {health: 5}
  models:
    support: {hot_versions: 4}
pointers:
  publish: true
"""


def test_the_hot_path_imports_neither_the_gate_nor_the_publisher() -> None:
    code = (
        "import sys\n"
        "import gitmodel.host.rollback, gitmodel.environments, gitmodel.moves\n"
        "print(' '.join(m for m in ('gitmodel.gating', 'gitmodel.smoke', 'gitmodel.pointers.publish') "
        "if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == ""


def test_the_publisher_is_asked_for_only_when_gitmodel_yaml_publishes(tmp_path: Path) -> None:
    config.forget()
    (tmp_path / "gitmodel.yaml").write_text(config.DEFAULT_TEXT)
    assert moves._publishes(tmp_path) is False
    (tmp_path / "gitmodel.yaml").write_text(PUBLISHING)
    assert moves._publishes(tmp_path) is True  # a changed file is read again, never stale
    (tmp_path / "gitmodel.yaml").write_text("environments: [")
    assert moves._publishes(tmp_path) is False  # the move's own command names the YAML error
    (tmp_path / "gitmodel.yaml").unlink()
    assert moves._publishes(tmp_path) is False


def test_a_shared_config_cannot_be_changed_by_one_reader(tmp_path: Path) -> None:
    config.forget()
    (tmp_path / "gitmodel.yaml").write_text(PUBLISHING)
    cfg = config.load(tmp_path)
    tables: list[Mapping[str, Any]] = [
        cfg.promotion,
        cfg.evidence,
        cfg.canary,
        cfg.sections,
        cfg.host.timeouts,
        cfg.host.models,
    ]
    for table in tables:
        with pytest.raises(TypeError, match="does not support item assignment"):
            operator.setitem(table, "staging", ())
    again = config.load(tmp_path)
    assert again is cfg  # the one Config every module of the command reads
    assert dict(again.promotion) == {"production": ("staging",)}
    assert again.evidence == {"production": ("metrics.accuracy",)}  # reads as the dict it was
    assert again.host.layers("support")[-1].hot_versions == 4
    assert again.host.timeouts == {"health": 5.0}
    assert again.pointers.publish is True


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    for args in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "one"]):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)
    return repo


def _tagger(repo: Path, name: str) -> tuple[int, str]:
    line = git.out(["for-each-ref", "--format=%(taggerdate:raw)", f"refs/tags/{name}"], repo)
    when, zone = line.split()
    return int(when), zone


@pytest.mark.parametrize("tz", ["UTC", "Asia/Kolkata", "America/St_Johns"])
def test_a_tag_is_dated_by_the_clock_in_gits_zone_without_git_var(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tz: str
) -> None:
    monkeypatch.delenv("GIT_COMMITTER_DATE", raising=False)
    monkeypatch.setenv("TZ", tz)
    time.tzset()
    try:
        repo = _repo(tmp_path)
        head = git.out(["rev-parse", "HEAD"], repo)
        zone = git.out(["var", "GIT_COMMITTER_IDENT"], repo).split()[-1]  # git's own reading
        before = int(time.time())
        now = git.create_tag(repo, "now", head, "m", after=before - 100)
        later = git.create_tag(repo, "later", head, "m", after=before + 50)
        assert now is not None and before <= now <= int(time.time())
        assert later == before + 51  # a second after `after`, not the clock
        assert _tagger(repo, "now") == (now, zone)
        assert _tagger(repo, "later") == (later, zone)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_callers_commit_date_is_still_resolved_by_git(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _repo(tmp_path)
    head = git.out(["rev-parse", "HEAD"], repo)
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2030-01-01T10:00:00+0200")  # a format git parses
    env, when = tags._date_after(repo, 0)
    assert when == 1893484800  # 08:00 UTC
    assert env == {"GIT_COMMITTER_DATE": "1893484800 +0200"}
    assert git.create_tag(repo, "fixed", head, "m", after=when) == when + 1
    assert _tagger(repo, "fixed") == (when + 1, "+0200")


def test_a_pushed_gitmodel_ref_is_noted_as_seen_whether_named_by_id_or_by_ref(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True, capture_output=True)
    subprocess.run(["git", "remote", "add", "origin", str(origin)], cwd=repo, check=True)
    head = git.out(["rev-parse", "HEAD"], repo)
    subprocess.run(["git", "update-ref", "refs/gitmodel/approvals/x", head], cwd=repo, check=True)
    # What a move pushes: its sequence ref from a raw object id (no rev-parse needed) ...
    git.push(repo, [f"{head}:refs/gitmodel/seq/support"], leases={"refs/gitmodel/seq/support": ""})
    # ... and a ref by name, which git still resolves.
    git.push(repo, ["refs/gitmodel/approvals/x"])
    seen = git.out(["for-each-ref", "--format=%(refname) %(objectname)", "refs/gitmodel-seen/"], repo)
    assert seen.splitlines() == [
        f"refs/gitmodel-seen/origin/approvals/x {head}",
        f"refs/gitmodel-seen/origin/seq/support {head}",
    ]
    # Origin deleting it later deletes it here too (what the note is for).
    subprocess.run(["git", "update-ref", "-d", "refs/gitmodel/seq/support"], cwd=origin, check=True)
    git.fetch_tags(repo)
    assert git.ref_value(repo, "refs/gitmodel/seq/support") is None
    assert git.ref_value(repo, "refs/gitmodel/approvals/x") == head
