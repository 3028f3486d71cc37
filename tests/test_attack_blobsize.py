"""Attack: a huge version file pushed to a server that runs gitmodel's pre-receive.

The policy reads a model folder's version files (model.yaml, checks.yaml, prompts/*, the
pointers) from git objects.  A pusher who commits a 200 MB prompt template must not make
the server's hook hold 200 MB (or several copies of it) in memory: the hook asks git for
the sizes first (`cat-file --batch-check`) and refuses, in one line naming the file and
the limit, before reading any content.  The hook's peak memory is measured by running it
under a wrapper that reads its children's rusage (wait4).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from plugin.hooks import Served

from gitmodel import checks, prompts, yamlio
from gitmodel.policy import files

BIG = 200 * 1024 * 1024

# Runs the real hook as a child and writes its peak RSS (KiB, the hook and every process it
# waited for: git cat-file included) next to it.
WRAPPER = f"""#!{sys.executable}
import os, subprocess, sys
proc = subprocess.Popen([os.path.join(os.path.dirname(__file__), "pre-receive.real")])
_, status, usage = os.wait4(proc.pid, 0)
with open(os.path.join(os.path.dirname(__file__), "peak-rss"), "w") as fh:
    fh.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def measured(origin: Path) -> Path:
    hooks = origin / "hooks"
    (hooks / "pre-receive").rename(hooks / "pre-receive.real")
    (hooks / "pre-receive").write_text(WRAPPER)
    (hooks / "pre-receive").chmod(0o755)
    return hooks / "peak-rss"


def huge_blob(served: Served, path: str, size: int, tmp: Path) -> None:
    """Commit a `size`-byte file of zeros at `path` (sparse on disk, cheap to hash and pack)."""
    big = tmp / "big"
    with open(big, "wb") as fh:
        fh.truncate(size)
    oid = served.git("hash-object", "-w", str(big)).stdout.strip()
    big.unlink()
    served.git("update-index", "--add", "--cacheinfo", f"100644,{oid},{path}")
    served.git("commit", "-q", "--no-verify", "-m", f"a huge {path}")


@pytest.mark.slow
@pytest.mark.parametrize("served", ["server"], indirect=True)
@pytest.mark.parametrize(
    ("path", "size", "limit"),
    [
        ("models/support/prompts/big.txt", BIG, prompts.MAX_BYTES),
        ("models/support/checks.yaml", 2 * 1024 * 1024, checks.MAX_BYTES),
    ],
    ids=["prompt-200MB", "checks-2MB"],
)
def test_a_huge_version_file_is_refused_before_it_is_read(
    served: Served, tmp_path: Path, path: str, size: int, limit: int
) -> None:
    huge_blob(served, path, size, tmp_path)
    peak = measured(served.origin)
    before = served.remote_refs()
    proc = served.push("HEAD:refs/heads/main")
    assert proc.returncode != 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "gitmodel" in line or "refused" in line]
    said = [line for line in lines if path in line]
    assert len(said) == 1, proc.stderr
    assert f"{size} bytes" in said[0] and f"{limit} bytes" in said[0], said[0]
    assert served.remote_refs() == before
    rss_mb = int(peak.read_text()) / 1024
    assert rss_mb < 100, f"the hook peaked at {rss_mb:.0f} MB for a {size >> 20} MB blob"


def test_the_limits_are_the_readers_own() -> None:
    # policy/files.py holds the limits without importing their readers (hooks stay fast).
    assert files.MAX_PROMPT == prompts.MAX_BYTES
    assert files.MAX_CHECKS == checks.MAX_BYTES
    assert files.MAX_YAML == yamlio.MAX_BYTES


def test_a_huge_tag_object_is_refused_unread(tmp_path: Path) -> None:
    import subprocess

    from gitmodel.policy import tags
    from gitmodel.policy.verdict import ANNOTATED, Violation
    from gitmodel.refs import parse_tag

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=tmp_path, capture_output=True, text=True, check=True).stdout

    git("init", "-q")
    git("commit", "-q", "--allow-empty", "-m", "root")
    message = tmp_path / "message"
    message.write_text("x" * (files.MAX_YAML + 1))
    git("tag", "-a", "support@v1.0.0", "-F", str(message))
    oid = git("rev-parse", "refs/tags/support@v1.0.0").strip()
    ref = parse_tag("support@v1.0.0")
    assert ref is not None
    found: list[Violation] = []
    assert tags.annotated(tmp_path, [("support@v1.0.0", oid, ref)], found) == []
    assert [(v.subject, v.rule) for v in found] == [("support@v1.0.0", ANNOTATED)]
    assert f"over the {files.MAX_YAML}" in found[0].message
