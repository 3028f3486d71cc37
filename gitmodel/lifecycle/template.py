"""Changelog templates: Markdown with `{placeholder}` fields, and nothing else (pure).

A registry may carry its own layout (.gitmodel/changelog.md). That file is data from the
repository, written by whoever can push, so it must not be able to run code, read
attributes or blow up memory. A template engine such as Jinja2 is a programming language
(loops, filters, attribute access; its sandbox is a blocklist to keep current), so this
is deliberately smaller: the text is split by `string.Formatter().parse` (`{{` and `}}`
are literal braces), every field must be one of FIELDS by its bare name (no `.attr`, no
`[index]`, no `!conversion`, no `:format` spec), and the pieces are joined here: the
template never reaches `str.format`. Every value filled in is Markdown that
gitmodel.lifecycle.markdown already escaped.
"""

from __future__ import annotations

import string
from collections.abc import Mapping

from gitmodel.errors import UsageError

FIELDS = (
    "title",
    "model",
    "environment",
    "version",
    "previous",
    "date",
    "intro",
    "summary",
    "changes",
    "metrics",
    "limitations",
    "rollback",
    "rollback_target",
    "rollback_command",
)
MAX_TEMPLATE = 64 * 1024
MAX_OUTPUT = 1024 * 1024

DEFAULT = """\
# {title}

{intro}

## Summary

{summary}

## What changed

{changes}

## Metrics

{metrics}

## Known limitations

{limitations}

## Rollback plan

{rollback}
"""

Piece = tuple[str, str | None]  # literal text, then the field that follows it (if any)


class TemplateError(UsageError):
    def __init__(self, source: str, why: str) -> None:
        super().__init__(f"changelog template {source}: {why}; fix the file or use --template FILE")


def parse(text: str, source: str) -> list[Piece]:
    """Split and check a template; refuse anything but known bare fields."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_TEMPLATE:
        raise TemplateError(source, f"it is over {MAX_TEMPLATE} bytes")
    pieces: list[Piece] = []
    try:
        for literal, field, spec, conversion in string.Formatter().parse(text):
            if field is None:
                pieces.append((literal, None))
                continue
            if field not in FIELDS:
                shown = field if len(field) <= 40 else field[:40] + "..."
                raise TemplateError(
                    source, f"{{{shown}}} is not a field; use {', '.join('{' + f + '}' for f in FIELDS)}"
                )
            if spec or conversion:
                raise TemplateError(source, f"{{{field}}} takes no format spec or conversion")
            pieces.append((literal, field))
    except ValueError as exc:  # an unmatched single brace
        raise TemplateError(source, f"{exc} (write {{{{ and }}}} for literal braces)") from None
    return pieces


def fill(pieces: list[Piece], values: Mapping[str, str], source: str) -> str:
    out: list[str] = []
    size = 0
    for literal, field in pieces:
        for part in (literal, values.get(field, "") if field else ""):
            size += len(part)
            if size > MAX_OUTPUT:
                raise TemplateError(source, f"it expands past {MAX_OUTPUT} characters")
            out.append(part)
    return "".join(out)
