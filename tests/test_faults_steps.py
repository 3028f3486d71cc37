"""kill -9 at every step of every move, then the same command again: origin converges.

Each row runs one move as its own process, stops it at a named step
(GITMODEL_TEST_PAUSE_AT, docs/host.md "Faults"), SIGKILLs it there and reruns the same
command.  Afterwards origin and the clone hold the same tags of the model, each move's
tags exactly once, the sequence ref at the last counted tag, and no note of a move in
flight.  What the rerun says depends on where the kill came:

- before any tag (`move-marked`), or between a canary promote's two tags
  (`move-tagged-part`): nothing reached origin; the rerun makes the move afresh;
- after the tags, before or during the push (`move-tagged`, and a registration's
  `register-dvc-pushed`): the rerun pushes them and stops ("pushed ...");
- after the push (`move-pushed`): origin has it; the rerun says so and stops.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from plugin.host import Host, _dvc, base_env, gguf_blob, git
from plugin.server import kill_at

PROMOTED = [
    ("promote", "support", "v1.0.0", "staging", "--push"),
    ("promote", "support", "v1.0.0", "production", "--push"),
]
STAGED = [*PROMOTED, ("promote", "support", "v1.1.0", "staging", "--push")]
CANARY = [*STAGED, ("canary", "start", "support", "v1.1.0", "production", "--percent", "10", "--push")]

# move -> (setup, the killed command, the tags it makes)
MOVES: dict[str, tuple[list[tuple[str, ...]], tuple[str, ...], list[str]]] = {
    "promote": (PROMOTED[:1], ("promote", "support", "v1.1.0", "staging", "--push"), ["support#staging#2"]),
    "rollback": (
        [*STAGED, ("promote", "support", "v1.1.0", "production", "--push")],
        ("rollback", "production", "support", "--push"),
        ["support#production#5"],
    ),
    "canary-start": (STAGED, CANARY[-1], ["support#production-canary#4"]),
    "canary-set": (
        CANARY,
        ("canary", "set", "support", "production", "--percent", "50", "--push"),
        ["support#production-canary#5"],
    ),
    "canary-promote": (
        CANARY,
        ("canary", "promote", "support", "production", "--push"),
        ["support#production#5", "support#production-canary!#6"],
    ),
    "canary-abort": (
        CANARY,
        ("canary", "abort", "support", "production", "--push"),
        ["support#production-canary!#5"],
    ),
}
STEPS = ["move-marked", "move-tagged", "move-pushed"]
SAYS = {
    "move-marked": "",
    "move-tagged-part": "",
    "move-tagged": "pushed ",
    "register-dvc-pushed": "pushed ",
    "move-pushed": "reached origin in an earlier run",
}
ROWS = [(m, s) for m in MOVES for s in STEPS] + [("canary-promote", "move-tagged-part")]


def refs(cwd: Path, remote: bool) -> dict[str, str]:
    if remote:
        out = git(cwd, "ls-remote", "--refs", "origin", "refs/tags/support*", "refs/gitmodel/*")
        pairs = [line.split("\t") for line in out.splitlines()]
        return {name: oid for oid, name in pairs}
    fmt = "--format=%(refname)\t%(objectname)"
    out = git(cwd, "for-each-ref", fmt, "refs/tags/support*", "refs/gitmodel")
    return dict(line.split("\t") for line in out.splitlines())


def converged(host: Host, before: dict[str, str], tags: list[str]) -> None:
    remote = refs(host.dev, remote=True)
    assert refs(host.dev, remote=False) == remote  # the clone and origin agree, seq ref included
    assert set(remote) - set(before) == {f"refs/tags/{t}" for t in tags}  # the move, once
    counted = [t for t in tags if "#" in t]
    if counted:
        last = max(counted, key=lambda t: int(t.rsplit("#", 1)[1]))
        assert remote["refs/gitmodel/seq/support"] == git(host.dev, "rev-parse", f"refs/tags/{last}")
    assert not (host.dev / ".git" / "gitmodel-pushing").exists()


@pytest.mark.slow
@pytest.mark.parametrize(("move", "step"), ROWS, ids=[f"{m}-{s}" for m, s in ROWS])
def test_kill_at_every_step_then_rerun_converges(host: Host, move: str, step: str) -> None:
    setup, killed, tags = MOVES[move]
    for args in setup:
        host.ok(*args, cwd=host.dev)
    before = refs(host.dev, remote=True)
    kill_at(host.dev, step, *killed)
    rerun = host.ok(*killed, cwd=host.dev)
    said = SAYS[step]
    if said:
        assert said in rerun.stdout and "nothing else was done" in rerun.stdout, rerun.stdout
    else:
        assert "earlier run" not in rerun.stdout, rerun.stdout
    converged(host, before, tags)
    # and a second rerun is an ordinary command again (no note left behind)
    assert "earlier run" not in host.run(*killed, cwd=host.dev).stdout


REGISTER_STEPS = ["move-tagged", "register-dvc-pushed", "move-pushed"]


@pytest.mark.slow
@pytest.mark.parametrize("step", REGISTER_STEPS)
def test_a_registration_killed_after_its_tag_converges(host: Host, step: str) -> None:
    copy = host.root.parent / "dvc-remote-copy"
    subprocess.run(["cp", "-a", str(host.world.remote), str(copy)], check=True)
    env = base_env(Path(os.environ["HOME"]))
    _dvc(host.dev, env, "remote", "modify", "--local", "storage", "url", str(copy))
    src = host.dev / "new.gguf"
    gguf_blob(src, 100_000, 98)
    args = ("register", "support", str(src), "--version", "v2.2.0", "--push")
    before = refs(host.dev, remote=True)
    kill_at(host.dev, step, *args)
    rerun = host.ok(*args, cwd=host.dev)
    assert SAYS[step] in rerun.stdout and "nothing else was done" in rerun.stdout, rerun.stdout
    converged(host, before, ["support@v2.2.0"])
    commit = git(host.dev, "rev-parse", "support@v2.2.0^{commit}")
    assert git(host.origin, "rev-parse", "main") == commit
    md5 = git(host.dev, "show", "support@v2.2.0:models/support/new.gguf.dvc").split("md5: ")[1][:32]
    assert (copy / "files" / "md5" / md5[:2] / md5[2:]).is_file()


@pytest.mark.slow
def test_a_seq_ref_deleted_on_origin_is_deleted_here_too(host: Host) -> None:
    """The fetch mirrors refs/gitmodel/* exactly: a stale local sequence ref would make
    every lease fail (exit 3) until deleted by hand."""
    host.ok("promote", "support", "v1.0.0", "staging", "--push", cwd=host.dev)
    assert git(host.dev, "rev-parse", "refs/gitmodel/seq/support")
    git(host.origin, "update-ref", "-d", "refs/gitmodel/seq/support")
    git(host.dev, "tag", "mine")  # a local tag origin lacks is never pruned
    host.ok("promote", "support", "v1.1.0", "staging", "--push", cwd=host.dev)
    remote = refs(host.dev, remote=True)
    assert remote["refs/gitmodel/seq/support"] == git(host.dev, "rev-parse", "refs/tags/support#staging#2")
    assert refs(host.dev, remote=False) == remote
    assert git(host.dev, "tag", "-l", "mine") == "mine"


@pytest.mark.slow
def test_a_push_that_times_out_after_origin_took_it_keeps_its_tags(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Origin updates its refs, then hangs in a post-receive hook: the push times out
    (exit 4) with the tags kept here, and the rerun finds them on origin and stops."""
    host.ok("promote", "support", "v1.0.0", "staging", "--push", cwd=host.dev)
    hook = host.origin / "hooks" / "post-receive"
    hook.write_text("#!/bin/sh\nexec sleep 60\n")
    hook.chmod(0o755)
    monkeypatch.setenv("GITMODEL_GIT_TIMEOUT", "1")
    move = ("promote", "support", "v1.1.0", "staging", "--push")
    before = refs(host.dev, remote=True)
    failed = host.fails(4, *move, cwd=host.dev)
    assert "origin did not answer within 1 s (git push)" in failed.stderr
    assert "origin may or may not have taken the push" in failed.stderr
    assert "support#staging#2 kept on this clone" in failed.stderr
    assert "refs/tags/support#staging#2" in refs(host.dev, remote=True)  # origin took it
    assert git(host.dev, "tag", "-l", "support#staging#2") == "support#staging#2"
    hook.unlink()
    rerun = host.ok(*move, cwd=host.dev)
    assert "support#staging#2 (promote v1.1.0) reached origin in an earlier run" in rerun.stdout
    converged(host, before, ["support#staging#2"])


@pytest.mark.slow
@pytest.mark.parametrize("step", ["register-added", "register-committed"])
def test_a_registration_killed_before_its_tag_converges_without_a_reset(host: Host, step: str) -> None:
    """The run's note (register_note.py): before the commit the rerun undoes the work tree
    and registers afresh; after it, the rerun tags that commit and pushes it."""
    src = host.dev / "new.gguf"
    gguf_blob(src, 100_000, 97)
    args = ("register", "support", str(src), "--version", "v2.2.0", "--push")
    before = refs(host.dev, remote=True)
    kill_at(host.dev, step, *args)
    rerun = host.ok(*args, cwd=host.dev)
    said = "registered support v2.2.0" if step == "register-added" else "pushed support@v2.2.0"
    assert said in rerun.stdout, rerun.stdout
    converged(host, before, ["support@v2.2.0"])
    assert git(host.origin, "rev-parse", "main") == git(host.dev, "rev-parse", "support@v2.2.0^{commit}")
