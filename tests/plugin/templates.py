"""Registries built once per test session and copied, whole, into each test that wants one.

Building `support` v1.0.0 and v1.1.0 through the CLI (init, register, push, promote) costs
about two seconds; copying the result costs a few hundredths.  A template is a directory
holding `repo`, `origin.git` and `dvc-remote`; a copy takes all three into the test's
tmp_path, so pushes, tags and DVC objects never leak between tests.

Paths: the copy's `.git/config` names the template's origin, so its URL is rewritten.
`.dvc/config` is committed, so the copy cannot rewrite it without a diff in `git status`.
Instead every template names one session-wide path, LINK, as its DVC remote: a symlink
that each copy points at its own `dvc-remote`.  Clones of the copy's origin, and the
pre-receive hook reading the committed config, then reach the test's own remote too.
Tests run one at a time in a session, so the link always serves the running test.

The `registry` fixture is a copy too, of `fresh` (just after `gitmodel init --remote`),
but that template names its own remote by its real path, as init writes it: a copy
rewrites the path in .dvc/config and amends the one commit, so the test sees the
registry `init_registry` would have made (the remote's path appears in error messages).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from plugin.registry import (
    UNSET,
    Registry,
    git,
    hermetic_env,
    init_registry,
    make_home,
    make_runner,
    random_bytes,
)

GOOD = "metrics: {accuracy: 0.942, hallucination_rate: 0.021, latency_p95_ms: 890}\n"
BAD = "metrics: {accuracy: 0.80, hallucination_rate: 0.021, latency_p95_ms: 890}\n"
PARTS = ("repo", "origin.git", "dvc-remote", "host", "root")  # host, root: `deployed` only


def new_version(registry: Registry, seed: int, meta: str = GOOD, *extra: str) -> None:
    """Register new bytes for support as the next minor version."""
    registry.write("models/support/m.gguf.tmp", random_bytes(2000, seed))
    (registry.root / "models/support/m.gguf.tmp").replace(registry.root / "models/support/m.gguf")
    path = registry.meta(meta, f"meta{seed}.yaml")
    registry.ok("register", "support", "models/support/m.gguf", "--meta", str(path), *extra)


def registered(registry: Registry) -> None:
    """support v1.0.0 registered from m.gguf, not pushed."""
    registry.write("m.gguf", random_bytes(2000, 1))
    registry.ok("register", "support", "m.gguf", "--meta", str(registry.meta()))


def pushed(registry: Registry) -> None:
    """support v1.0.0 registered from m.gguf and pushed (commit, tag and bytes)."""
    registry.write("m.gguf", random_bytes(2000, 1))
    registry.ok("register", "support", "m.gguf", "--meta", str(registry.meta()), "--push")


def two_pushed(registry: Registry) -> None:
    """`pushed`, then v1.1.0 registered from new bytes with metadata m2.yaml and pushed."""
    registry.write("m.gguf", random_bytes(2000, 2))
    registry.ok("register", "support", "m.gguf", "--meta", str(registry.meta(GOOD, "m2.yaml")), "--push")


def served_twice(registry: Registry) -> None:
    """support v1.0.0 then v1.1.0 through staging into production; v1.2.0 registered.

    Each version from m.gguf with metadata metaN.yaml, pushed; the promotions are not.
    """
    for seed in (1, 2, 3):
        registry.write("m.gguf", random_bytes(2000, seed))
        meta = registry.meta(name=f"meta{seed}.yaml")
        registry.ok("register", "support", "m.gguf", "--meta", str(meta), "--push")
    for version in ("v1.0.0", "v1.1.0"):
        registry.ok("promote", "support", version, "staging")
        registry.ok("promote", "support", version, "production")


def released(registry: Registry) -> None:
    """`pushed`, then v1.0.0 in staging and production; v1.1.0 registered (pushed)."""
    registry.ok("promote", "support", "v1.0.0", "staging")
    registry.ok("promote", "support", "v1.0.0", "production")
    new_version(registry, 2, GOOD, "--push")


def staged(registry: Registry) -> None:
    """`released`, then v1.1.0 promoted to staging (ready for a production canary)."""
    registry.ok("promote", "support", "v1.1.0", "staging")


def deployed(registry: Registry) -> None:
    """support v1.0.0 pushed, in production and deployed: plugin.attacks.deployed_world."""
    from plugin.attacks import deployed_world

    deployed_world(registry, registry.root.parent)


# name -> (the template it starts from, what is done to it)
RECIPES: dict[str, tuple[str | None, Callable[[Registry], None]]] = {
    "registered": (None, registered),
    "pushed": (None, pushed),
    "two_pushed": ("pushed", two_pushed),
    "served_twice": (None, served_twice),
    "released": ("pushed", released),
    "staged": ("released", staged),
    "deployed": (None, deployed),
}


class Templates:
    """Named templates under BASE, each built on first use from its parent's copy."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.link = base / "dvc-remote"  # the DVC remote every template's .dvc/config names
        self.home = make_home(base / "home")

    def copy(self, name: str, dest: Path, monkeypatch: pytest.MonkeyPatch) -> Registry:
        """A fresh copy of template NAME in DEST (repo, origin.git, dvc-remote).

        LINK then serves this copy: a second copy in the same test takes the remote over.
        """
        source = self._built(name)
        for part in PARTS:
            if (source / part).exists():
                shutil.copytree(source / part, dest / part, symlinks=True, ignore=_dvc_tmp)
        _retarget_clones(dest, source, dest)
        (dest / "dvc-remote").mkdir(exist_ok=True)
        self._point_link(dest / "dvc-remote")
        return Registry(dest / "repo", dest / "dvc-remote", make_runner(monkeypatch, dest / "repo"))

    def fresh(self, dest: Path, monkeypatch: pytest.MonkeyPatch) -> Registry:
        """What `plugin.registry.init_registry(DEST)` makes, copied from the `fresh` template."""
        source = self.base / "fresh"
        if not source.exists():
            with self._env() as mp:
                scratch = self.base / "fresh.building"
                scratch.mkdir()
                init_registry(scratch, mp)
                _retarget(scratch / "repo" / ".git" / "config", scratch, source)
            scratch.rename(source)  # .dvc/config keeps naming scratch's remote: copies rewrite it
        for part in PARTS[:3]:
            shutil.copytree(source / part, dest / part, symlinks=True, ignore=_dvc_tmp)
        root = dest / "repo"
        _retarget(root / ".git" / "config", source, dest)
        _retarget(root / ".dvc" / "config", source.with_name("fresh.building"), dest)
        git(root, "commit", "-q", "--amend", "--no-edit", "--no-verify", "--", ".dvc/config")
        return Registry(root, dest / "dvc-remote", make_runner(monkeypatch, root))

    @contextlib.contextmanager
    def _env(self) -> Iterator[pytest.MonkeyPatch]:
        """The hermetic environment for building (session scope: no test's env yet)."""
        with pytest.MonkeyPatch.context() as mp:
            for key, value in hermetic_env(self.home).items():
                mp.setenv(key, value)
            for key in UNSET:
                mp.delenv(key, raising=False)
            yield mp

    def _built(self, name: str) -> Path:
        where = self.base / name
        if where.exists():
            return where
        parent, recipe = RECIPES[name]
        with self._env() as mp:
            scratch = self.base / f"{name}.building"
            scratch.mkdir()
            reg = self.copy(parent, scratch, mp) if parent else self._init(scratch, mp)
            recipe(reg)
            _retarget_clones(scratch, scratch, where)
        scratch.rename(where)
        return where

    def _init(self, base: Path, mp: pytest.MonkeyPatch) -> Registry:
        root, origin = base / "repo", base / "origin.git"
        root.mkdir()
        git(base, "init", "-q", "--bare", str(origin))
        git(root, "init", "-q")
        git(root, "remote", "add", "origin", str(origin))
        (base / "dvc-remote").mkdir()  # DVC cannot create a directory through a dangling link
        self._point_link(base / "dvc-remote")
        reg = Registry(root, base / "dvc-remote", make_runner(mp, root))
        reg.ok("init", "--remote", str(self.link))
        return reg

    def _point_link(self, target: Path) -> None:
        """Swap LINK to TARGET atomically (a new link renamed over the old)."""
        tmp = self.link.with_name(".dvc-remote.tmp")
        if os.path.lexists(tmp):
            tmp.unlink()
        os.symlink(target, tmp)
        os.replace(tmp, self.link)


def _dvc_tmp(directory: str, names: list[str]) -> list[str]:
    """DVC's scratch state (locks, stat caches keyed by inode) stays with the template; only
    `btime`, which every DVC command leaves in .dvc/tmp, comes along, as in the template."""
    tmp = os.sep + os.path.join(".dvc", "tmp")
    return [n for n in names if n != "btime"] if directory.endswith(tmp) else []


def _retarget_clones(base: Path, old: Path, new: Path) -> None:
    """BASE's clones (repo, and host if any) name OLD's origin.git: make it NEW's."""
    _retarget(base / "repo" / ".git" / "config", old, new)
    if (base / "host").exists():
        _retarget(base / "host" / ".git" / "config", old, new)


def _retarget(config: Path, old: Path, new: Path) -> None:
    """Rewrite OLD's paths in a git config (origin's URL) to NEW's."""
    text = config.read_text()
    assert str(old) in text, f"{config} does not name {old}"
    config.write_text(text.replace(str(old), str(new)))


# --- a directory built once per run, shared by the xdist workers ------------------------


def built_once(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """BUILD(where) once per test run, not once per xdist worker: the first worker to ask
    builds under a lock, the others wait for it and share the result, read-only.

    Only for a directory that names no per-worker path (a moto server, a session home)
    and that tests copy rather than change.  `where` is under the run's base temp dir.
    """
    base = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # BASE/popen-gwN: the run's own directory, shared by its workers
    shared = base / "built-once"
    shared.mkdir(exist_ok=True)
    where, done = shared / name, shared / f"{name}.built"
    with (shared / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when closed, or when a building worker dies
        if not done.exists():
            shutil.rmtree(where, ignore_errors=True)
            build(where)
            done.touch()
    return where


# --- any directory a test builds, built once per session and copied per test ----------


class Snapshots:
    """Directories a fixture builds once per session (per xdist worker) and copies per test.

    For setups that are not a registry template: a host's clones, root and remotes, say.
    The build runs in the first test that asks (its environment, its monkeypatch), into
    BASE/NAME; each test then gets `cp -a` of it.  Absolute paths name the build's
    directory in plain files (git's config and logs, DVC's config.local, cache claims):
    a copy rewrites them to its own, so a copy never reaches back into the template.
    """

    def __init__(self, base: Path) -> None:
        self.base = base
        self._naming: dict[str, list[Path]] = {}  # name -> files that name the template's path

    def get(self, name: str, build: Callable[[Path], None]) -> Path:
        """BASE/NAME, built by BUILD(path) the first time (a failed build is not kept)."""
        where = self.base / name
        if name not in self._naming:
            shutil.rmtree(where, ignore_errors=True)
            build(where)
            self._naming[name] = _naming(where, str(where).encode())
        return where

    def copy(self, name: str, dest: Path, rewrite: dict[str, str] | None = None) -> Path:
        """DEST as a copy of NAME (built), every path to the template made DEST's own.

        REWRITE: further strings to replace in the same files (a per-test S3 prefix)."""
        source = self.base / name
        assert name in self._naming, f"snapshot {name} was never built"
        dest.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-a", "--reflink=auto", f"{source}/.", str(dest)], check=True)
        swaps = {str(source): str(dest), **(rewrite or {})}
        for rel in self._naming[name]:
            path = dest / rel
            text = path.read_text()
            for old, new in swaps.items():
                text = text.replace(old, new)
            path.write_text(text)
        _rename_claims(dest)
        return dest


def _naming(root: Path, needle: bytes) -> list[Path]:
    """Files under ROOT naming NEEDLE: plain text, so not git's objects nor DVC's objects."""
    found = []
    for path in root.rglob("*"):
        if path.is_symlink() or not path.is_file() or "objects" in path.parts or "files" in path.parts:
            continue
        if needle in path.read_bytes():
            found.append(path.relative_to(root))
    return found


def _rename_claims(root: Path) -> None:
    """A host cache's claim is filed under a hash of the root it names: refile it."""
    from gitmodel.host.cacheprune import CLAIMS, claim_path

    for claim in root.glob(f"**/.dvc/cache/{CLAIMS}/*.json"):
        data = json.loads(claim.read_text())
        cache = claim.parent.parent
        right = claim_path(cache, Path(data["root"]), data["model"])
        if right != claim:
            claim.rename(right)
