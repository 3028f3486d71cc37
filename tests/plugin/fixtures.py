"""Every shared fixture, registered once for the whole suite by `pytest_plugins` in conftest.

Tests ask for these by name; the helpers they use (Registry, Host, ...) are imported from
the plugin's plain modules.  Session-scoped fixtures (moto, world, templates) are built on
first use and shared by every test of the run.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from plugin.attacks import World as AttacksWorld
from plugin.attacks import world as attacks_world
from plugin.fsguard import Guard
from plugin.hooks import Served
from plugin.host import FollowServer, Host, Moto, World, build_world, make_host, start_moto
from plugin.registry import UNSET, Registry, hermetic_env, make_home
from plugin.templates import Templates

if TYPE_CHECKING:
    from plugin.gateway import GatewayThread


@pytest.fixture(autouse=True)
def hermetic(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads or writes the real HOME, git config or DVC config; no analytics."""
    home = make_home(tmp_path_factory.mktemp("home"))
    for key, value in hermetic_env(home).items():
        monkeypatch.setenv(key, value)
    for key in UNSET:
        monkeypatch.delenv(key, raising=False)
    return home


@pytest.fixture
def fs_guard() -> Callable[..., Guard]:
    """fs_guard(*roots) takes a hashed listing of the trees now; see Guard.assert_only."""
    return Guard


# --- registries -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Templates:
    return Templates(tmp_path_factory.mktemp("templates"))


@pytest.fixture
def registry(templates: Templates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Registry:
    """A fresh registry: git repo, `gitmodel init` with a local DVC remote, bare origin.

    What plugin.registry.init_registry makes in tmp_path, copied from a session template.
    """
    return templates.fresh(tmp_path, monkeypatch)


@pytest.fixture
def registered(templates: Templates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Registry:
    """support v1.0.0 registered (not pushed): a copy of a session template."""
    return templates.copy("registered", tmp_path, monkeypatch)


@pytest.fixture
def template_copy(
    templates: Templates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], Registry]:
    """template_copy(NAME): a copy of session template NAME (plugin.templates.RECIPES)."""
    return lambda name: templates.copy(name, tmp_path, monkeypatch)


@pytest.fixture
def released(templates: Templates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Registry:
    """support v1.0.0 (pushed) in staging and production, v1.1.0 registered (pushed).

    A copy of a session template with its own repo, origin.git and dvc-remote in tmp_path.
    """
    return templates.copy("released", tmp_path, monkeypatch)


@pytest.fixture
def model(templates: Templates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Registry:
    """`released`, and v1.1.0 in staging: ready for a production canary (a template copy)."""
    return templates.copy("staged", tmp_path, monkeypatch)


@pytest.fixture
def deployed(templates: Templates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AttacksWorld:
    """plugin.attacks.deployed_world in tmp_path (repo, origin.git, dvc-remote, host, root),
    copied from a session template."""
    return attacks_world(templates.copy("deployed", tmp_path, monkeypatch), tmp_path)


@pytest.fixture(params=["client", "server"])
def served(
    request: pytest.FixtureRequest, templates: Templates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Served:
    """A registry whose origin holds main and support@v1.0.0, hooks on the side under test."""
    registry = templates.copy("pushed", tmp_path, monkeypatch)
    origin = tmp_path / "origin.git"
    if request.param == "server":
        registry.ok("hooks", "install", "--server", "--path", str(origin))
    return Served(registry, origin, request.param)


# --- hosts ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    server = start_moto(tmp_path_factory.mktemp("moto"))
    yield server
    server.proc.terminate()
    server.proc.wait(timeout=10)


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory, moto: Moto) -> World:
    return build_world(tmp_path_factory.mktemp("world"), moto)


@pytest.fixture
def host(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Host:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return make_host(world, tmp_path)


@pytest.fixture
def follow(host: Host) -> Iterator[FollowServer]:
    server = FollowServer(host.root)
    yield server
    server.stop()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that accepts connections and never says a word: a hung remote."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    server.close()


@pytest.fixture
def start_gateway() -> Iterator[Callable[..., GatewayThread]]:
    """start_gateway(root, backend, **settings): a GatewayThread, stopped after the test."""
    from plugin.gateway import GatewayThread  # aiohttp loads only for the gateway tests

    started: list[GatewayThread] = []

    def run(root: Path, backend: Any, **kw: Any) -> GatewayThread:
        gw = GatewayThread(root, backend, **kw)
        started.append(gw)
        return gw

    yield run
    for gw in started:
        gw.stop()
