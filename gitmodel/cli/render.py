"""Human renderings that more than one command prints: a gate verdict, a host deploy."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gitmodel.cli import output

if TYPE_CHECKING:
    from gitmodel.gate import Verdict
    from gitmodel.host.deploy import Deployed

_BYTES = {
    "hot": "already on disk, nothing downloaded",
    "hardlink": "hard links from the DVC cache",
    "copy": "copied from the DVC cache (another filesystem)",
}


def verdict(v: Verdict) -> None:
    """The gate's table, one row per metric, and its outcome (gate, promote, canary start)."""
    rows = [
        [
            c.metric,
            output.fmt_num(c.current),
            output.fmt_num(c.candidate),
            output.fmt_change(c.change),
            c.rule or "-",
            c.verdict.upper() if c.verdict in ("fail", "missing") else c.verdict,
        ]
        for c in v.checks
    ]
    if rows:
        output.echo_table(["METRIC", "CURRENT", "CANDIDATE", "CHANGE", "RULE", "VERDICT"], rows)
    baseline = v.baseline or "nothing (environment empty)"
    if v.not_comparable is not None:
        baseline += f": not comparable ({v.not_comparable})"
    state = "PASSED" if v.passed else ("OVERRIDDEN" if v.forced else "REFUSED")
    output.info(f"gate {state} against {baseline}")


def deployed(done: Deployed, root: Path) -> None:
    """What a deploy did on this host (deploy, and `rollback --root`)."""
    was = f", was {done.previous}" if done.previous and done.previous != done.version else ""
    canary_moved = done.canary is not None and done.canary.action != "unchanged"
    if done.action == "unchanged":
        todo = "" if canary_moved else "; nothing to do"
        output.info(f"{done.model} {done.version} is already served from {root} ({done.env}){todo}")
    elif done.op == "rollback-local":
        output.info(f"rolled back {done.model} on this host to {done.version} in {root}{was}")
    else:
        verb = "reloaded" if done.action == "reloaded" else "deployed"
        output.info(f"{verb} {done.model} {done.version} to {root} ({done.env}{was})")
    if done.action == "deployed":
        how = _BYTES[done.mode]
        fetched = f"downloaded {done.downloaded} object(s), " if done.downloaded else ""
        output.info(
            f"  bytes     {fetched}{how}, sha256 verified" if done.mode != "hot" else f"  bytes     {how}"
        )
    if done.action != "unchanged":
        output.info(f"  verified  {done.verified or 'no info endpoint configured (host file info_url)'}")
    if done.canary is not None and canary_moved:
        output.info(f"  canary    {done.canary.describe()}")
    if done.retired:
        output.info(f"  retired   {', '.join(str(v) for v in done.retired)} (host disk only)")
    output.info(f"  took      {done.seconds:.2f} s")
    if done.rehashed is not None:
        bad = {v: files for v, files in done.rehashed.items() if files}
        shown = "; ".join(f"{v}: {', '.join(f)} replaced" for v, f in bad.items()) or "every file matches"
        output.info(f"  rehashed  {len(done.rehashed)} hot version(s): {shown}")
    if done.note:
        output.info(f"  note      {done.note}")
    if done.journal:
        output.info(f"  journal   {done.journal}")
