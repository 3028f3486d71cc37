"""`dvc add` of one artifact without DVC: the same cache objects, pointer and .gitignore.

DVC's `repo.add` parses every `.dvc` file in the repository to find a stage for the
path (~0.4 s per 100 models; bench/README.md), and importing DVC costs ~0.3 s.  Here
the bytes are hashed once (artifact.scan already computed DVC's md5 next to our sha256)
and written in DVC's layout:

- each file as `.dvc/cache/files/md5/XX/REST` (written under a temporary name, renamed,
  then made read-only, mode 0444, as dvc-data's local object store does);
- a folder as that plus its `.dir` manifest: the JSON list dvc-data's Tree writes
  (entries sorted by relpath, keys sorted), whose md5 + ".dir" names the folder;
- the pointer `NAME.dvc` as DVC 3 dumps it (ruamel, block style: md5, size, nfiles for a
  folder, `hash: md5`, path);
- `/NAME` appended to the folder's .gitignore unless git already ignores it.

tests/test_dvc_track.py proves the result byte for byte against `dvc add`, and that
`dvc status`, `dvc push`, `dvc pull` and `dvc artifacts get` work on it.  Anything this
module does not reproduce exactly (a cache setting, .dvcignore rules, pipelines, an
executable file, a pointer a user edited) returns None: the caller then runs DVC's own add.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitmodel.artifact import CHUNK
from gitmodel.untrusted import read_checkout_file, write_checkout_file

_POINTER_KEYS = {"md5", "size", "nfiles", "hash", "path"}
MAX_GITIGNORE = 1 << 20  # a model folder's .gitignore: a line per artifact


def add(repo: Path, path: Path, md5s: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """Track `path` as `dvc add` would; the pointer's out entry, or None to leave it to DVC.

    `md5s` maps each file (its name for a single file, its posix path inside a folder)
    to its md5, when the caller already hashed it; files it lacks are hashed here.
    """
    if not _plain_repo(repo, path):
        return None
    files = _members(path)
    if files is None:
        return None
    given = dict(md5s or {})
    hashes = {rel: given.get(rel) or _md5(full) for rel, full in files.items()}
    cache = repo / ".dvc" / "cache" / "files" / "md5"
    for rel, full in files.items():
        _store(cache, hashes[rel], full)
    if path.is_dir():
        manifest = manifest_bytes(hashes)
        oid = hashlib.md5(manifest).hexdigest() + ".dir"
        _store_bytes(cache, oid, manifest)
        out: dict[str, Any] = {
            "md5": oid,
            "size": sum(full.stat().st_size for full in files.values()),
            "nfiles": len(files),
        }
    else:
        out = {"md5": hashes[path.name], "size": path.stat().st_size, "nfiles": None}
    where = path.relative_to(repo).as_posix()
    write_checkout_file(repo, where + ".dvc", where + ".dvc", pointer_text(out, path.name).encode("utf-8"))
    _ignore(repo, where)
    return out


def manifest_bytes(hashes: Mapping[str, str]) -> bytes:
    """A folder's `.dir` object as dvc-data's Tree.as_bytes() writes it."""
    entries = [{"md5": md5, "relpath": rel} for rel, md5 in sorted(hashes.items())]
    return json.dumps(entries, sort_keys=True).encode("utf-8")


def pointer_text(out: Mapping[str, Any], name: str) -> str:
    """The `.dvc` file DVC 3 writes for one out (dvc.utils.serialize's YAML settings)."""
    import io

    from ruamel.yaml import YAML

    entry: dict[str, Any] = {"md5": out["md5"], "size": out["size"]}
    if out.get("nfiles") is not None:
        entry["nfiles"] = out["nfiles"]
    entry.update({"hash": "md5", "path": name})
    yaml = YAML()
    yaml.default_flow_style = False
    buf = io.StringIO()
    yaml.dump({"outs": [entry]}, buf)
    return buf.getvalue()


def _plain_repo(repo: Path, path: Path) -> bool:
    """True when DVC's add would do nothing here beyond what this module writes."""
    if path.is_symlink() or not (path.is_file() or path.is_dir()):
        return False
    if _config_says_otherwise(repo):
        return False
    try:
        rel = path.relative_to(repo)
    except ValueError:
        return False
    folder = repo
    for part in rel.parts[:-1]:
        if _ignore_rules(folder / ".dvcignore") or _has_stages(folder / "dvc.yaml"):
            return False
        folder = folder / part
        if folder.with_name(folder.name + ".dvc").exists():  # inside another tracked folder
            return False
    if _ignore_rules(folder / ".dvcignore") or _has_stages(folder / "dvc.yaml"):
        return False
    pointer = path.with_name(path.name + ".dvc")
    if pointer.exists() and not _canonical_pointer(pointer, path.name):
        return False  # annotations, comments or an older format: DVC keeps them, we would not
    from gitmodel import git

    # DVC refuses a path git tracks; let it say so in its own words.
    return not git.run(["ls-files", "-z", "--", str(rel)], repo).stdout


def _config_says_otherwise(repo: Path) -> bool:
    """Any cache setting (its dir, link types, sharing) or `no_scm`, at any config level."""
    from gitmodel.dvc.config import parse_config, read_file, user_configs

    texts = []
    for path in [*user_configs(), repo / ".dvc" / "config", repo / ".dvc" / "config.local"]:
        try:
            texts.append(read_file(path))
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError):
            return True
    conf = parse_config(texts)
    if not conf and any(t.strip() for t in texts):
        return True  # unreadable: DVC decides
    core = conf.get("core", {})
    return bool(conf.get("cache")) or core.get("no_scm", "false").lower() not in ("false", "0", "no")


def _ignore_rules(path: Path) -> bool:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return False
    except (OSError, UnicodeDecodeError):
        return True
    return any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines())


def _has_stages(path: Path) -> bool:
    """A dvc.yaml with pipeline stages may own outputs anywhere (artifacts: are fine)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return False
    except (OSError, UnicodeDecodeError):
        return True
    return re.search(r"^\s*['\"]?stages['\"]?\s*:", text, re.MULTILINE) is not None


def _canonical_pointer(pointer: Path, name: str) -> bool:
    """The pointer is exactly what this module writes for its own values."""
    from gitmodel.yamlio import loads, plain

    try:
        text = pointer.read_text(encoding="utf-8")
        data = plain(loads(text, ".dvc file"))
    except Exception:  # whatever it is, DVC's add deals with it
        return False
    if not isinstance(data, dict) or set(data) != {"outs"} or not isinstance(data["outs"], list):
        return False
    if len(data["outs"]) != 1 or not isinstance(data["outs"][0], dict):
        return False
    entry = data["outs"][0]
    if set(entry) - _POINTER_KEYS or entry.get("hash") != "md5" or entry.get("path") != name:
        return False
    if not isinstance(entry.get("md5"), str) or not isinstance(entry.get("size"), int):
        return False
    return pointer_text({**entry, "nfiles": entry.get("nfiles")}, name) == text


def _members(path: Path) -> dict[str, Path] | None:
    """name/relpath -> file; None for what DVC's add treats differently (see module doc)."""
    if path.is_file():
        return None if os.stat(path).st_mode & 0o111 else {path.name: path}  # DVC records isexec
    found: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for name in [*dirnames, *filenames]:
            full = Path(dirpath, name)
            if full.is_symlink() or name in (".dvcignore",) or name.endswith(".dvc"):
                return None
        for name in filenames:
            full = Path(dirpath, name)
            if not full.is_file():
                return None
            found[full.relative_to(path).as_posix()] = full
    return found or None


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _object(cache: Path, oid: str) -> Path:
    return cache / oid[:2] / oid[2:]


def _store(cache: Path, oid: str, src: Path) -> None:
    """Copy `src` into the cache as `oid` unless it is there (DVC's check is existence too)."""
    target = _object(cache, oid)
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(_tmp_name())
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.chmod(target, 0o444)


def _store_bytes(cache: Path, oid: str, data: bytes) -> None:
    target = _object(cache, oid)
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(_tmp_name())
    try:
        tmp.write_bytes(data)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.chmod(target, 0o444)


def _tmp_name() -> str:
    # dvc_objects' tmp_fname() form, so clean_partials() knows a killed copy's leftover.
    return f".{secrets.token_urlsafe(16)}.tmp"


def _ignore(repo: Path, rel: str) -> None:
    """`/NAME` in the folder's .gitignore, as scmrepo's Git.ignore() adds it (never through
    a link the repo holds: untrusted.py)."""
    from gitmodel import git

    if git.run(["check-ignore", "-q", "--no-index", "--", rel], repo, check=False).returncode == 0:
        return
    folder, _, name = rel.rpartition("/")
    ignore = f"{folder}/.gitignore" if folder else ".gitignore"
    entry = "/" + "".join(f"\\{c}" if c in "\\[]!*#?" else c for c in name)
    old = read_checkout_file(repo, ignore, ignore, MAX_GITIGNORE) or b""
    prefix = b"\n" if old and not old.endswith(b"\n") else b""
    write_checkout_file(repo, ignore, ignore, old + prefix + entry.encode("utf-8") + b"\n")
