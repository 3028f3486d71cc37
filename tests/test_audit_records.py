"""`audit` lists the lifecycle records (archive, restore, scheduled deprecation, drill) among
the moves, with their signatures, and `--namespace` keeps one client's rows.

The scheduled deprecation is made through the CLI; archive, restore and drill records are
filed by the writer gc, restore and drill use (lifecycle/events.py), with the fields those
commands give them (their own tests run them for real: test_retention.py, test_drill.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from plugin.registry import Registry, git, random_bytes
from plugin.signing import keygen, trust_file, use_key

from gitmodel.lifecycle import events
from gitmodel.records import Act


def as_json(reg: Registry, *args: str) -> Any:
    return json.loads(reg.ok(*args, "--json").stdout)


def commit_of(reg: Registry, tag: str) -> str:
    return git(reg.root, "rev-parse", f"{tag}^{{commit}}").stdout.strip()


@pytest.fixture
def recorded(released: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Registry:
    """`released`, no origin; acme/bot v1.0.0; support v1.0.0 scheduled, archived (signed),
    restored, and drilled in staging."""
    git(released.root, "remote", "remove", "origin")
    released.write("w.gguf", random_bytes(2000, 8))
    released.ok("register", "acme/bot", "w.gguf", "--meta", str(released.meta()))
    released.ok("deprecate", "support", "v1.0.0", "--on", "2999-12-31", "--reason", "EOL for Q1 data")
    commit = commit_of(released, "support@v1.0.0")
    alice = keygen(tmp_path / "keys", "alice")
    use_key(released.root, alice)
    archive = {"action": Act.ARCHIVE, "version": "v1.0.0", "cold_remote": "cold", "hot_remote": None}
    archive |= {"objects": 2, "reason": "beyond max_versions 1 of development"}
    events.write(released.root, "support", commit, "gitmodel: archive support v1.0.0 to cold", archive)
    use_key(released.root, None)
    restore = {"action": Act.RESTORE, "version": "v1.0.0", "cold_remote": "cold", "hot_remote": None}
    events.write(released.root, "support", commit, "gitmodel: restore support v1.0.0", restore)
    drill = {"action": Act.DRILL, "env": "staging", "version": "v1.0.0", "to": "v0.9.0", "passed": True}
    drill |= {"back_seconds": 1.2, "forward_seconds": 0.9, "seconds": 1.2, "limit": 60, "host": "h1"}
    events.write(released.root, "support", commit, "gitmodel: drill support staging passed", drill)
    monkeypatch.setenv(
        "GITMODEL_TRUST_FILE",
        str(trust_file(tmp_path / "trust.yaml", {"alice": alice}, {"staging": ["alice"]})),
    )
    return released


def test_audit_lists_lifecycle_records_with_their_detail_and_signature(recorded: Registry) -> None:
    data = as_json(recorded, "audit")
    assert data["columns"][12:14] == ["tag", "detail"]
    life = [m for m in data["moves"] if m["tag"].startswith("refs/gitmodel/lifecycle/")]
    assert [(m["action"], m["version"], m["environment"], m["signature"], m["signer"]) for m in life] == [
        ("deprecate-on", "v1.0.0", None, "unsigned", None),
        ("archive", "v1.0.0", None, "good", "alice"),
        ("restore", "v1.0.0", None, "unsigned", None),
        ("drill", "v1.0.0", "staging", "unsigned", None),
    ]
    assert [m["tag"] for m in life] == [f"refs/gitmodel/lifecycle/support/{n}" for n in (1, 2, 3, 4)]
    assert [m["detail"] for m in life] == [
        "deprecated from 2999-12-31",
        "2 object(s) to cold from the default remote",
        "from cold to the default remote",
        "passed: back to v0.9.0 in 1.2 s, forward in 0.9 s (limit 60 s) on h1",
    ]
    assert life[0]["reason"] == "EOL for Q1 data" and life[0]["actor"] == "Ada Tester <ada@example.com>"
    assert all(m["detail"] is None for m in data["moves"] if not m["tag"].startswith("refs/"))
    table = recorded.ok("audit", "--wide").stdout
    assert table.splitlines()[0].split()[-2:] == ["BY", "DETAIL"]
    assert "deprecated from 2999-12-31" in table and "alice" in table
    rows = recorded.ok("audit", "--csv").stdout.splitlines()
    assert ",tag,detail," in rows[0]
    drill = "passed: back to v0.9.0 in 1.2 s, forward in 0.9 s (limit 60 s) on h1"
    # moves are dated a second past the model's newest tag, so the drill need not sort last
    (row,) = [r for r in rows if ",refs/gitmodel/lifecycle/support/4," in r]
    assert row.endswith(f',refs/gitmodel/lifecycle/support/4,"{drill}",registry,,,ok,1.2')  # commas: quoted


def test_audit_filters_records_by_environment_and_namespace(recorded: Registry) -> None:
    staging = as_json(recorded, "audit", "--env", "staging")["moves"]
    assert [m["action"] for m in staging if m["tag"].startswith("refs/")] == ["drill"]
    acme = as_json(recorded, "audit", "--namespace", "acme")
    assert acme["namespace"] == "acme"
    assert [(m["model"], m["action"]) for m in acme["moves"]] == [("acme:bot", "register")]
    assert as_json(recorded, "audit", "--namespace", "nobody")["moves"] == []
    err = recorded.fails(2, "audit", "--namespace", "acme/bot").stderr
    assert "--namespace takes a namespace such as acme" in err


def test_audit_without_records_keeps_its_table(released: Registry) -> None:
    header = released.ok("audit").stdout.splitlines()[0].split()
    assert header[-2:] == ["SIGNED", "BY"]


# --- status on a multi-client host ---------------------------------------------------------------


def test_status_groups_a_multi_client_host_by_namespace(released: Registry, tmp_path: Path) -> None:
    git(released.root, "remote", "remove", "origin")
    for seed, name in ((8, "acme/bot"), (9, "acme/faq"), (10, "globex/chat")):
        released.write(f"w{seed}.gguf", random_bytes(2000, seed))
        released.ok("register", name, f"w{seed}.gguf", "--meta", str(released.meta()))
        released.ok("promote", name, "v1.0.0", "staging")
        released.ok("promote", name, "v1.0.0", "production")
    root = tmp_path / "srv"
    root.mkdir()
    args = ("status", "production", "--root", str(root), "--no-fetch")
    data = as_json(released, *args)
    assert [m["model"] for m in data["models"]] == ["acme:bot", "acme:faq", "globex:chat", "support"]
    assert data["namespaces"] == [
        {"namespace": "acme", "models": ["acme:bot", "acme:faq"], "in_sync": False},
        {"namespace": "globex", "models": ["globex:chat"], "in_sync": False},
        {"namespace": None, "models": ["support"], "in_sync": False},
    ]
    lines = released.ok(*args).stdout.splitlines()
    heads = [line for line in lines if "model" in line and "(" in line and not line.startswith("MODEL")]
    assert heads == ["acme (2 models, DRIFT)", "globex (1 model, DRIFT)", "no namespace (1 model, DRIFT)"]
    assert lines[0] == "acme (2 models, DRIFT)" and lines[1].startswith("MODEL")
    acme = as_json(released, *args, "--namespace", "acme")
    assert [m["model"] for m in acme["models"]] == ["acme:bot", "acme:faq"]
    one = released.ok(*args, "--namespace", "globex").stdout.splitlines()
    assert one[0].startswith("MODEL") and one[1].startswith("globex:chat")  # one client: one plain table
    assert "not both" in released.fails(2, *args, "support", "--namespace", "acme").stderr
