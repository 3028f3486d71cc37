"""Lifecycle end to end on real registries: cards, changelogs and lineage through the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from plugin.fsguard import Guard
from plugin.hooks import refused
from plugin.registry import META, Registry, git, random_bytes
from plugin.signing import keygen, trust_file, use_key
from plugin.templates import GOOD, new_version

from gitmodel.lifecycle import card


def as_json(reg: Registry, *args: str) -> Any:
    return json.loads(reg.ok(*args, "--json").stdout)


def test_register_commits_the_card_with_the_version(released: Registry) -> None:
    committed = git(released.root, "show", "support@v1.1.0:models/support/MODEL_CARD.md").stdout
    shown = as_json(released, "card", "support@v1.1.0")
    assert shown["committed"] and shown["matches_metadata"] and shown["markdown"] == committed
    assert committed.startswith("# Model card: support v1.1.0\n")
    assert "| Parent version | v1.0.0 |" in committed and "| accuracy | 0.942 |" in committed
    assert released.ok("card", "support@v1.1.0").stdout == committed


def test_a_registered_card_is_immutable(released: Registry) -> None:
    path = released.root / "models/support/MODEL_CARD.md"
    path.write_text(path.read_text().replace("0.942", "0.999"))
    git(released.root, "add", "models/support/MODEL_CARD.md")
    before = git(released.root, "rev-parse", "HEAD").stdout
    proc = git(released.root, "commit", "-q", "-m", "better numbers", check=False)
    err = refused(proc, "models/support/MODEL_CARD.md", "immutable-version-files")
    assert "support@v1.1.0" in err
    assert git(released.root, "rev-parse", "HEAD").stdout == before


def test_a_version_without_a_committed_card_gets_one_generated(released: Registry) -> None:
    # A registry from before cards: the version's commit holds no MODEL_CARD.md.
    git(released.root, "rm", "-q", "models/support/MODEL_CARD.md")
    git(released.root, "commit", "-q", "--no-verify", "-m", "no card")
    released.write("m2.gguf", random_bytes(2000, 5))
    released.ok("register", "support", "m2.gguf", "--meta", str(released.meta(GOOD)))
    git(released.root, "rm", "-q", "models/support/MODEL_CARD.md")
    git(released.root, "commit", "-q", "--no-verify", "-m", "drop the card")
    git(released.root, "tag", "-a", "-m", "by hand", "support@v1.3.0")  # a hand-made version
    shown = released.ok("card", "support@v1.3.0")
    assert "no committed card: generated from its metadata" in shown.stderr
    assert shown.stdout.startswith("# Model card: support v1.2.0")  # its model.yaml says so


def test_changelog_of_what_production_serves_and_its_rollback_plan(released: Registry) -> None:
    released.ok("promote", "support", "v1.1.0", "staging")
    released.ok("promote", "support", "v1.1.0", "production")
    out = released.ok("changelog", "support").stdout
    assert out.startswith("# support v1.1.0 (production)\n")
    assert "support moves from v1.0.0 to v1.1.0 (production)" in out
    assert "| minor | v1.1.0 | artifact bytes changed |" in out
    assert "| accuracy | 0.942 | 0.942 | +0 (+0.0%) | same (higher is better) |" in out
    data = as_json(released, "changelog", "support")["models"][0]
    assert data["rollback"]["command"] == "gitmodel rollback production support --to v1.0.0"
    assert (data["previous"], data["version"], data["direction"]) == ("v1.0.0", "v1.1.0", "upgrade")
    # The plan's command is exact: run it, and the changelog now describes the way back.
    released.ok(*data["rollback"]["command"].split()[1:])
    back = as_json(released, "changelog", "support")["models"][0]
    assert (back["previous"], back["version"], back["direction"]) == ("v1.1.0", "v1.0.0", "rollback")
    assert back["rollback"]["command"] is None  # nothing served before v1.0.0
    assert [s["version"] for s in back["summary"]] == ["v1.1.0"]  # what the way back takes away
    assert [m["outcome"] for m in back["metrics"]] == ["same", "same", "same"]  # both ends were read


def test_changelog_of_a_range_before_it_is_promoted(released: Registry) -> None:
    limits = 'known_limitations: ["English only", "# not a heading <b>"]\n'
    new_version(released, 3, GOOD + limits + "description: Shorter answers\n")
    data = as_json(released, "changelog", "support", "v1.0.0..v1.2.0")["models"][0]
    assert [s["version"] for s in data["summary"]] == ["v1.2.0", "v1.1.0"]
    assert data["known_limitations"] == ["English only", "# not a heading <b>"]
    assert data["rollback"]["command"] == "gitmodel rollback production support --to v1.0.0"
    out = released.ok("changelog", "support", "v1.0.0..v1.2.0").stdout
    assert "- \\# not a heading \\<b\\>" in out and "- **v1.2.0**: Shorter answers" in out


def test_changelog_for_a_namespace_and_a_registry_template(released: Registry) -> None:
    released.write("w.gguf", random_bytes(2000, 8))
    released.ok("register", "acme/bot", "w.gguf", "--meta", str(released.meta()))
    released.ok("promote", "acme/bot", "v1.0.0", "staging")
    data = as_json(released, "changelog", "--namespace", "acme", "--env", "staging")
    assert [m["name"] for m in data["models"]] == ["acme:bot"]
    assert data["models"][0]["direction"] == "first"
    assert [m["name"] for m in as_json(released, "changelog", "--env", "staging")["models"]] == [
        "acme:bot",
        "support",
    ]
    released.write(".gitmodel/changelog.md", "{model}: {previous} -> {version}; back: {rollback_command}\n")
    out = released.ok("changelog", "--env", "production").stdout
    assert out == "support: - -> v1.0.0; back: -\n"


@pytest.mark.parametrize(
    ("args", "words", "code"),
    [
        (["changelog", "support", "--env", "nowhere"], "nowhere", 2),
        (["changelog", "support", "--env", "staging", "--namespace", "acme"], "not both", 2),
        (["changelog", "support", "v1.0.0..v9.0.0"], "v9.0.0", 2),
        (["changelog", "support", "v1.0.0-v1.1.0"], "vA..vB", 2),
        (["changelog", "--template", "bad.md"], "is not a field", 2),
        (["card", "support@v7.0.0"], "v7.0.0", 2),
        (["lineage", "support@v1.0.0", "--data-hash", "sha256:7b2e91ab"], "one of them", 2),
        (["lineage", "--data-hash", "7b2"], "too short", 2),
        (["lineage", "nosuch@v1.0.0"], "nosuch", 2),
    ],
)
def test_refusals_are_one_line_and_write_nothing(
    released: Registry, fs_guard: Callable[..., Guard], args: list[str], words: str, code: int
) -> None:
    released.write("bad.md", "{model.__init__.__globals__}\n")
    guard = fs_guard(released.root)
    err = released.fails(code, *args).stderr
    assert words in err
    guard.assert_only()


def test_lineage_of_a_version(released: Registry) -> None:
    released.ok("promote", "support", "v1.1.0", "staging")
    data = as_json(released, "lineage", "support@v1.1.0")
    chain = data["chain"]
    assert [s["version"] for s in chain] == ["v1.1.0", "v1.0.0"]
    assert (chain[0]["level"], chain[0]["change"]) == ("minor", "artifact bytes changed")
    assert chain[0]["serving"] == ["staging"] and chain[1]["serving"] == ["production"]
    spans = {s["environment"]: s for s in chain[1]["served"]}
    assert spans["production"]["until"] is None and spans["staging"]["until"] is not None
    assert chain[0]["served"][0]["from"] == spans["staging"]["until"]
    table = released.ok("lineage", "support@v1.1.0").stdout.splitlines()
    assert table[0].split()[:3] == ["VERSION", "BUMP", "CHANGE"] and table[1].startswith("v1.1.0 ")


def test_lineage_by_data_hash_and_base_model_across_namespaces(released: Registry) -> None:
    released.write("w.gguf", random_bytes(2000, 9))
    released.ok("register", "acme/bot", "w.gguf", "--meta", str(released.meta()))
    other = META.replace("7b2e91ab", "ffff0000").replace("llama-3-8b-instruct", "mistral-7b")
    released.write("o.gguf", random_bytes(2000, 10))
    released.ok("register", "other", "o.gguf", "--meta", str(released.meta(other, "other.yaml")))
    found = as_json(released, "lineage", "--data-hash", "sha256:7b2e91ab")
    rows = [(v["name"], v["version"], v["serving"]) for v in found["versions"]]
    assert rows == [
        ("acme:bot", "v1.0.0", []),
        ("support", "v1.0.0", ["production", "staging"]),
        ("support", "v1.1.0", []),
    ]
    assert (found["scanned"], found["read"], found["parsed"]) == (4, 4, 0)  # gitmodel's plain form
    by_base = as_json(released, "lineage", "--base-model", "mistral-7b")
    assert [(v["name"], v["version"]) for v in by_base["versions"]] == [("other", "v1.0.0")]
    assert by_base["read"] == 0  # the lineage index kept what the first search read
    out = released.ok("lineage", "--data-hash", "7B2E91AB").stdout
    assert out.splitlines()[-1] == "3 of 4 versions"


def test_card_module_names_the_policy_file() -> None:
    assert card.FILENAME == "MODEL_CARD.md"


def test_a_card_escapes_what_a_pusher_wrote(registry: Registry) -> None:
    hostile = META.replace(
        "description: Retrained with Q1 support tickets",
        'description: "ok\\e[2J\\n# Injected\\u202e <img src=x onerror=alert(1)>"',
    )
    registry.write("m.gguf", random_bytes(2000, 11))
    registry.ok("register", "support", "m.gguf", "--meta", str(registry.meta(hostile)))
    committed = (registry.root / "models/support/MODEL_CARD.md").read_text()
    assert "\x1b" not in committed and "\u202e" not in committed
    assert "**Description:** ok\\x1b\\[2J \\# Injected\\u202e \\<img src=x onerror=alert(1)\\>" in committed
    out = registry.ok("card", "support@v1.0.0").stdout
    assert "\x1b" not in out and out == committed


def test_lineage_stops_at_a_parent_that_is_not_earlier(released: Registry) -> None:
    # A hand-made version (pushed past the hooks) that names a later version as its parent.
    path = released.root / "models/support/model.yaml"
    text = path.read_text().replace("version: v1.1.0", "version: v1.1.1", 1)
    path.write_text(text.replace("parent_version: v1.0.0", "parent_version: v9.0.0"))
    git(released.root, "commit", "-q", "--no-verify", "-am", "by hand")
    git(released.root, "tag", "-a", "-m", "by hand", "support@v1.1.1")
    data = as_json(released, "lineage", "support@v1.1.1")
    assert [s["version"] for s in data["chain"]] == ["v1.1.1"]
    assert "v9.0.0" in data["note"] and "chain stops" in data["note"]
    assert "note: v1.1.1 names parent v9.0.0" in released.ok("lineage", "support@v1.1.1").stdout


def test_audit_exports_every_move_with_its_signature(
    released: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = keygen(tmp_path / "keys", "alice")
    use_key(released.root, alice)
    released.ok("promote", "support", "v1.1.0", "staging")
    use_key(released.root, None)
    formula = '=HYPERLINK("http://evil.example","click")\x1b[2J'
    released.ok("rollback", "staging", "support", "--reason", formula)
    trust = trust_file(tmp_path / "trust.yaml", {"alice": alice}, {"staging": ["alice"]})
    monkeypatch.setenv("GITMODEL_TRUST_FILE", str(trust))
    data = as_json(released, "audit")
    moves = [
        (m["action"], m["version"], m["environment"], m["signature"], m["signer"]) for m in data["moves"]
    ]
    # The template's four events (their order within a second is the tag times'), then ours.
    assert sorted(moves[:4], key=str) == sorted(
        [
            ("register", "v1.0.0", None, "unsigned", None),
            ("register", "v1.1.0", None, "unsigned", None),
            ("promote", "v1.0.0", "staging", "unsigned", None),
            ("promote", "v1.0.0", "production", "unsigned", None),
        ],
        key=str,
    )
    assert moves[4:] == [
        ("promote", "v1.1.0", "staging", "good", "alice"),
        ("rollback", "v1.0.0", "staging", "unsigned", None),
    ]
    assert data["moves"][4]["gate"] == "passed" and data["moves"][5]["from"] == "v1.1.0"
    staging = as_json(released, "audit", "--env", "staging", "--since", "2000-01-01")
    tags = [m["tag"] for m in staging["moves"]]
    assert tags == ["support#staging#1", "support#staging#3", "support#staging#4"]
    assert as_json(released, "audit", "--since", "2999-01-01T00:00:00Z")["moves"] == []
    text = released.ok("audit", "--csv").stdout
    lines = text.splitlines()
    head = "time,model,action,version,environment,from,actor,reason,gate,signature,signer,key,tag,detail"
    assert lines[0].startswith(head + ",")  # columns added since are appended
    assert len(lines) == 7 and "\x1b" not in text
    last = lines[-1]
    assert "'=HYPERLINK" in last and "\\x1b[2J" in last and last.endswith(",support#staging#4,,registry,,,,")
    assert "alice" in released.ok("audit").stdout
    released.fails(2, "audit", "--json", "--csv")
    released.fails(2, "audit", "--since", "last tuesday")
