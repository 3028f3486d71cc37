"""Typos and wrong paths over the CLI: the documented exit code and one line naming the fix.

Each row is a mistake an operator makes on a bad day.  Every answer must be one line on
stderr starting with `gitmodel: error: `, carry the row's words (the cause and the fix),
never be exit 70 ("internal error"), and leave the registry as it was.  Then: a reader
that stops early (`| head`) ends the command quietly.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from plugin.registry import Registry, git, random_bytes

# (id, where it runs, argv with {file} {missing} {root} {notgit} placeholders, exit code, words)
# where: "registry" (support v1.0.0 in production, v1.1.0 registered), "notgit", "plain".
TABLE: list[tuple[str, str, list[str], int, list[str]]] = [
    # unknown model
    (
        "show-unknown-model",
        "registry",
        ["show", "nosuch"],
        2,
        ["unknown model 'nosuch'", "known models: support"],
    ),
    ("history-unknown-model", "registry", ["history", "nosuch"], 2, ["unknown model 'nosuch'"]),
    ("promote-unknown-model", "registry", ["promote", "nosuch", "v1.0.0", "staging"], 2, ["known models"]),
    (
        "deploy-unknown-model",
        "registry",
        ["deploy", "production", "nosuch", "--root", "{root}"],
        2,
        ["known"],
    ),
    # unknown version
    ("show-unknown-version", "registry", ["show", "support@v9.9.9"], 2, ["`gitmodel history support`"]),
    (
        "promote-unknown-version",
        "registry",
        ["promote", "support", "v9.9.9", "staging"],
        2,
        ["no version v9.9.9"],
    ),
    (
        "rollback-to-unknown",
        "registry",
        ["rollback", "production", "support", "--to", "v9.9.9"],
        2,
        ["history"],
    ),
    ("diff-unknown-version", "registry", ["diff", "support", "v1.0.0", "v9.9.9"], 2, ["no version v9.9.9"]),
    # unknown environment
    ("promote-unknown-env", "registry", ["promote", "support", "v1.1.0", "qa"], 2, ["gitmodel.yaml lists"]),
    (
        "history-unknown-env",
        "registry",
        ["history", "support", "--env", "qa"],
        2,
        ["unknown environment 'qa'"],
    ),
    ("show-unknown-env", "registry", ["show", "support#qa"], 2, ["unknown environment 'qa'", "staging"]),
    ("gate-unknown-env", "registry", ["gate", "support", "v1.1.0", "qa"], 2, ["gitmodel.yaml lists"]),
    ("status-unknown-env", "registry", ["status", "qa", "--root", "{root}"], 2, ["gitmodel.yaml lists"]),
    (
        "deploy-unknown-env",
        "registry",
        ["deploy", "qa", "support", "--root", "{root}"],
        2,
        ["lists: staging"],
    ),
    # bad version string
    ("show-bad-version", "registry", ["show", "support@1.0"], 2, ["write it as vMAJOR.MINOR.PATCH"]),
    ("promote-bad-version", "registry", ["promote", "support", "1.1", "staging"], 2, ["vMAJOR.MINOR.PATCH"]),
    ("rollback-bad-version", "registry", ["rollback", "production", "--to", "9"], 2, ["vMAJOR.MINOR.PATCH"]),
    (
        "register-bad-version",
        "registry",
        ["register", "support", "x", "--version", "1.0"],
        2,
        ["e.g. v1.2.0"],
    ),
    # wrong argument order
    (
        "promote-order",
        "registry",
        ["promote", "production", "support", "v1.0.0"],
        2,
        ["did you mean `gitmodel promote support v1.0.0 production`?"],
    ),
    (
        "gate-order",
        "registry",
        ["gate", "support", "production", "v1.1.0"],
        2,
        ["`gitmodel gate support v1.1.0 production`"],
    ),
    (
        "canary-order",
        "registry",
        ["canary", "start", "support", "production", "v1.1.0", "--percent", "5"],
        2,
        ["did you mean `gitmodel canary start support v1.1.0 production`?"],
    ),
    (
        "rollback-order",
        "registry",
        ["rollback", "support", "production"],
        2,
        ["unknown environment 'support'", "did you mean `gitmodel rollback production support`?"],
    ),
    (
        "deploy-order",
        "registry",
        ["deploy", "support", "production", "--root", "{root}"],
        2,
        ["did you mean `gitmodel deploy production support`?"],
    ),
    # --root / --path / --meta pointing at the wrong thing
    (
        "deploy-root-file",
        "registry",
        ["deploy", "production", "support", "--root", "{file}"],
        2,
        ["is a file"],
    ),
    (
        "status-root-file",
        "registry",
        ["status", "production", "--root", "{file}"],
        2,
        ["is a file", "--help"],
    ),
    ("rollback-root-file", "registry", ["rollback", "production", "--root", "{file}"], 2, ["is a file"]),
    (
        "meta-missing",
        "registry",
        ["register", "support", "m.gguf", "--meta", "{missing}"],
        2,
        ["does not exist"],
    ),
    ("meta-dir", "registry", ["register", "support", "m.gguf", "--meta", "{root}"], 2, ["is a directory"]),
    (
        "artifact-missing",
        "registry",
        ["register", "support", "{missing}"],
        2,
        ["give the path of a model file"],
    ),
    (
        "artifact-is-model-dir",
        "registry",
        ["register", "support", "models/support"],
        2,
        ["model's own folder"],
    ),
    ("artifact-holds-model-dir", "registry", ["register", "support", "models"], 2, ["give the model file"]),
    (
        "hooks-path-missing",
        "registry",
        ["hooks", "install", "--server", "--path", "{missing}"],
        2,
        ["is not a directory", "existing git repository"],
    ),
    (
        "hooks-path-notgit",
        "registry",
        ["hooks", "install", "--path", "{notgit}"],
        2,
        ["is not a git repository"],
    ),
    # not a git repository
    ("notgit-list", "notgit", ["list"], 2, ["not in a clone of a registry", "`git clone` the registry"]),
    ("notgit-register", "notgit", ["register", "support", "m.gguf"], 2, ["`git init`"]),
    ("notgit-deploy", "notgit", ["deploy", "production", "--root", "{root}"], 2, ["`git init`"]),
    ("notgit-status", "notgit", ["status", "production", "--root", "{root}"], 2, ["`git init`"]),
    ("notgit-rollback", "notgit", ["rollback", "production"], 2, ["`git init`"]),
    # a repository that is not a registry
    (
        "plain-register",
        "plain",
        ["register", "support", "m.gguf"],
        2,
        ["no gitmodel.yaml", "`gitmodel init`"],
    ),
    ("plain-promote", "plain", ["promote", "support", "v1.0.0", "staging"], 2, ["`gitmodel init`"]),
    ("plain-deploy", "plain", ["deploy", "production", "--root", "{root}"], 2, ["`gitmodel init`"]),
    ("plain-gate", "plain", ["gate", "support", "v1.0.0", "production"], 2, ["`gitmodel init`"]),
    ("plain-show", "plain", ["show", "support"], 2, ["register one with `gitmodel register`"]),
    # typos in commands and options
    ("unknown-command", "registry", ["lsit"], 2, ["No such command 'lsit'", "see `gitmodel --help`"]),
    (
        "unknown-option",
        "registry",
        ["list", "--jsn"],
        2,
        ["Did you mean '--json'?", "`gitmodel list --help`"],
    ),
    ("extra-argument", "registry", ["list", "support"], 2, ["unexpected extra argument"]),
    ("missing-argument", "registry", ["promote", "support"], 2, ["Missing argument", "--help"]),
    (
        "init-remote-url",
        "registry",
        ["init", "--remote", "s3://bucket/x"],
        2,
        ["`dvc remote add -d NAME URL`"],
    ),
]


@pytest.fixture
def places(released: Registry, tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "a-file").write_text("not a directory\n")
    (tmp_path / "notgit").mkdir()
    (tmp_path / "plain").mkdir()
    git(tmp_path / "plain", "init", "-q")
    (tmp_path / "host-root").mkdir()
    return {
        "registry": released.root,
        "notgit": tmp_path / "notgit",
        "plain": tmp_path / "plain",
        "file": tmp_path / "a-file",
        "missing": tmp_path / "no-such-thing",
        "root": tmp_path / "host-root",
    }


def test_every_row_is_one_line_with_its_code_and_fix(released: Registry, places: dict[str, Path]) -> None:
    """One test over the whole table: the registry template is built once, not per row."""
    fill = {k: str(v) for k, v in places.items()}
    failures = []
    before = released.snapshot()
    for ident, where, argv, code, words in TABLE:
        result = released.run(*[a.format(**fill) for a in argv], cwd=places[where])
        err = result.stderr
        problems = []
        if result.exit_code != code:
            problems.append(f"exit {result.exit_code}, expected {code}")
        if not err.startswith("gitmodel: error: ") or len(err.strip().splitlines()) != 1:
            problems.append("not one `gitmodel: error:` line")
        if "internal error" in err:
            problems.append("internal error")
        problems += [f"missing {w!r}" for w in words if w not in err]
        if problems:
            failures.append(f"{ident}: {'; '.join(problems)}: {err.strip()!r}")
    assert not failures, "\n".join(failures)
    assert released.snapshot() == before  # no refusal wrote anything to the registry
    assert not any(places["root"].iterdir())  # nor to the host root


def test_the_table_covers_every_kind_of_mistake_the_brief_lists() -> None:
    kinds = {
        ident.split("-", 1)[1] if ident.startswith(("notgit", "plain")) else ident for ident, *_ in TABLE
    }
    for needed in ("unknown-model", "unknown-version", "unknown-env", "bad-version", "order", "root-file"):
        assert any(needed in k for k in kinds), needed
    assert {where for _, where, *_ in TABLE} == {"registry", "notgit", "plain"}


# --- broken pipes --------------------------------------------------------------------------


def _gitmodel(cwd: Path, *args: str, read: int) -> subprocess.CompletedProcess[bytes]:
    """Run gitmodel with stdout into a pipe whose reader keeps READ bytes, then leaves."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gitmodel", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    if read:
        proc.stdout.read(read)
    proc.stdout.close()  # `| head -c READ`: the reader is gone
    err = proc.stderr.read()
    proc.wait(timeout=60)
    return subprocess.CompletedProcess(args, proc.returncode, b"", err)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "read"),
    [
        (["list"], 0),
        (["history", "support", "--json"], 1),
        (["show", "support"], 0),
        (["--help"], 0),
        (["list", "--help"], 3),
    ],
)
def test_a_reader_that_leaves_ends_the_command_quietly(
    released: Registry, args: list[str], read: int
) -> None:
    done = _gitmodel(released.root, *args, read=read)
    assert (done.returncode, done.stderr) == (0, b"")


@pytest.mark.slow
def test_a_refusal_keeps_its_code_when_nobody_reads_stdout(released: Registry) -> None:
    done = _gitmodel(released.root, "promote", "support", "v9.9.9", "staging", read=0)
    assert done.returncode == 2
    assert done.stderr.decode().startswith("gitmodel: error: support has no version v9.9.9")


@pytest.mark.slow
def test_a_move_whose_reader_leaves_is_made_and_ends_quietly(released: Registry) -> None:
    """`gitmodel register ... --push | head -1` and `promote ... --push | head -1`: the
    move is made and pushed, and the closed pipe is no error (no exit 70, no traceback)."""
    before = set(git(released.root, "tag", "-l").stdout.split())
    released.write("n.gguf", random_bytes(4096, 7))
    meta = released.meta()
    done = _gitmodel(released.root, "register", "support", "n.gguf", "--meta", str(meta), "--push", read=0)
    assert (done.returncode, done.stderr) == (0, b""), done.stderr
    done = _gitmodel(released.root, "promote", "support", "v1.1.0", "staging", "--push", read=0)
    assert (done.returncode, done.stderr) == (0, b""), done.stderr
    made = set(git(released.root, "tag", "-l").stdout.split()) - before
    assert sorted(t.split("#")[0].split("@v")[0] + ("@" if "@" in t else "#") for t in made) == [
        "support#",
        "support@",
    ], made  # one version, one staging assignment
    lines = git(released.root, "ls-remote", "--tags", "origin").stdout.splitlines()
    assert made <= {line.split("refs/tags/")[1].removesuffix("^{}") for line in lines}  # pushed
