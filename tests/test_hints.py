"""Honest hints: typos and swapped arguments get the message that says what is wrong.

A table of wrong commands against a registry with support v1.0.0 registered: each
fails with one line, exit 2, the expected hint, and nothing written.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from plugin.registry import Registry, git

from gitmodel.cli.envs import reordered
from gitmodel.cli.main import cli
from gitmodel.cli.reads import STALE_AFTER, stale_for

ENVS = "gitmodel.yaml lists: staging, production"

CASES = [
    (["show", "support#prod"], f"unknown environment 'prod'; {ENVS}"),
    (["history", "support", "--env", "prod"], f"unknown environment 'prod'; {ENVS}"),
    (["show", "support#production"], "support has nothing in production; promote a version first"),
    (["show", "supprot"], "unknown model 'supprot'; known models: support"),
    (
        ["promote", "staging", "support", "v1.0.0"],
        "; did you mean `gitmodel promote support v1.0.0 staging`?",
    ),
    (
        ["promote", "support", "staging", "v1.0.0"],
        "; did you mean `gitmodel promote support v1.0.0 staging`?",
    ),
    (
        ["gate", "support", "production", "v1.0.0"],
        "; did you mean `gitmodel gate support v1.0.0 production`?",
    ),
    (
        ["rollback", "support", "production", "--reason", "x"],
        f"unknown environment 'support'; {ENVS}; did you mean `gitmodel rollback production support`?",
    ),
    (["rollback", "support"], f"unknown environment 'support'; {ENVS}"),
]


@pytest.mark.parametrize(("args", "expected"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_wrong_commands_get_the_right_hint(registered: Registry, args: list[str], expected: str) -> None:
    before = registered.snapshot()
    err = registered.fails(2, *args).stderr
    assert expected in err
    if "did you mean" not in expected:
        assert "did you mean" not in err
    assert registered.snapshot() == before


def test_a_known_environment_with_no_moves_is_an_empty_history(registered: Registry) -> None:
    out = registered.ok("history", "support", "--env", "production").stdout
    assert out.split() == ["TIME", "ACTION", "VERSION", "ENV", "FROM", "ACTOR", "REASON"]


@pytest.mark.parametrize(
    ("command", "roles", "given", "expected"),
    [
        ("rollback", ("env", "name"), ["support", "production"], "gitmodel rollback production support"),
        ("rollback", ("env", "name"), ["production", "support"], None),  # already right
        ("rollback", ("env", "name"), ["prod", "support"], None),  # a typo, not a swap
        ("rollback", ("env",), ["support"], None),
        (
            "promote",
            ("name", "version", "env"),
            ["v1.0.0", "support", "staging"],
            "gitmodel promote support v1.0.0 staging",
        ),
        ("promote", ("name", "version", "env"), ["support", "1.2.3", "staging"], None),
        ("promote", ("name", "version", "env"), ["staging", "production", "v1.0.0"], None),  # two envs
    ],
)
def test_reordered(command: str, roles: tuple[str, ...], given: list[str], expected: str | None) -> None:
    assert reordered(command, roles, given, ["staging", "production"]) == expected


def test_outside_a_clone_and_outside_a_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["deploy", "production", "--root", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert result.stderr == (
        f"gitmodel: error: {tmp_path} is not in a clone of a registry; `git clone` the registry and "
        "run this inside it (or start one: `git init`, then `gitmodel init`)\n"
    )
    assert not (tmp_path / "r").exists()
    git(tmp_path, "init", "-q")
    result = CliRunner().invoke(cli, ["list"])
    assert result.exit_code == 0
    assert result.stdout == "no registry here (no gitmodel.yaml); `gitmodel init` makes this repository one\n"


def test_reads_say_when_origin_may_be_ahead(registered: Registry) -> None:
    assert stale_for(registered.root) is None  # never fetched: no claim about its age
    git(registered.root, "fetch", "-q", "origin")
    fetch_head = registered.root / ".git" / "FETCH_HEAD"
    assert stale_for(registered.root) is None  # fresh
    assert "note:" not in registered.ok("list").stderr
    old = time.time() - 3 * 3600
    os.utime(fetch_head, (old, old))
    assert (stale_for(registered.root) or 0) > STALE_AFTER
    result = registered.ok("list")
    assert "support" in result.stdout
    assert result.stderr == (
        "note: this clone last fetched from origin 3 h ago, which may be ahead; "
        "`git fetch origin --tags` to see its moves\n"
    )
    assert registered.ok("list", "--json").stderr == ""
    assert "note:" in registered.ok("show", "support").stderr
