"""gitmodel.yaml is parsed once per distinct content in a command, and never served stale.

A hot rollback reads gitmodel.yaml from six modules (the move, its push refspecs, the
pointer publish, the host's policy check, deploy's settings, the compatibility matrix);
each parse cost ~6 ms on the 3 a.m. path. config.parse_text keeps what it parsed by the
text itself, so a changed file (however it was rewritten) is parsed again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from plugin.host import FollowServer, Host, deploy_json

from gitmodel import config, yamlio
from gitmodel.host.rollback import rollback

TEXT = "environments: [staging, production]\nhost:\n  hot_versions: 3\n"


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every YAML text handed to the one YAML reader, counted (gitmodel.yaml's and others')."""
    seen: Counter[str] = Counter()
    real = yamlio.loads

    def counting(text: str, source: str) -> object:
        seen[text] += 1
        return real(text, source)

    monkeypatch.setattr(yamlio, "loads", counting)
    config.forget()  # what earlier tests left cached would hide a parse
    return seen


def write_same_stamp(path: Path, text: str) -> None:
    """Rewrite `path` in place (same inode) with the old size and mtime: a stat key would miss it."""
    before = path.stat()
    with path.open("r+", encoding="utf-8") as fh:
        fh.write(text)
        fh.truncate()
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )


def test_one_text_is_parsed_once(tmp_path: Path, parses: Counter[str]) -> None:
    (tmp_path / "gitmodel.yaml").write_text(TEXT)
    first = config.load(tmp_path)
    assert config.load(tmp_path) is first
    assert config.parse_text(TEXT) is first  # a copy read from git: the same content
    assert parses[TEXT] == 1


def test_a_changed_file_is_parsed_again_even_with_the_same_size_mtime_and_inode(
    tmp_path: Path, parses: Counter[str]
) -> None:
    path = tmp_path / "gitmodel.yaml"
    path.write_text(TEXT)
    assert config.load(tmp_path).host.hot_versions == 3
    changed = TEXT.replace("hot_versions: 3", "hot_versions: 5")
    write_same_stamp(path, changed)
    assert config.load(tmp_path).host.hot_versions == 5
    assert (parses[TEXT], parses[changed]) == (1, 1)


def test_a_broken_file_is_refused_after_a_good_one_was_cached(tmp_path: Path, parses: Counter[str]) -> None:
    path = tmp_path / "gitmodel.yaml"
    path.write_text(TEXT)
    good = config.load(tmp_path)
    broken = TEXT.replace("hot_versions: 3", "hot_versions: 0")
    write_same_stamp(path, broken)
    for _ in range(2):  # a refusal is not remembered as a Config either
        with pytest.raises(config.v.ConfigError, match=r"gitmodel\.yaml: host\.hot_versions"):
            config.load(tmp_path)
    assert parses[broken] == 2
    path.write_text(TEXT)
    assert config.load(tmp_path) is good


def test_the_source_named_in_errors_is_part_of_the_key(parses: Counter[str]) -> None:
    bad = "environments: [staging]\nsmoke: 3\n"
    for source in ("gitmodel.yaml", "main:gitmodel.yaml"):
        with pytest.raises(config.v.ConfigError, match=rf"^{source}: smoke"):
            config.parse_text(bad, source)
    assert config.parse_text(TEXT, "a") is not config.parse_text(TEXT, "b")


OPTIONAL = ("smoke", "rollout", "hooks", "retention", "drill", "pointers", "branches", "compatibility")


@pytest.mark.parametrize("section", OPTIONAL)
def test_a_present_section_is_still_refused_at_load(section: str) -> None:
    """Its parser is imported lazily, but a typo in any section is refused by every command."""
    with pytest.raises(config.v.ConfigError, match=rf"^gitmodel\.yaml: {section} "):
        config.parse_text(f"environments: [staging]\n{section}: 3\n")


def test_absent_sections_import_no_parser_and_read_as_defaults() -> None:
    probe = (
        "import json, sys\n"
        "from gitmodel import config\n"
        "cfg = config.default()\n"
        "before = sorted(m for m in sys.modules if m.startswith('gitmodel.'))\n"
        "read = [cfg.rollout.window, cfg.smoke, cfg.hooks.dvc_remote_check, dict(cfg.compatibility)]\n"
        "print(json.dumps([before, read, 'gitmodel.rollout.config' in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    before, read, imported = json.loads(out)
    assert set(before) <= {"gitmodel.config", "gitmodel.errors", "gitmodel.gate", "gitmodel.refs"} | {
        "gitmodel.validate",
        "gitmodel.yamlio",
    }, before
    assert read[1:] == [None, True, {}] and imported  # read on first use, with the defaults


@pytest.mark.slow
def test_a_hot_rollback_parses_gitmodel_yaml_once(
    host: Host, follow: FollowServer, parses: Counter[str]
) -> None:
    for version in ("v1.0.0", "v1.1.0"):
        host.promote(version)
        deploy_json(host, *follow.flags())
    parses.clear()
    config.forget()
    done = rollback(
        host.clone,
        "production",
        "support",
        host.root,
        reload_url=f"{follow.url}/reload",
        info_url=f"{follow.url}/info",
    )
    assert (str(done.deployed.version), done.deployed.mode, follow.version) == ("v1.0.0", "hot", "v1.0.0")
    text = (host.clone / "gitmodel.yaml").read_text()
    assert parses[text] == 1, parses[text]


def test_the_git_directory_is_asked_once_and_never_served_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hot rollback asked git for it six times (the lock, the push marker); now once.
    The same path turned into a linked worktree, or GIT_DIR set, is asked again."""
    from gitmodel import git
    from gitmodel.git import local

    asked: list[str] = []
    real = local.out

    def counting(args: list[str], cwd: Path | str, **kw: object) -> str:
        asked.append(str(cwd))
        return real(args, cwd, **kw)

    monkeypatch.setattr(local, "out", counting)
    main, spot = tmp_path / "main", tmp_path / "spot"
    subprocess.run(["git", "init", "-q", str(spot)], check=True)
    assert [git.git_dir(spot) for _ in range(3)] == [spot / ".git"] * 3
    assert len(asked) == 1
    subprocess.run(["git", "init", "-q", str(main)], check=True)
    subprocess.run(["git", "-C", str(main), "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    shutil.rmtree(spot)
    subprocess.run(["git", "-C", str(main), "worktree", "add", "-q", str(spot)], check=True)
    assert git.git_dir(spot) == main / ".git"  # a worktree's common directory, not the old one
    monkeypatch.setenv("GIT_DIR", str(main / ".git"))
    git.git_dir(main)
    assert len(asked) == 3
