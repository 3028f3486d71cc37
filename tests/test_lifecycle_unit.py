"""Lifecycle, the pure parts: Markdown escaping, changelog templates, card and changelog layout.

The golden files in tests/golden/ were read by a person; regenerate them with
`GITMODEL_REGOLDEN=1 pytest tests/test_lifecycle_unit.py` only after reading the diff.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from gitmodel.lifecycle import card, changelog, markdown, template

GOLDEN = Path(__file__).with_name("golden")

META: dict[str, Any] = {
    "name": "acme:support",
    "version": "v1.2.0",
    "parent_version": "v1.1.0",
    "created_at": "2026-11-21T14:30:00Z",
    "created_by": "Ada Tester <ada@example.com>",
    "base_model": "llama-3-8b-instruct",
    "quantization": "q4_k_m",
    "description": "Retrained with Q1 support tickets",
    "training": {"data_hash": "sha256:7b2e91ab", "lr": 2.0e-4, "epochs": 3},
    "inference": {"temperature": 0.2, "top_p": 0.9, "max_tokens": 512},
    "prompt_template": "support-v3.2",
    "metrics": {"accuracy": 0.942, "latency_p95_ms": 890},
    "known_limitations": ["English only", "Refund policy before 2024 may be cited"],
    "labels": ["support", "acme"],
    "artifact": {
        "path": "m.gguf",
        "kind": "file",
        "dvc_md5": "0" * 32,
        "size": 2000,
        "files": {"m.gguf": "sha256:" + "ab" * 32},
    },
}

CHANGELOG: dict[str, Any] = {
    "environment": "production",
    "namespace": "acme",
    "models": [
        {
            "name": "acme:support",
            "environment": "production",
            "version": "v1.2.0",
            "previous": "v1.0.0",
            "direction": "upgrade",
            "date": "2026-11-22T09:00:00Z",
            "summary": [
                {"version": "v1.2.0", "description": "Retrained with Q1 support tickets"},
                {"version": "v1.1.0", "description": "Shorter answers"},
            ],
            "changes": {
                "major": [],
                "minor": [{"version": "v1.2.0", "reason": "artifact bytes changed"}],
                "patch": [{"version": "v1.1.0", "reason": "inference changed"}],
            },
            "metrics": [
                {
                    "metric": "accuracy",
                    "previous": 0.91,
                    "current": 0.942,
                    "better": "higher",
                    "delta": 0.032,
                    "relative": 0.035164835,
                    "outcome": "better",
                },
                {
                    "metric": "latency_p95_ms",
                    "previous": 850,
                    "current": 890,
                    "better": "lower",
                    "delta": 40,
                    "relative": 0.047058824,
                    "outcome": "worse",
                },
            ],
            "known_limitations": ["English only"],
            "rollback": {
                "environment": "production",
                "target": "v1.0.0",
                "command": "gitmodel rollback production acme/support --to v1.0.0",
                "note": None,
            },
        }
    ],
}


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("GITMODEL_REGOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed: read the diff, then regenerate"


def test_card_matches_the_golden_file() -> None:
    golden("card.md", card.render(META))


def test_changelog_matches_the_golden_file() -> None:
    golden("changelog.md", changelog.markdown(CHANGELOG))


def test_the_card_is_deterministic_and_sorted() -> None:
    shuffled = dict(reversed(list(META.items())))
    assert card.render(shuffled) == card.render(META)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("# Heading", "\\# Heading"),
        ("[click](javascript:alert(1))", "\\[click\\](javascript:alert(1))"),
        ("![img](http://x/y.png)", "!\\[img\\](http://x/y.png)"),
        ("<script>alert(1)</script>", "\\<script\\>alert(1)\\</script\\>"),
        ("a | b", "a \\| b"),
        ("**bold** _em_ `code` ~~gone~~", "\\*\\*bold\\*\\* \\_em\\_ \\`code\\` \\~\\~gone\\~\\~"),
        ("line one\nline two\r\n# not a heading", "line one line two  \\# not a heading"),
        ("\x1b[2Jcleared", "\\x1b\\[2Jcleared"),
        ("\x9b31m", "\\x9b31m"),
        ("abc\u202edcba", "abc\\u202edcba"),
        ("hallucination_rate", "hallucination_rate"),
        ("&lt; entity", "\\&lt; entity"),
        (None, "-"),
        (True, "true"),
        (0.1 + 0.2, "0.3"),
    ],
)
def test_text_renders_exactly_its_characters(value: object, shown: str) -> None:
    assert markdown.text(value) == shown


def test_a_hostile_card_keeps_its_shape() -> None:
    meta = {
        **META,
        "description": "ok\n# Injected heading\n| fake | row |",
        "known_limitations": ["- nested\n\n## Also injected", "\x1b]0;title\x07"],
        "metrics": {"x | y": 1.0},
    }
    out = card.render(meta)
    headings = [line for line in out.splitlines() if line.startswith("#")]
    assert headings == [line for line in card.render(META).splitlines() if line.startswith("#")]
    assert "\x1b" not in out and "\x07" not in out
    assert "| x \\| y | 1 |" in out


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("{model.__class__}", "is not a field"),
        ("{model[0]}", "is not a field"),
        ("{nothing}", "is not a field"),
        ("{model!r}", "no format spec or conversion"),
        ("{model:>100000000}", "no format spec or conversion"),
        ("{model", "literal braces"),
        ("}", "literal braces"),
        ("x" * (template.MAX_TEMPLATE + 1), "over"),
    ],
)
def test_templates_are_data_not_code(text: str, why: str) -> None:
    with pytest.raises(template.TemplateError) as err:
        template.parse(text, "t.md")
    assert why in str(err.value) and err.value.exit_code == 2
    assert "\n" not in str(err.value)


def test_a_template_fills_bare_fields_and_keeps_literal_braces() -> None:
    pieces = template.parse("{{x}} {model} {version}{model}", "t.md")
    assert template.fill(pieces, {"model": "m", "version": "v1"}, "t.md") == "{x} m v1m"


def test_a_template_cannot_expand_without_bound() -> None:
    pieces = template.parse("{summary}" * 7000, "t.md")
    with pytest.raises(template.TemplateError, match="expands past"):
        template.fill(pieces, {"summary": "y" * 200}, "t.md")


def test_a_custom_template_lays_out_the_changelog() -> None:
    layout = "Update {model} {previous} -> {version}\n{rollback_command}\n"
    out = changelog.markdown(CHANGELOG, layout, "t.md")
    back = "`gitmodel rollback production acme/support --to v1.0.0`"
    assert out == f"Update acme:support v1.0.0 -> v1.2.0\n{back}\n"


def test_nothing_served_says_so() -> None:
    empty = changelog.markdown({**CHANGELOG, "models": []})
    assert empty == "Nothing is served in production in namespace acme.\n"
