"""The `artifacts:` declarations in dvc.yaml that DVC and GTO read (DVC's own format).

A plain model is declared in the root dvc.yaml; a namespaced `acme:support` in
`acme/dvc.yaml`, with paths relative to `acme/`, which is how DVC resolves `dir:name`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gitmodel.errors import UsageError
from gitmodel.refs import dvc_yaml_dir, model_dir, short_name
from gitmodel.untrusted import read_checkout_file, write_checkout_file
from gitmodel.yamlio import MAX_BYTES, dumps, loads, plain


def path_for(model: str) -> str:
    folder = dvc_yaml_dir(model)
    return f"{folder}/dvc.yaml" if folder else "dvc.yaml"


def declare(repo: Path, model: str, artifact_name: str, meta: dict[str, Any]) -> None:
    rel, name = path_for(model), short_name(model)
    text = _read(repo, rel)
    lines = text.splitlines(keepends=True) if text else []
    span = _block(lines, name)
    if span is not None and span[0] != span[1]:
        # The common case, a new version: only this entry's lines are parsed to see that
        # nothing changes (the whole file is ~0.1 s at 1,000 models even with libyaml).
        alone = _fast_load("artifacts:\n" + "".join(lines[span[0] : span[1]]))
        old = (alone or {}).get("artifacts", {}).get(name)
        if isinstance(old, dict) and _entry(model, artifact_name, meta, old) == old:
            return
    current = _fast_load(text) if text is not None else {}
    if current is not None:
        artifacts = current.get("artifacts") or {}
        old = artifacts.get(name) if isinstance(artifacts, dict) else None
        entry = _entry(model, artifact_name, meta, old if isinstance(old, dict) else None)
        if old == entry:
            return  # unchanged: no rewrite
        if span is not None and _splice(repo, rel, lines, span, current, name, entry):
            return
    _round_trip(repo, model, artifact_name, meta)


def _entry(
    model: str, artifact_name: str, meta: dict[str, Any], old: dict[str, Any] | None
) -> dict[str, Any]:
    """The model's `artifacts:` entry (plain), keeping what a user added to `old`."""
    folder = dvc_yaml_dir(model)
    rel = model_dir(model)[len(folder) + 1 :] if folder else model_dir(model)
    entry = dict(old or {})
    entry["path"] = f"{rel}/{artifact_name}"
    entry["type"] = "model"
    desc = meta.get("description")
    if desc and "desc" not in entry:  # describes the model, so set once, from its first version
        entry["desc"] = str(desc).strip().splitlines()[0][:200]
    labels = meta.get("labels")
    if labels:
        entry["labels"] = list(labels)
    # Only what stays true across versions: the version itself lives in model.yaml and tags.
    entry["meta"] = {"base_model": meta.get("base_model")}
    return entry


def _round_trip(repo: Path, model: str, artifact_name: str, meta: dict[str, Any]) -> None:
    """The general edit: a ruamel round-trip that keeps every comment (~6 s at 1,000 models)."""
    from ruamel.yaml.comments import CommentedMap

    rel = path_for(model)
    text = _read(repo, rel)
    data = loads(text, rel) if text is not None else None
    if data is None:
        data = CommentedMap()
    if not isinstance(data, dict):
        raise UsageError(f"{rel} must hold a YAML mapping (key: value), not a {type(data).__name__}")
    artifacts = data.get("artifacts")
    if artifacts is None:
        artifacts = data["artifacts"] = CommentedMap()
    old = artifacts.get(short_name(model))
    entry = CommentedMap(old or {})
    entry.update(_entry(model, artifact_name, meta, plain(old) if old is not None else None))
    if old is not None and plain(old) == plain(entry):
        return
    artifacts[short_name(model)] = entry
    write_checkout_file(repo, rel, rel, dumps(data).encode("utf-8"))


def _read(repo: Path, rel: str) -> str | None:
    """The checkout's dvc.yaml (None: none), never through a link (untrusted.py)."""
    data = read_checkout_file(repo, rel, rel, MAX_BYTES)
    try:
        return None if data is None else data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"cannot read {rel}: {exc}") from None


def _fast_load(text: str) -> dict[str, Any] | None:
    """dvc.yaml as plain data through libyaml's C loader (0.1 s for 1,000 models where
    ruamel takes seconds), or None when only the bounded ruamel load may read it: too big,
    anchors or aliases (an alias bomb), not a mapping, or no C loader."""
    import importlib

    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES or "&" in text or "*" in text:
        return None
    try:
        yaml: Any = importlib.import_module("yaml")
        data = yaml.load(text, Loader=yaml.CSafeLoader)
    except Exception:  # no libyaml, or invalid: the ruamel path says what is wrong
        return None
    if data is None:
        return {}
    return data if isinstance(data, dict) and _only_plain(data) else None


def _only_plain(node: Any) -> bool:
    """Strings, numbers, booleans, None, lists and string-keyed maps: what ruamel would give."""
    if isinstance(node, dict):
        return all(isinstance(k, str) and _only_plain(v) for k, v in node.items())
    if isinstance(node, list):
        return all(_only_plain(v) for v in node)
    return node is None or isinstance(node, (str, int, float, bool))


def _block(lines: list[str], name: str) -> tuple[int, int] | None:
    """(first, past-last) line of the entry `name` under a top-level `artifacts:` written
    in block style, or (n, n) where a new entry goes; None when the layout is another."""
    try:
        top = lines.index("artifacts:\n")
    except ValueError:
        return None
    start: int | None = None
    stop: int | None = None
    end = len(lines)
    for i in range(top + 1, len(lines)):
        line = lines[i]
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        if indent == 0:
            end = i
            break
        if indent > 2:
            continue
        if start is not None and stop is None:
            stop = i
        key = line.strip()
        if key == f"{name}:":
            start, stop = i, None
        elif key.startswith((f"{name}:", f"'{name}'", f'"{name}"')):
            return None  # quoted, flow-style or look-alike: let the round-trip judge
    if start is None:
        while end > top + 1 and not lines[end - 1].strip():
            end -= 1
        return end, end  # a new entry goes last, where the round-trip would put it
    stop = end if stop is None else stop
    while stop > start + 1 and not lines[stop - 1].strip():
        stop -= 1
    return start, stop


def _splice(
    repo: Path,
    rel: str,
    lines: list[str],
    span: tuple[int, int],
    current: dict[str, Any],
    name: str,
    entry: dict[str, Any],
) -> bool:
    """Rewrite only the model's block of `artifacts:`, then check by parsing the result
    that the document is the old one with this entry replaced; False: use the round-trip."""
    start, stop = span
    if any("#" in line for line in lines[start:stop]):
        return False  # a comment in the entry: only the round-trip keeps it
    block = dumps({"artifacts": {name: entry}}).split("\n", 1)[1]
    new = "".join([*lines[:start], block, *lines[stop:]])
    expected = dict(current)
    expected["artifacts"] = {**(current.get("artifacts") or {}), name: entry}
    if _fast_load(new) != expected:
        return False
    write_checkout_file(repo, rel, rel, new.encode("utf-8"))
    return True
