"""Talking to origin: atomic pushes with leases, tag fetches that survive lock races, ls-remote."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from gitmodel.errors import ConflictError, GitFailed, RemoteUnreachable
from gitmodel.git.process import ZERO, Done, last_line, network, run

# Two fetches into one clone race on ref locks; the loser retries instead of reporting
# an outage (origin is fine).
_LOCK_RETRIES = 5


_LOCK_SIGNS = ("cannot lock ref", ".lock': File exists", "unable to update local ref")

# gitmodel's own refs (sequence leases, approvals, lifecycle records).
MINE = "refs/gitmodel/"
# What origin's refs/gitmodel/* were at this clone's last fetch, kept by git (`--prune`
# applies here): the memory that tells a ref origin deleted from one origin never had.
# Chosen over fetching without --prune and a file of names seen: git keeps this list
# exact and atomic by itself.  Not under refs/remotes/: a branch of origin named
# `gitmodel` would clash with refs/remotes/origin/gitmodel/.
SEEN = "refs/gitmodel-seen/"
_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def has_remote(repo: Path, remote: str = "origin") -> bool:
    return run(["remote", "get-url", remote], repo, check=False).returncode == 0


class PushUncertain(RemoteUnreachable):
    """A push that ran out of time: origin may have taken it.  The caller keeps its local
    tags; the next push of the model asks origin and finishes or clears them (unpushed.resume)."""


def push(
    repo: Path,
    refspecs: Sequence[str],
    remote: str = "origin",
    leases: Mapping[str, str] | None = None,
) -> None:
    """Push all refspecs atomically; a rejected ref is a conflict, a dead remote exit 4.

    `leases` maps a remote ref to the value it must still have ("" = must not exist):
    git's own compare-and-swap, checked by the remote inside the atomic push.
    """
    lease_args = [f"--force-with-lease={ref}:{old}" for ref, old in (leases or {}).items()]
    try:
        proc = network(["push", "--atomic", "--porcelain", *lease_args, remote, *refspecs], repo, remote)
    except RemoteUnreachable as exc:  # network() raises only when the deadline passed
        raise PushUncertain(
            str(exc).replace("nothing was changed here", "origin may or may not have taken the push")
        ) from None
    if proc.returncode == 0:
        _saw_pushed(repo, refspecs, remote)
        return
    # --porcelain prints one status line per ref; "!" marks a refused one.  No status
    # lines at all means we never got to talk to the remote.
    refused = [ln for ln in proc.stdout.splitlines() if ln.startswith("!")]
    text = proc.stdout + proc.stderr
    if "hook declined" in text or "pre-receive hook" in text:
        raise _hook_refusal(text, refused)
    reset = [
        ln.split("\t")[1].split(":")[-1] for ln in refused if "[remote rejected] (non-fast-forward)" in ln
    ]
    if reset:  # origin's configuration, not a race: retrying cannot help
        from gitmodel.errors import PolicyError

        raise PolicyError(
            f"origin refuses to move {reset[0]} backwards (receive.denyNonFastForwards, or a branch "
            "protected against force-pushes); a rollback resets an environment branch: allow "
            "force-pushes there for whoever moves environments"
        )
    if refused:
        detail = next((ln for ln in refused if "atomic push failed" not in ln), refused[0])
        raise ConflictError(
            f"origin refused the push ({detail[1:].strip()}); someone else changed it first: "
            "run `git pull --rebase` (or `git fetch --tags`) and retry"
        )
    raise RemoteUnreachable(
        f"could not push to {remote}: {last_line(proc.stderr)}; check the remote and your network"
    )


def fetch_tags(repo: Path, remote: str = "origin") -> None:
    """Fetch every tag, and bring gitmodel's own refs (refs/gitmodel/*) to origin's values.

    A ref origin has is set to origin's value; a ref origin had at an earlier fetch and no
    longer has is deleted (a stale sequence ref would make every lease fail); a ref origin
    never had stays (an approval made without --push: a plain `--prune` deleted it).
    Tags fetched by `--tags` are never pruned, so a move made here and not yet pushed survives.
    Not quiet: with -q git says nothing about a tag it refused to clobber.
    """
    seen = f"{SEEN}{remote}/"
    [before] = _refs(repo, seen)
    _fetch(repo, ["fetch", "--prune", "--tags", remote, f"+{MINE}*:{seen}*"], remote)
    _follow(repo, seen, before, remote)


def fetch_model_tags(repo: Path, prefix: str, remote: str = "origin") -> None:
    """Fetch only the tags, and approvals, whose names start with `prefix` (a model's tag
    form): enough to judge one model's move, in an answer sized by that model's tags, not
    the registry's (a host told of a move by a pointer document, gitmodel/host/)."""
    tags = f"refs/tags/{prefix}*"
    approvals = f"refs/gitmodel/approvals/{prefix}*"
    # --no-tags: following tags would make git list every tag of the registry again.
    _fetch(repo, ["fetch", "--no-tags", remote, f"{tags}:{tags}", f"+{approvals}:{approvals}"], remote)


def _retrying(attempt_once: Callable[[], Done | None], remote: str) -> str | None:
    """Run `attempt_once` until it succeeds (returns None or exit 0); retried with backoff
    while another fetch into this clone holds a ref lock (it is nearly done).  None: done;
    else the last failure's stderr (a lock still held is a ConflictError)."""
    attempt = 0
    while (proc := attempt_once()) is not None and proc.returncode != 0:
        if not any(sign in proc.stderr for sign in _LOCK_SIGNS):
            return proc.stderr
        if attempt == _LOCK_RETRIES:
            raise _locked(proc.stderr, remote)
        time.sleep(0.05 * 2**attempt)
        attempt += 1
    return None


def _fetch(repo: Path, args: list[str], remote: str) -> None:
    stderr = _retrying(lambda: network(args, repo, remote), remote)
    if stderr is None:
        return
    clobbered = [ln for ln in stderr.splitlines() if "would clobber existing tag" in ln]
    if clobbered:
        tag = clobbered[0].split("->")[-1].split("(")[0].strip()
        raise ConflictError(
            f"origin's tag {tag} differs from this clone's (a move made here that never reached "
            f"origin lost to another): drop yours with `git tag -d {tag}` and redo the move"
        )
    raise RemoteUnreachable(f"could not fetch from {remote}: {last_line(stderr)}")


def _follow(repo: Path, seen: str, before: Mapping[str, str], remote: str) -> None:
    """Bring refs/gitmodel/* to what `seen` holds now, in one transaction; `before`: what it
    held before this fetch.  Each update names the value it replaces, so a concurrent fetch
    that moved a ref first makes this one read again instead of moving it back."""

    def once() -> Done | None:
        after, local = _refs(repo, seen, MINE)  # one git process for both
        lines = [
            f"update {MINE}{name} {oid} {local.get(name, ZERO)}\n"
            for name, oid in sorted(after.items())
            if local.get(name) != oid
        ]
        lines += [
            f"delete {MINE}{name} {local[name]}\n"
            for name in sorted(before)
            if name not in after and name in local
        ]
        return run(["update-ref", "--stdin"], repo, stdin="".join(lines), check=False) if lines else None

    stderr = _retrying(once, remote)
    if stderr is not None:
        raise GitFailed(["update-ref", "--stdin"], stderr)


def _saw_pushed(repo: Path, refspecs: Sequence[str], remote: str) -> None:
    """Note the refs/gitmodel/* a push just gave origin as seen there, so that origin
    deleting one later deletes it here too (fetch_tags), as if a fetch had seen it."""
    pairs = [spec.lstrip("+").partition(":")[::2] for spec in refspecs]
    mine = [(src, dst or src) for src, dst in pairs if (dst or src).startswith(MINE) and src]
    if not mine:
        return
    srcs = [src for src, _ in mine]
    # Bookkeeping only: a failure here costs at most a stale ref kept here, never a move.
    # A move pushes its sequence ref from a raw object id, which needs no git to resolve.
    if all(_OBJECT_ID.fullmatch(src) for src in srcs):
        oids = srcs
    else:
        oids = run(["rev-parse", *srcs], repo, check=False).stdout.split()
    if len(oids) != len(mine):
        return
    seen = f"{SEEN}{remote}/"
    lines = [
        f"update {seen}{dst.removeprefix(MINE)} {oid}\n" for (_, dst), oid in zip(mine, oids, strict=True)
    ]
    run(["update-ref", "--stdin"], repo, stdin="".join(lines), check=False)


def _refs(repo: Path, *prefixes: str) -> tuple[dict[str, str], ...]:
    """The refs under each of `prefixes` (name without it -> object id), listed by one
    `for-each-ref`; no prefix may lie inside another (refs/gitmodel-seen/ and refs/gitmodel/
    do not: git matches whole path components)."""
    listed = run(["for-each-ref", "--format=%(objectname) %(refname)", *prefixes], repo).stdout
    found: tuple[dict[str, str], ...] = tuple({} for _ in prefixes)
    for line in listed.splitlines():
        oid, _, name = line.partition(" ")
        for prefix, refs in zip(prefixes, found, strict=True):
            if name.startswith(prefix):
                refs[name.removeprefix(prefix)] = oid
                break
    return found


def _locked(stderr: str, remote: str) -> ConflictError:
    held = re.search(r"Unable to create '([^']+\.lock)': File exists", stderr)
    what = f"{held.group(1)} is held" if held else "a ref kept changing under it"
    return ConflictError(
        f"could not update this clone's refs from {remote}: {what} (another git is running in "
        "this clone, or one was killed); retry, and remove the .lock file if no git runs here"
    )


def _hook_refusal(text: str, refused: Sequence[str]) -> Exception:
    """Origin's hook said no: its own lines (`remote: ...`) are the reason; a hook that
    printed nothing is named by git's status line for the ref it declined."""
    from gitmodel.errors import PolicyError

    msgs = [ln.removeprefix("remote:").strip() for ln in text.splitlines() if ln.startswith("remote:")]
    detail = "; ".join(m for m in msgs if m)
    if not detail:
        declined = next((ln for ln in refused if "hook declined" in ln), None)
        shown = declined[1:].strip().replace("\t", " ") if declined else last_line(text)
        detail = f"{shown}; the hook gave no reason: ask whoever runs origin"
    return PolicyError(f"origin's hooks refused the push: {detail}")


def ls_remote_tags(repo: Path, remote: str = "origin") -> set[str]:
    """Names of the tags `remote` has: one round trip, no objects transferred."""
    proc = network(["ls-remote", "--tags", "--refs", remote], repo, remote)
    if proc.returncode != 0:
        raise RemoteUnreachable(f"could not list the tags of {remote}: {last_line(proc.stderr)}")
    return {
        line.split("\t", 1)[1].removeprefix("refs/tags/") for line in proc.stdout.splitlines() if "\t" in line
    }


def remote_refs(repo: Path, refs: Sequence[str], remote: str = "origin") -> set[str]:
    """Which of `refs` (full names) `remote` has: one round trip, no objects transferred."""
    proc = network(["ls-remote", remote, *refs], repo, remote)
    if proc.returncode != 0:
        raise RemoteUnreachable(f"could not read the refs of {remote}: {last_line(proc.stderr)}")
    return {line.split("\t", 1)[1] for line in proc.stdout.splitlines() if "\t" in line}


def remote_ref_values(repo: Path, patterns: Sequence[str], remote: str = "origin") -> dict[str, str]:
    """Full ref name -> object id for the refs of `remote` matching `patterns` (one round trip)."""
    proc = network(["ls-remote", "--refs", remote, *patterns], repo, remote)
    if proc.returncode != 0:
        raise RemoteUnreachable(f"could not read the refs of {remote}: {last_line(proc.stderr)}")
    pairs = (line.split("\t", 1) for line in proc.stdout.splitlines() if "\t" in line)
    return {name: oid for oid, name in pairs}
