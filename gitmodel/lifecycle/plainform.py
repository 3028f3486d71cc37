"""A model.yaml's base_model and training.data_hash, read without a YAML parse.

A ruamel parse costs ~2 ms; a registry search needs these two values from every
version's model.yaml (lineageindex.py keeps them once read). gitmodel writes model.yaml
in a plain block form: one `key: value` or `- item` per line, keys plain words, values
plain or single-quoted on that line. For a text wholly in that form, `read` gives what
`yaml.loads` followed by `.get` would; for anything else (double quotes, flow or block
scalars, anchors, tags, a value continued on the next line, an odd indent, a duplicate
key, a key or value YAML might read as something other than a word) it answers None
and the caller parses. tests/test_lineage_index.py holds it to ruamel's answers.
"""

from __future__ import annotations

import re

MAX_CHARS = 32_768  # far below yamlio's byte and value limits: nothing here is refused there
MAX_DEPTH = 32  # likewise below yamlio.MAX_DEPTH

# Outside these a text is parsed: tabs, \r and the other line breaks YAML 1.1 knew, a
# BOM, and what YAML does not print (ruamel refuses it).
_OUTSIDE = re.compile(
    r"[^\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)
# One line of the form: indent, then `- item`, or `key:` and maybe a value. A key starts
# with a letter, so YAML reads it as a string unless it is one of _NOT_STRINGS.
# Every line, split in one C pass: its indent, then "- " and an item, or a key and maybe
# a value, or a comment, or anything else (which leaves the plain form), or nothing.
_LINES = re.compile(r"^( *)(?:(- +)(.*)|([A-Za-z][A-Za-z0-9_.-]*):(?: +(.*))?|#.*|(.+)|)$", re.MULTILINE)
_QUOTED = re.compile(r"'(?:[^']|'')*'")
_NOT_STRINGS = {"true", "false", "null", "yes", "no", "on", "off", "y", "n"}
_INDICATORS = set("-?:,[]{}#&*!|>'\"%@`")
_TIMESTAMP = re.compile(r"[0-9]{4}-")  # ruamel builds a date from it, and fails on a bad one
_KEY_MAX = 128  # YAML reads a plain key of at most 1,024 characters
_OTHER_MAX = 64  # a long number can fail to build (Python's int digit limit): parse those

ABSENT = object()
_EMPTY = object()  # `key:` with no value on its line: null, or a block below it
_OTHER = object()  # a plain scalar that is not surely a word: a number, null, a bool...
_BLOCK = object()  # a nested mapping or sequence


def read(text: str) -> tuple[object, str | None] | None:
    """(base_model, training.data_hash lowered) as a parse would give them, or None when
    `text` is not in the plain form. base_model is a string, or None when absent or null."""
    if len(text) > MAX_CHARS or _OUTSIDE.search(text):
        return None
    found = _walk(text)
    if found is None:
        return None
    base = found.get(("base_model",), ABSENT)
    data = found.get(("training", "data_hash"), ABSENT)
    if base is _OTHER or base is _BLOCK or data is _OTHER or data is _BLOCK:
        return None  # a value that is not a word: let the parser say what it is
    base_value = base if isinstance(base, str) else None
    return base_value, data.lower() if isinstance(data, str) else None


_WANTED = {("base_model",), ("training",), ("training", "data_hash")}


def _walk(text: str) -> dict[tuple[str, ...], object] | None:
    """The values at _WANTED paths, or None when the text leaves the plain form."""
    # Each open block: (indent, is a sequence, keys seen, path).
    stack: list[tuple[int, bool, set[str], tuple[str, ...]]] = [(0, False, set(), ())]
    pending: tuple[int, tuple[str, ...]] | None = None  # a `key:` awaiting its block
    found: dict[tuple[str, ...], object] = {}
    keys = 0
    for spaces, dash, item, key, value, other in _LINES.findall(text):
        if other:
            return None
        if not dash and not key:
            continue  # a blank or comment line, at any indent
        indent = len(spaces)
        if pending is not None:
            at, path = pending
            pending = None
            # A block below `key:`: deeper, or a sequence at the key's own indent.
            if indent > at or (indent == at and dash and not stack[-1][1]):
                stack.append((indent, bool(dash), set(), path))
                if len(stack) > MAX_DEPTH:
                    return None
                found[path] = _BLOCK
        while indent < stack[-1][0]:
            stack.pop()
        if key and stack[-1][1] and indent == stack[-1][0] and len(stack) > 1:
            stack.pop()  # the end of a sequence written at its key's indent
        top_indent, is_seq, seen, path = stack[-1]
        if indent != top_indent or is_seq != bool(dash):
            return None  # an indent YAML reads otherwise, or refuses
        if dash:
            kind = _scalar(item)
            if kind is None or kind is _EMPTY:
                return None  # a nested item or a null one: parse
            continue
        if key.lower() in _NOT_STRINGS or key in seen or len(key) > _KEY_MAX:
            return None
        seen.add(key)
        keys += 1
        here = (*path, key)
        kind = _scalar(value)
        if kind is None:
            return None
        if kind is _EMPTY:
            pending = (indent, here)
        if here in _WANTED:
            found[here] = kind
    return found if keys else None


def _scalar(raw: str) -> object | None:
    """A one-line value: the string it surely is, _OTHER, _EMPTY, or None (not plain)."""
    if raw.startswith("#"):
        return _EMPTY  # only a comment follows the key
    cut = raw.find(" #")
    value = (raw if cut < 0 else raw[:cut]).rstrip(" ")
    if not value:
        return _EMPTY
    if value[0] == "'":
        return value[1:-1].replace("''", "'") if _QUOTED.fullmatch(value) else None
    if value[0] in _INDICATORS and not (value[0] == "-" and value[1:2].isdigit()):
        return None
    if ": " in value or value.endswith(":"):
        return None  # a mapping inside a value: YAML refuses it
    if value[0].isascii() and value[0].isalpha():
        return _OTHER if value.lower() in _NOT_STRINGS else value
    if len(value) > _OTHER_MAX or _TIMESTAMP.match(value):
        return None
    return _OTHER
