"""`history NAME --drills`: the drills recorded for a model (gitmodel/host/drill.py runs them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gitmodel.lifecycle import events
from gitmodel.queries import iso
from gitmodel.refs import parse_model, parse_stage
from gitmodel.registry import Registry


def history(repo: Path, name: str, env: str | None = None) -> dict[str, Any]:
    state = Registry.load_model(repo, parse_model(name))
    if env is not None:
        parse_stage(env)
    rows = []
    for e in events.of(repo, state.name).drills:
        r = e.record
        if env is not None and r.get("env") != env:
            continue
        rows.append(
            {
                "time": iso(e.time),
                "env": r.get("env"),
                "version": r.get("version"),
                "to": r.get("to"),
                "back_seconds": r.get("back_seconds"),
                "forward_seconds": r.get("forward_seconds"),
                "seconds": r.get("seconds"),
                "limit": r.get("limit"),
                "passed": r.get("passed") is True,
                "host": r.get("host"),
                "actor": e.actor,
                "record": e.ref,
            }
        )
    return {"name": state.name, "drills": rows}
