"""YAML in and out, round-trip so users' comments and key order survive our edits.

Every document read is bounded before anyone walks it: its size, how many values
its aliases expand to, and how deep it nests.  ruamel shares an aliased node
instead of copying it, so loading a sub-kilobyte alias bomb is cheap; the cost
(111 s and 2.4 GiB at depth 7, FACTS.md) comes when the result is walked
(`plain`, jsonschema, JSON output).  So the check walks each distinct node once,
counting what the aliases would expand to, and refuses past the limits.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from gitmodel.errors import PolicyError, UsageError

MAX_BYTES = 1024 * 1024
MAX_VALUES = 200_000  # scalars, keys and containers, counted as if every alias were copied
MAX_DEPTH = 64


class YamlTooBig(PolicyError):
    """A YAML document over the size, expansion or depth limit: refused before use."""

    def __init__(self, source: str, what: str) -> None:
        super().__init__(f"{source} is refused: {what}; write it out plainly and smaller")
        self.source = source


def _yaml() -> Any:
    from ruamel.yaml import YAML

    y = YAML()
    y.default_flow_style = False
    y.width = 4096
    return y


def loads(text: str, source: str) -> Any:
    from ruamel.yaml.error import YAMLError

    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        raise YamlTooBig(source, f"{size} bytes is over the {MAX_BYTES} byte limit")
    _shallow(text, source)
    try:
        data = _yaml().load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageError(f"{source}:{where} is not valid YAML ({problem}); fix the file") from None
    except RecursionError:
        raise YamlTooBig(source, f"it nests deeper than {MAX_DEPTH} levels") from None
    bounded(data, source)
    return data


def _shallow(text: str, source: str) -> None:
    """Refuse a document nested past MAX_DEPTH before ruamel reads it.

    ruamel's pure-Python parser spends seconds of CPU on a kilobyte of nested brackets
    (2 s at 1,000 levels, 4 s at 5,000) before any limit can act, and the server hook parses
    pushed YAML: a cheap denial of service.  libyaml composes the same text in about a
    millisecond (aliases stay shared nodes) and has its own nesting limit.  Anything libyaml
    cannot read is left to ruamel, whose error the user sees.
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        root = yaml.compose(text, Loader=loader)
    except yaml.YAMLError as exc:
        if "nesting depth" in str(exc):
            raise YamlTooBig(source, f"it nests deeper than {MAX_DEPTH} levels") from None
        return
    seen: set[int] = set()
    stack = [(root, 1)] if root is not None else []
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise YamlTooBig(source, f"it nests deeper than {MAX_DEPTH} levels")
        if id(node) in seen or not isinstance(node.value, list):
            continue
        seen.add(id(node))
        for item in node.value:
            kids = item if isinstance(item, tuple) else (item,)  # a mapping's (key, value) pairs
            stack.extend((kid, depth + 1) for kid in kids)


def bounded(data: Any, source: str) -> None:
    """Refuse `data` if expanding its aliases passes MAX_VALUES, or it nests past MAX_DEPTH.

    Each distinct container is measured once (iteratively, no recursion), so the check
    costs what the document's text does, not what its aliases expand to.
    """
    measured: dict[int, tuple[int, int]] = {}  # id -> (values when expanded, depth)
    open_: set[int] = set()  # containers being measured: the path from the top
    stack: list[tuple[Any, list[Any] | None]] = [(data, None)]
    while stack:
        node, kids = stack.pop()
        key = id(node)
        if kids is not None:  # every child is measured: now the node itself
            open_.discard(key)
            total, depth = 1, 1
            for kid in kids:
                n, d = measured.get(id(kid), (1, 0))
                total += n
                depth = max(depth, d + 1)
            if total > MAX_VALUES:
                raise YamlTooBig(source, f"its aliases expand it past {MAX_VALUES} values (an alias bomb?)")
            if depth > MAX_DEPTH:
                raise YamlTooBig(source, f"it nests deeper than {MAX_DEPTH} levels")
            measured[key] = (total, depth)
            continue
        if key in measured:
            continue
        kids = _children(node)
        if kids is None:
            continue
        if key in open_:
            raise YamlTooBig(source, "an alias refers to a value that contains it")
        open_.add(key)
        stack.append((node, kids))
        stack.extend((kid, None) for kid in kids if isinstance(kid, _CONTAINERS))


_CONTAINERS = (dict, list, tuple, set)


def _children(node: Any) -> list[Any] | None:
    """What a container holds (keys and values of a mapping); None for a scalar."""
    if isinstance(node, dict):
        return [*node.keys(), *node.values()]
    if isinstance(node, _CONTAINERS):
        return list(node)
    return None


def load(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist; check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    return loads(text, str(path))


def load_mapping(path: Path) -> dict[str, Any]:
    data = load(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UsageError(f"{path} must hold a YAML mapping (key: value), not a {type(data).__name__}")
    return data


def dumps(data: Any) -> str:
    buf = io.StringIO()
    _yaml().dump(data, buf)
    return buf.getvalue()


def plain(data: Any) -> Any:
    """ruamel's comment-carrying containers as plain dicts and lists (for JSON and jsonschema)."""
    if isinstance(data, dict):
        return {str(k): plain(v) for k, v in data.items()}
    if isinstance(data, list):
        return [plain(v) for v in data]
    return data
