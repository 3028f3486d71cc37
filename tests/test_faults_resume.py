"""Resumable moves: a move killed between its local tag and its push is finished by the
next command on that clone that pushes the model, or refused with the command to run.

The kill is real: the move runs as its own process, stops at GITMODEL_TEST_PAUSE_AT=
move-tagged (after the local tags, before the push) and gets SIGKILL there.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from plugin.host import Host, _dvc, base_env, gguf_blob, git
from plugin.server import kill_at


def origin_tags(host: Host) -> dict[str, str]:
    out = git(host.dev, "ls-remote", "--refs", "origin", "refs/tags/*", "refs/gitmodel/*")
    return {name: oid for oid, name in (line.split("\t") for line in out.splitlines())}


def unpushed(host: Host) -> list[dict[str, str]]:
    result = host.ok("status", "production", "--json", cwd=host.dev)
    return list(json.loads(result.stdout)["unpushed"])


# (setup moves made and pushed first, the move that is killed, what the killed move tags)
MOVES: dict[str, tuple[list[tuple[str, ...]], tuple[str, ...], list[str]]] = {
    "promote": (
        [("promote", "support", "v1.0.0", "staging", "--push")],
        ("promote", "support", "v1.1.0", "staging", "--push"),
        ["support#staging#2"],
    ),
    "rollback": (
        [
            ("promote", "support", "v1.0.0", "staging", "--push"),
            ("promote", "support", "v1.0.0", "production", "--push"),
            ("promote", "support", "v1.1.0", "staging", "--push"),
            ("promote", "support", "v1.1.0", "production", "--push"),
        ],
        ("rollback", "production", "support", "--push"),
        ["support#production#5"],
    ),
    "canary-start": (
        [
            ("promote", "support", "v1.0.0", "staging", "--push"),
            ("promote", "support", "v1.0.0", "production", "--push"),
            ("promote", "support", "v1.1.0", "staging", "--push"),
        ],
        ("canary", "start", "support", "v1.1.0", "production", "--percent", "10", "--push"),
        ["support#production-canary#4"],
    ),
    "canary-promote": (
        [
            ("promote", "support", "v1.0.0", "staging", "--push"),
            ("promote", "support", "v1.0.0", "production", "--push"),
            ("promote", "support", "v1.1.0", "staging", "--push"),
            ("canary", "start", "support", "v1.1.0", "production", "--percent", "10", "--push"),
        ],
        ("canary", "promote", "support", "production", "--push"),
        ["support#production#5", "support#production-canary!#6"],
    ),
    "deprecate": ([], ("deprecate", "support", "v1.0.0", "--push"), ["support@v1.0.0!"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("move", list(MOVES))
def test_a_killed_move_is_finished_by_the_rerun(host: Host, move: str) -> None:
    setup, killed, tags = MOVES[move]
    for args in setup:
        host.ok(*args, cwd=host.dev)
    kill_at(host.dev, "move-tagged", *killed)
    local = git(host.dev, "tag", "-l").splitlines()
    assert set(tags) <= set(local)
    assert not {f"refs/tags/{t}" for t in tags} & set(origin_tags(host))
    assert [m["tag"] for m in unpushed(host)] == tags

    rerun = host.ok(*killed, cwd=host.dev)
    assert rerun.stdout.startswith(f"pushed {tags[0]} ("), rerun.stdout
    assert "nothing else was done" in rerun.stdout
    remote = origin_tags(host)
    for tag in tags:
        assert remote[f"refs/tags/{tag}"] == git(host.dev, "rev-parse", f"refs/tags/{tag}")
    if any("#" in t for t in tags):  # the sequence ref moved with them, as a normal push does
        last = max((t for t in tags if "#" in t), key=lambda t: int(t.rsplit("#", 1)[1]))
        assert remote["refs/gitmodel/seq/support"] == git(host.dev, "rev-parse", f"refs/tags/{last}")
    assert unpushed(host) == []
    # A host clone now sees exactly what the dev clone has.
    git(host.clone, "fetch", "-q", "--tags", "origin")
    for tag in tags:
        assert git(host.clone, "rev-parse", f"refs/tags/{tag}") == git(
            host.dev, "rev-parse", f"refs/tags/{tag}"
        )


@pytest.mark.slow
def test_a_rerun_never_repeats_the_killed_move(host: Host) -> None:
    """Rerunning a killed rollback rolls back once: the rerun finishes it and stops."""
    setup, killed, tags = MOVES["rollback"]
    for args in setup:
        host.ok(*args, cwd=host.dev)
    kill_at(host.dev, "move-tagged", *killed)
    host.ok(*killed, cwd=host.dev)
    history = host.ok("history", "support", "--env", "production", "--json", cwd=host.dev).stdout
    rollbacks = [e for e in json.loads(history)["events"] if e.get("action") == "rollback"]
    assert [e["tag"] for e in rollbacks] == tags


@pytest.mark.slow
def test_a_killed_move_origin_moved_past_is_refused_with_the_command(host: Host, tmp_path: Path) -> None:
    for args in MOVES["canary-start"][0]:  # staging#1, production#2, staging#3 (v1.1.0)
        host.ok(*args, cwd=host.dev)
    killed = ("promote", "support", "v1.1.0", "production", "--push")
    kill_at(host.dev, "move-tagged", *killed)  # production#4, only here
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(host.origin), str(other))
    host.ok("promote", "support", "v2.0.0", "staging", "--push", cwd=other)  # origin: staging#4
    before = origin_tags(host)
    [listed] = unpushed(host)
    assert listed["tag"] == "support#production#4" and "git tag -d support#production#4" in listed["blocked"]

    result = host.fails(3, *killed, cwd=host.dev)
    assert "support#production#4 never reached origin, and origin has moved support past #4" in result.stderr
    assert "drop it with `git tag -d support#production#4` and redo the move" in result.stderr
    assert origin_tags(host) == before
    # Doing what it says converges.
    git(host.dev, "tag", "-d", "support#production#4")
    host.ok(*killed, cwd=host.dev)
    assert "refs/tags/support#production#5" in origin_tags(host)
    assert unpushed(host) == []


@pytest.mark.slow
def test_a_killed_move_whose_name_origin_took_is_refused_with_the_command(host: Host, tmp_path: Path) -> None:
    host.ok("promote", "support", "v1.0.0", "staging", "--push", cwd=host.dev)  # staging#1
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(host.origin), str(other))
    # staging#2, only here
    kill_at(host.dev, "move-tagged", "promote", "support", "v1.1.0", "staging", "--push")
    host.ok("promote", "support", "v2.0.0", "staging", "--push", cwd=other)  # origin: staging#2
    result = host.fails(3, "promote", "support", "v1.1.0", "staging", "--push", cwd=host.dev)
    assert "origin's tag support#staging#2 differs from this clone's" in result.stderr
    assert "`git tag -d support#staging#2`" in result.stderr


@pytest.mark.slow
def test_a_killed_registration_is_pushed_with_its_bytes_and_commit(host: Host) -> None:
    copy = host.root.parent / "dvc-remote-copy"
    subprocess.run(["cp", "-a", str(host.world.remote), str(copy)], check=True)
    env = base_env(Path(os.environ["HOME"]))
    _dvc(host.dev, env, "remote", "modify", "--local", "storage", "url", str(copy))
    src = host.dev / "new.gguf"
    gguf_blob(src, 300_000, 99)
    args = ("register", "support", str(src), "--version", "v2.2.0", "--push")
    kill_at(host.dev, "move-tagged", *args)  # after the local tag, before `dvc push` and the git push
    assert "refs/tags/support@v2.2.0" not in origin_tags(host)
    [listed] = unpushed(host)
    assert listed["tag"] == "support@v2.2.0" and listed["interrupted"] is True
    md5 = git(host.dev, "show", "support@v2.2.0:models/support/new.gguf.dvc").split("md5: ")[1][:32]
    obj = copy / "files" / "md5" / md5[:2] / md5[2:]
    assert not obj.exists()  # the bytes never left: the resume pushes them first

    rerun = host.ok(*args, cwd=host.dev)
    assert rerun.stdout.startswith("pushed support@v2.2.0 (register v2.2.0) to origin"), rerun.stdout
    assert obj.is_file()
    commit = git(host.dev, "rev-parse", "support@v2.2.0^{commit}")
    assert git(host.origin, "rev-parse", "main") == commit
    assert git(host.origin, "rev-parse", "support@v2.2.0^{commit}") == commit
    assert unpushed(host) == []


@pytest.mark.slow
def test_moves_made_without_push_stay_local_and_are_listed(host: Host) -> None:
    host.ok("promote", "support", "v1.0.0", "staging", cwd=host.dev)
    [listed] = unpushed(host)
    assert listed["tag"] == "support#staging#1" and listed["interrupted"] is False
    table = host.ok("status", "production", cwd=host.dev).stdout
    assert "support#staging#1" in table and "made without --push: stays local" in table
    host.ok("deprecate", "support", "v2.0.0", "--push", cwd=host.dev)  # another push goes on as before
    assert "refs/tags/support#staging#1" not in origin_tags(host)


def test_status_without_root_on_a_clone_with_nothing_unpushed(host: Host) -> None:
    result = host.ok("status", "production", cwd=host.dev)
    assert result.stdout.strip() == "every move on this clone is on origin"


def test_status_without_root_checks_the_environment(host: Host) -> None:
    host.fails(2, "status", "nowhere", cwd=host.dev)


@pytest.mark.slow
def test_a_dead_origin_at_the_rerun_is_exit_4_and_the_move_waits(host: Host, tmp_path: Path) -> None:
    host.ok("promote", "support", "v1.0.0", "staging", "--push", cwd=host.dev)
    killed = ("promote", "support", "v1.1.0", "staging", "--push")
    kill_at(host.dev, "move-tagged", *killed)
    git(host.dev, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    before = git(host.dev, "for-each-ref", "--format=%(refname) %(objectname)")
    host.fails(4, *killed, cwd=host.dev)
    assert git(host.dev, "for-each-ref", "--format=%(refname) %(objectname)") == before
    git(host.dev, "remote", "set-url", "origin", str(host.origin))
    assert host.ok(*killed, cwd=host.dev).stdout.startswith("pushed support#staging#2 (promote v1.1.0)")
