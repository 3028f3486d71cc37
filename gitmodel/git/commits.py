"""Commits made without a work tree: a parent's tree plus a few files (request branches)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from gitmodel.errors import RemoteUnreachable
from gitmodel.git.local import git_dir
from gitmodel.git.process import last_line, network, out, run


def commit_files(repo: Path, parent: str, files: Mapping[str, str], message: str) -> str:
    """A new commit on `parent` whose tree is `parent`'s with `files` (path -> text) added.

    A throwaway index keeps the user's index and work tree untouched.
    """
    import tempfile  # here: every command imports the git package, only moves write commits

    fd, index = tempfile.mkstemp(prefix="gitmodel-index-", dir=git_dir(repo))
    os.close(fd)
    env = {"GIT_INDEX_FILE": index}
    try:
        run(["read-tree", parent], repo, env=env)
        for path, text in files.items():
            blob = out(["hash-object", "-w", "--stdin"], repo, stdin=text)
            run(["update-index", "--add", "--cacheinfo", f"100644,{blob},{path}"], repo, env=env)
        tree = out(["write-tree"], repo, env=env)
    finally:
        Path(index).unlink(missing_ok=True)
    return out(["commit-tree", tree, "-p", parent, "-F", "-"], repo, stdin=message)


def fetch_default_branch(repo: Path, remote: str = "origin") -> tuple[str, str]:
    """(full ref, commit) of `remote`'s default branch, its objects fetched here."""
    proc = network(["ls-remote", "--symref", remote, "HEAD"], repo, remote)
    if proc.returncode != 0:
        raise RemoteUnreachable(f"could not read {remote}'s default branch: {last_line(proc.stderr)}")
    ref = next(
        (ln.split()[1] for ln in proc.stdout.splitlines() if ln.startswith("ref: ") and ln.endswith("HEAD")),
        None,
    )
    if ref is None:
        raise RemoteUnreachable(f"{remote} has no default branch yet; push one (`git push -u {remote} main`)")
    proc = network(["fetch", "--no-tags", "-q", remote, ref], repo, remote)
    if proc.returncode != 0:
        raise RemoteUnreachable(f"could not fetch {ref} from {remote}: {last_line(proc.stderr)}")
    return ref, out(["rev-parse", "FETCH_HEAD"], repo)


def fetch_branches(repo: Path, prefix: str, remote: str = "origin") -> dict[str, str]:
    """`remote`'s branches under refs/heads/PREFIX (full ref -> commit), their objects fetched
    here and mirrored, pruned, under refs/remotes/REMOTE/PREFIX (where a clone keeps them)."""
    mirror = f"refs/remotes/{remote}/{prefix}"
    proc = network(
        ["fetch", "--no-tags", "--prune", "-q", remote, f"+refs/heads/{prefix}*:{mirror}*"], repo, remote
    )
    if proc.returncode != 0:
        raise RemoteUnreachable(
            f"could not fetch refs/heads/{prefix}* from {remote}: {last_line(proc.stderr)}"
        )
    listed = out(["for-each-ref", "--format=%(objectname) %(refname)", mirror], repo)
    pairs = (line.split(" ", 1) for line in listed.splitlines() if " " in line)
    return {"refs/heads/" + name.removeprefix(f"refs/remotes/{remote}/"): oid for oid, name in pairs}


def delete_remote_branch(repo: Path, ref: str, expect: str, remote: str = "origin") -> str | None:
    """Delete `ref` on `remote` if it still points at `expect` (git's lease): None when it
    is gone, else why not, in git's words ("[remote rejected] (deletion prohibited)")."""
    proc = network(
        ["push", "--porcelain", f"--force-with-lease={ref}:{expect}", remote, f":{ref}"], repo, remote
    )
    if proc.returncode == 0:
        return None
    refused = [ln for ln in proc.stdout.splitlines() if ln.startswith("!")]
    return refused[0].split("\t")[-1].strip() if refused else last_line(proc.stderr)
