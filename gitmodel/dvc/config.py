"""The DVC settings a call runs with: read without DVC where that is enough, and forced
into DVC where DVC runs (open_repo).

Two views of a clone's DVC config, as sections ("core", "cache", "remote NAME"):

- its own (`settings(repo)`): .dvc/config, then .dvc/config.local, as DVC merges them.
  A developer's clone: the team's tracked config is theirs to run.
- a host's (`settings(repo, host=True)`): the tracked .dvc/config is written by whoever
  can push and reaches the host with the operator's `git pull`, so a host takes its
  settings from its own places only: DVC's system and global config and the clone's
  untracked .dvc/config.local.  From the tracked file it takes only what the host has
  not set itself: the default remote's name (`core.remote`) and each remote's `url`
  when that is an `s3://` URL or a local path (tracked_part).  Never the cache or DVC's
  own state (`cache.*`, `core.site_cache_dir`: where the host writes), and never a key
  that says where or how its credentials go (`endpointurl`, `profile`, an http URL ...):
  a host asked to use a remote that relies on one is refused in one line
  (check_host_remote) instead of calling a server the pusher chose.

docs/host.md ("What a host takes from the registry") is the rule for operators.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gitmodel import untrusted
from gitmodel.errors import NoDvcRemote, PolicyError, RemoteDirMissing

Conf = dict[str, dict[str, str]]

HOST_DOC = "docs/host.md#what-a-host-takes-from-the-registry"


# --- reading config files without DVC -------------------------------------------------


def parse_config(texts: Sequence[str]) -> Conf:
    """DVC config texts merged in order (a later one wins); {} when one cannot be read."""
    import configparser

    merged: Conf = {}
    for text in texts:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(text)
        except configparser.Error:
            return {}
        for section in parser.sections():
            # DVC lower-cases section names too (config._lower_keys): 'remote "S3"' is s3.
            key = section.strip("'\"").replace('"', "").replace("'", "").lower()
            merged.setdefault(key, {}).update(parser[section])
    if "remote" in merged.get("core", {}):
        merged["core"]["remote"] = merged["core"]["remote"].lower()  # DVC's schema: Lower
    return merged


def user_configs() -> list[Path]:
    """DVC's system and global config files (dvc/dirs.py: env override, else platformdirs)."""
    import platformdirs

    system = os.environ.get("DVC_SYSTEM_CONFIG_DIR") or platformdirs.site_config_dir("dvc", "iterative")
    user = os.environ.get("DVC_GLOBAL_CONFIG_DIR") or platformdirs.user_config_dir("dvc", "iterative")
    return [Path(system) / "config", Path(user) / "config"]


TRACKED = ".dvc/config"  # the clone's own file that git tracks: whoever can push writes it
MAX_CONFIG = 1 << 20


def read_file(path: Path) -> str:
    """A config file's text; the tracked one through the door (a link to /dev/zero or to
    another file of this machine is refused, and it is read within MAX_CONFIG)."""
    if path.name == "config" and path.parent.name == ".dvc":
        data = untrusted.read_checkout_file(path.parent.parent, TRACKED, TRACKED, MAX_CONFIG)
        if data is None:
            raise FileNotFoundError(path)
        return data.decode("utf-8")
    return path.read_text(encoding="utf-8")


def _texts(paths: Sequence[Path]) -> list[str] | None:
    """The files' texts (absent ones left out); None when one exists but cannot be read."""
    texts = []
    for path in paths:
        try:
            texts.append(read_file(path))
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError):
            return None
    return texts


def repo_config(repo: Path) -> Conf:
    """The repository's own DVC config (.dvc/config, then config.local), read without DVC.

    Importing DVC costs ~0.3 s; a rollback only needs the default remote's URL.
    """
    texts = _texts([repo / ".dvc" / "config", repo / ".dvc" / "config.local"])
    return parse_config(texts) if texts is not None else {}


def settings(repo: Path, *, host: bool = False) -> Conf:
    """The clone's DVC settings (module doc); host=True: only what a host may take."""
    return host_config(repo) if host else repo_config(repo)


def plain_cache(repo: Path, *, host: bool = False) -> Path | None:
    """`.dvc/cache` when no config level moves it (`cache.dir`), else None (ask DVC).
    host=True: only the host's own levels may move it."""
    if host:
        conf = host_config(repo)
    else:
        texts = _texts([*user_configs(), repo / ".dvc" / "config", repo / ".dvc" / "config.local"])
        if texts is None:
            return None
        conf = parse_config(texts)
        if not conf and any(t.strip() for t in texts):
            return None  # unreadable: DVC decides
    return None if "dir" in conf.get("cache", {}) else repo / ".dvc" / "cache"


# --- the host's view ------------------------------------------------------------------


# What DVC keeps per machine in a clone (its .dvc/.gitignore lists them).  Tracked, they
# are the pusher's: a committed `.dvc/cache` link made a new host write the model's bytes
# into a folder of the pusher's choosing, a committed config.local chose its settings.
OWN_STATE = (".dvc/config.local", ".dvc/cache", ".dvc/tmp")


_OWN_CHECKED: set[tuple[str, int, int]] = set()  # (clone, its index's mtime and size): passed


def check_own_state(repo: Path) -> None:
    """PolicyError when git tracks `.dvc` itself (a link) or any of OWN_STATE in ROOT.

    Asked once per state of the clone's index (one `git ls-files`, ~4 ms; a deploy reads
    the host's settings several times)."""
    from gitmodel import git

    try:
        index = os.stat(repo / ".git" / "index")
        key: tuple[str, int, int] | None = (str(repo), index.st_mtime_ns, index.st_size)
    except OSError:
        key = None  # a worktree or a fresh repository: asked every time
    if key is not None and key in _OWN_CHECKED:
        return
    listed = git.run(["ls-files", "-z", "--", ".dvc"], repo, check=False).stdout.split("\0")
    found = [p for p in listed if p == ".dvc" or any(p == s or p.startswith(s + "/") for s in OWN_STATE)]
    if found:
        raise PolicyError(
            f"the registry tracks {found[0]!r}, which DVC keeps per machine (its cache, scratch files "
            "or local settings), so a pusher chose where this clone's DVC writes or what it runs with: "
            f"refused before DVC ran; remove it from the registry (`git rm -r --cached {found[0]}`, commit, "
            f"push) and `git pull` in {repo} ({HOST_DOC})"
        )
    if key is not None:
        _OWN_CHECKED.add(key)


def _own(repo: Path) -> Conf:
    """The host's own levels: system, global, the clone's untracked config.local."""
    check_own_state(repo)
    texts = _texts([*user_configs(), repo / ".dvc" / "config.local"])
    return parse_config(texts) if texts is not None else {}


def _tracked(repo: Path) -> Conf:
    texts = _texts([repo / ".dvc" / "config"])
    return parse_config(texts) if texts is not None else {}


def plain_url(url: str) -> bool:
    """A URL a host may take from the registry: a bucket (s3://) or a local path, whose
    server is the host's own (its endpoint and credentials); never a server the URL names."""
    return url.startswith("s3://") or "://" not in url


def tracked_part(own: Conf, tracked: Conf) -> Conf:
    """What a host takes from the tracked .dvc/config, given its own settings `own`:
    `core.remote` unless it sets one, and a remote's `url` (a plain one) unless it gives
    that remote a url itself.  Nothing else (module doc)."""
    taken: Conf = {}
    name = tracked.get("core", {}).get("remote")
    if name and "remote" not in own.get("core", {}):
        taken["core"] = {"remote": name}
    for section, keys in tracked.items():
        url = keys.get("url")
        if section.startswith("remote ") and url and plain_url(url) and "url" not in own.get(section, {}):
            taken[section] = {"url": url}
    return taken


def host_config(repo: Path) -> Conf:
    """The settings a host runs with: its own over what it takes from the tracked file."""
    own = _own(repo)
    merged = {section: dict(keys) for section, keys in tracked_part(own, _tracked(repo)).items()}
    for section, keys in own.items():
        merged.setdefault(section, {}).update(keys)
    return merged


def check_host_remote(repo: Path, name: str | None = None) -> None:
    """PolicyError when the remote a host would use (`name`, else the default) needs from
    the tracked .dvc/config more than a plain URL: the host refuses rather than send its
    requests (and credentials) where the pusher says, or lose the team's setting silently."""
    own, tracked = _own(repo), _tracked(repo)
    chosen = (
        (name or "").lower() or own.get("core", {}).get("remote") or tracked.get("core", {}).get("remote")
    )
    section = f"remote {chosen}"
    if not chosen or "url" in own.get(section, {}):
        return  # no remote (reported as such later), or the host's own
    theirs, mine = tracked.get(section, {}), own.get(section, {})
    url = theirs.get("url")
    if url is None:
        return  # defined nowhere: reported as no remote later
    if not plain_url(url):
        scheme = url.split("://", 1)[0]
        raise PolicyError(
            f"the registry's .dvc/config points DVC remote '{chosen}' at a server ({scheme}://), and a "
            "host takes only s3:// and local-path URLs from the registry (a pusher would choose the "
            f"server this host calls): give this host its own remote with `dvc remote add --local -d "
            f"NAME URL` in {repo} ({HOST_DOC})"
        )
    extra = sorted(k for k in theirs if k != "url" and k not in mine)
    if extra:
        raise PolicyError(
            f"the registry's .dvc/config sets {', '.join(extra)} for DVC remote '{chosen}', and a host "
            "takes only a remote's name and URL from the registry (a pusher would choose where this host "
            f"sends its credentials): set it on this host with `dvc remote modify --local {chosen} "
            f"{extra[0]} VALUE` in {repo}, or give the host its own remote ({HOST_DOC})"
        )


# --- remotes, as the config says (no network) -----------------------------------------


def remote_of(config_text: str | None) -> tuple[str, str] | None:
    """(name, url) of the default remote one .dvc/config text names, or None."""
    return default_of(parse_config([config_text or ""]))


def tracked_remote(repo: Path) -> tuple[str, str] | None:
    """(name, url) of the default remote the checkout's tracked .dvc/config names, read
    through the door (a link there is refused); None: absent, unreadable or none named."""
    try:
        return remote_of(read_file(repo / TRACKED))
    except (OSError, UnicodeDecodeError):
        return None


def working_remote(repo: Path) -> tuple[str, str] | None:
    """(name, url) of the default remote a push from ROOT uses: its config, then config.local."""
    return default_of(repo_config(repo))


def default_of(conf: Conf) -> tuple[str, str] | None:
    name = conf.get("core", {}).get("remote")
    url = conf.get(f"remote {name}", {}).get("url") if name else None
    return (name, url) if name and url else None


def remote_config(
    repo: Path, name: str | None = None, *, host: bool = False
) -> tuple[str, dict[str, str]] | None:
    """(name, settings: url, endpointurl, region, ...) of the remote `name` (default: the
    default remote), read without DVC; None: not defined.  host=True: as a host may take
    it (PolicyError when it needs more from the tracked config, check_host_remote)."""
    if host:
        check_host_remote(repo, name)
    conf = settings(repo, host=host)
    name = (name or "").lower() or conf.get("core", {}).get("remote")  # DVC lower-cases names
    section = conf.get(f"remote {name}") if name else None
    return (name, dict(section)) if name and section and section.get("url") else None


def local_remote(repo: Path, conf: Conf | None = None) -> Path | None:
    """The default remote's directory when it is a local path named in the config."""
    conf = repo_config(repo) if conf is None else conf
    name = conf.get("core", {}).get("remote")
    url = conf.get(f"remote {name}", {}).get("url") if name else None
    if not url or "://" in url:
        return None
    path = Path(url)
    return path if path.is_absolute() else (repo / ".dvc" / path).resolve()


def remote_dir_missing(
    repo: Path, remote: str | None = None, conf: Conf | None = None
) -> RemoteDirMissing | None:
    """The error to raise when the (default) remote is a local path that is not there.

    DVC reads such a remote as empty, so without this a missing mount would be
    reported as missing objects and blamed on whoever pushed.
    """
    conf = repo_config(repo) if conf is None else conf
    name = conf.get("core", {}).get("remote")
    path = local_remote(repo, conf) if name and remote in (None, name) else None
    if path is None or path.is_dir():
        return None
    return RemoteDirMissing(name or "", os.path.normpath(path))


def no_remote(repo: Path) -> NoDvcRemote:
    """DVC found no usable default remote in ROOT's config (DVC reads the work tree's)."""
    from gitmodel import git

    commit = git.head(repo)
    return NoDvcRemote(
        f"the registry at {commit[:10]}" if commit else str(repo),
        "add one with `dvc remote add -d NAME URL`, commit .dvc/config and push it; a host clone "
        f"then needs `git pull` in {repo} (or its own `dvc remote add --local -d NAME URL` there)",
    )


def default_remote(repo: Path, *, host: bool = False) -> str | None:
    """Name of the default DVC remote, or None (read from config, no network); host=True:
    as a host takes it (module doc)."""
    conf = settings(repo, host=host)
    name = conf.get("core", {}).get("remote")
    if name and f"remote {name}" in conf:
        return name
    with open_repo(repo, host=host) as dvc_repo:
        name = dvc_repo.config["core"].get("remote")
        return name if name and name in dvc_repo.config["remote"] else None


# --- DVC itself, opened with these settings --------------------------------------------


def quiet() -> None:
    # DVC logs advice ("To track the changes with git, run ...") at INFO; we commit
    # for the user, and the core must not write to the terminal.
    logging.getLogger("dvc").setLevel(logging.WARNING)
    from dvc.ui import ui

    ui.error_console.quiet = True  # its spinners ("Checking graph") and blank lines on a TTY


@contextmanager
def open_repo(repo: Path, *, host: bool = False) -> Iterator[Any]:
    """DVC's Repo over `repo`, closed after the block; host=True: DVC reads the tracked
    .dvc/config only through tracked_part (its cache, state and remotes' other keys are
    the host's own), the same view host_config gives without DVC."""
    from dvc.repo import Repo

    quiet()
    dvc_repo = (_host_repo_class() if host else Repo)(str(repo))
    try:
        yield dvc_repo
    finally:
        dvc_repo.close()


def _host_repo_class() -> Any:
    from functools import cached_property

    from dvc.config import Config
    from dvc.repo import Repo

    class HostConfig(Config):  # type: ignore[misc]
        def _load_config(self, level: str) -> dict[str, Any]:
            if level != "repo":
                return super()._load_config(level)  # type: ignore[no-any-return]
            root = Path(self.dvc_dir).parent
            taken = tracked_part(_own(root), _tracked(root))
            nested: dict[str, Any] = {"remote": {}}
            for section, keys in taken.items():
                if section.startswith("remote "):
                    nested["remote"][section[len("remote ") :]] = dict(keys)
                else:
                    nested[section] = dict(keys)
            return nested

    class HostRepo(Repo):  # type: ignore[misc]
        @cached_property
        def config(self) -> Any:
            return HostConfig(
                self.dvc_dir,
                local_dvc_dir=self.local_dvc_dir,
                fs=self.fs,
                config=self._config,
                remote=self._remote,
                remote_config=self._remote_config,
            )

    return HostRepo
