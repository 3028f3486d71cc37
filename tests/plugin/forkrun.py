"""dvc, gto and gitmodel run as their console scripts run them, without paying their imports
at every command.

A `dvc status` costs about 0.45 s of CPU, 0.35 s of which is Python importing DVC.  Here
one zygote process per test session (per xdist worker) imports the three CLIs once and
forks for each command: the command still runs in a process of its own, in its own
directory and environment, with its own stdin, stdout, stderr and exit code, through
the same entry point as the installed script (`dvc.cli.main`, `gto.cli.app`,
`gitmodel.cli.main.main`), and nothing it leaves in memory reaches the next command.

    run("dvc", ["status", "-c"], cwd=repo)   # a subprocess.CompletedProcess[str]

What it is not: the installed script's own start (its shebang, `sys.path` from scratch).
Tests that are about that run the binary (plugin.clients.run_client(..., binary=True)).

CPU: each command's own CPU (os.wait4) is added to `CPU`, which plugin.timing counts in
the test that ran it; the zygote's one-time imports are counted when it exits.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

# name -> (module, attribute): what the installed console script calls
ENTRIES = {
    "dvc": ("dvc.cli", "main"),
    "gto": ("gto.cli", "app"),
    "gitmodel": ("gitmodel.cli.main", "main"),
}
# Imported once by the zygote: the entry points and what their commands import on the way
# (listed from `sys.modules` after add, status, push, pull, remote, artifacts get, gto show
# and history; a module missing here is only imported by each command, as before), and
# then every gitmodel module.
WARM = (
    *("dvc.cli", "dvc.cli.parser", "dvc.repo", "dvc.repo.index", "dvc.repo.artifacts"),
    *("dvc.repo.open_repo", "dvc.repo.brancher", "dvc.repo.worktree", "dvc.repo.graph"),
    *("dvc.repo.stage", "dvc.repo.trie", "dvc.repo.experiments", "dvc.repo.datasets"),
    *("dvc.repo.metrics", "dvc.repo.params", "dvc.repo.plots", "dvc.repo.add", "dvc.repo.status"),
    *("dvc.repo.push", "dvc.repo.pull", "dvc.repo.fetch", "dvc.repo.checkout", "dvc.output"),
    *("dvc.stage", "dvc.dependency.repo", "dvc.cachemgr", "dvc.data_cloud", "dvc.dirs"),
    *("dvc.lock", "dvc.rwlock", "dvc.scm", "dvc.utils.strictyaml", "dvc.fs.dvc"),
    *("dvc_data.fs", "dvc_data.index", "dvc_data.index.checkout", "dvc_data.index.collect"),
    *("dvc_data.index.fetch", "dvc_data.index.push", "dvc_data.hashfile.status"),
    *("dvc_objects.fs.local", "dvc_render", "dvc_studio_client.model_registry"),
    *("scmrepo.git", "scmrepo.fs", "scmrepo.git.lfs", "scmrepo.noscm", "dulwich.repo", "pygit2"),
    *("networkx", "requests", "aiohttp", "rich.console", "psutil", "fsspec", "ruamel.yaml"),
    *("flufl.lock", "configobj", "platformdirs", "xml.etree.ElementTree"),
    *("gto.cli", "gto.api", "gitmodel.cli.main"),
)

CPU = [0.0]  # CPU seconds of every forked command so far (this process's view)
_LOCK = threading.Lock()
_zygote: Zygote | None = None


def run(
    name: str,
    args: Sequence[str],
    cwd: Path,
    env: dict[str, str] | None = None,
    input: str | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """`subprocess.run([NAME, *ARGS], cwd=CWD, env=ENV, input=INPUT, capture_output=True,
    text=True, timeout=TIMEOUT)` for NAME in ENTRIES, forked from the zygote."""
    global _zygote
    with _LOCK:
        zygote = _ready()
        try:
            return zygote.run(name, list(args), cwd, dict(os.environ if env is None else env), input, timeout)
        except BaseException:
            # Interrupted half-way (pytest-timeout, ^C): its answer would be read as the next
            # command's; a new zygote starts clean instead.
            zygote.kill()
            _zygote = None
            raise


def start(name: str, args: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> Started:
    """`subprocess.Popen([NAME, *ARGS], cwd=CWD, env=ENV)`, forked from the zygote: for a
    command a test stops halfway (plugin.server.kill_at).  Until it is waited for, the
    zygote is its alone: the next `run` or `start` kills it if it was left running."""
    global _zygote
    with _LOCK:
        zygote = _ready()
        try:
            started = Started(zygote, name, list(args), zygote.send(name, list(args), cwd, env, None))
        except BaseException:
            zygote.kill()
            _zygote = None
            raise
        zygote.started = started
        return started


def _ready() -> Zygote:
    """The zygote, started if need be, with no command of an earlier `start` still running."""
    global _zygote
    if _zygote is not None and _zygote.started is not None:
        _zygote.kill()  # a started command nobody waited for: its answer must not be taken
        _zygote = None
    if _zygote is None or _zygote.proc.poll() is not None:
        _zygote = Zygote()
    return _zygote


class Started:
    """A command forked by `start`: its pid (and process group), poll, kill, wait."""

    def __init__(self, zygote: Zygote, name: str, args: list[str], pid: int) -> None:
        self.zygote, self.argv, self.pid = zygote, [name, *args], pid
        self.result: subprocess.CompletedProcess[str] | None = None

    def poll(self) -> int | None:
        if self.result is None and self.zygote.answered():
            self.wait(60)
        return None if self.result is None else self.result.returncode

    def kill(self) -> None:
        """SIGKILL the command alone, as `Popen.kill` would (what it started lives on)."""
        if self.result is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def wait(self, timeout: float) -> subprocess.CompletedProcess[str]:
        if self.result is None:
            self.result = self.zygote.receive(self.argv, timeout)
            self.zygote.started = None
        return self.result


class Zygote:
    def __init__(self) -> None:
        self.scratch = Path(tempfile.mkdtemp(prefix="gitmodel-forkrun-"))
        self.running: int | None = None  # the command's pid (and process group) while it runs
        self.started: Started | None = None  # a command of `start` not waited for yet
        self.proc = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=(self.scratch / "zygote.log").open("wb"),
        )
        ready = self._line(120)
        assert ready == "ready", f"the zygote did not start: {(self.scratch / 'zygote.log').read_text()}"
        atexit.register(self.stop)

    def run(
        self,
        name: str,
        args: list[str],
        cwd: Path,
        env: dict[str, str],
        input: str | None,
        timeout: float | None,
    ) -> subprocess.CompletedProcess[str]:
        pid = self.send(name, args, cwd, env, input)
        try:
            return self.receive([name, *args], timeout)
        except TimeoutError:
            os.killpg(pid, signal.SIGKILL)  # the command and what it started
            self._line(60)
            raise subprocess.TimeoutExpired([name, *args], timeout or 0) from None

    def send(
        self, name: str, args: list[str], cwd: Path, env: dict[str, str] | None, input: str | None
    ) -> int:
        """Fork NAME ARGS; its pid."""
        Path(self.scratch / "stdin").write_text(input or "")
        paths = {part: str(self.scratch / part) for part in ("stdin", "stdout", "stderr")}
        env = dict(os.environ if env is None else env)
        request = {"name": name, "args": args, "cwd": str(cwd), "env": env, **paths}
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request).encode() + b"\n")
        self.proc.stdin.flush()
        self.running = int(self._line(60))
        return self.running

    def answered(self) -> bool:
        """Whether the running command's answer is there to read (it has exited)."""
        assert self.proc.stdout is not None
        return bool(select.select([self.proc.stdout], [], [], 0)[0])

    def receive(self, argv: list[str], timeout: float | None) -> subprocess.CompletedProcess[str]:
        """The running command's answer, once it exits (TimeoutError after TIMEOUT)."""
        done = self._line(timeout)
        self.running = None
        code, cpu = json.loads(done)
        CPU[0] += cpu
        out, err = (_text((self.scratch / part).read_bytes()) for part in ("stdout", "stderr"))
        return subprocess.CompletedProcess(argv, code, out, err)

    def _line(self, timeout: float | None) -> str:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the zygote died: {(self.scratch / 'zygote.log').read_text()[-2000:]}")
        return line.decode().strip()

    def kill(self) -> None:
        if self.running is not None:
            with contextlib.suppress(OSError):
                os.killpg(self.running, signal.SIGKILL)
        self.proc.kill()
        self.proc.wait(30)
        shutil.rmtree(self.scratch, ignore_errors=True)

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(30)
        shutil.rmtree(self.scratch, ignore_errors=True)


def _text(data: bytes) -> str:
    """What text=True makes of captured bytes: decoded, universal newlines."""
    return data.decode(errors="replace").replace("\r\n", "\n").replace("\r", "\n")


# --- the zygote (this file run as a script) --------------------------------------------


def _serve() -> None:
    import importlib

    del sys.path[0]  # this folder: its modules (host, registry, ...) must shadow nothing

    import gc
    import pkgutil

    import gitmodel

    for module in WARM:
        with contextlib.suppress(ImportError):  # another DVC: each command imports what it needs
            importlib.import_module(module)
    for found in pkgutil.walk_packages(gitmodel.__path__, "gitmodel."):  # commands import lazily
        if not found.name.endswith("__main__"):  # that one runs the CLI
            importlib.import_module(found.name)
    assert threading.active_count() == 1, "an import started a thread: forking would copy it half-way"
    # What the imports made lives as long as every command: the commands' collections of
    # garbage need not walk it (nor touch its pages, which fork shares until written).
    gc.collect()
    gc.freeze()
    channel = os.fdopen(os.dup(1), "wb", buffering=0)
    requests = os.fdopen(os.dup(0), "rb", buffering=0)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)  # the commands never read the requests
    channel.write(b"ready\n")
    buffered = b""
    while True:
        while b"\n" not in buffered:
            chunk = requests.read(65536)
            if not chunk:
                return
            buffered += chunk
        line, buffered = buffered.split(b"\n", 1)
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)  # never returns
        channel.write(f"{pid}\n".encode())
        _, status, usage = os.wait4(pid, 0)
        cpu = usage.ru_utime + usage.ru_stime
        channel.write(json.dumps([os.waitstatus_to_exitcode(status), cpu]).encode() + b"\n")


def _child(request: dict[str, object]) -> None:
    code: object = 1
    try:
        os.setpgid(0, 0)
        for fd, part, flags in (
            (0, "stdin", os.O_RDONLY),
            (1, "stdout", os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
            (2, "stderr", os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        ):
            os.dup2(os.open(str(request[part]), flags, 0o600), fd)
        os.chdir(str(request["cwd"]))
        os.environ.clear()
        os.environ.update(request["env"])  # type: ignore[arg-type]
        name = str(request["name"])
        sys.argv = [name, *request["args"]]  # type: ignore[misc]
        module, attr = ENTRIES[name]
        import importlib

        entry = getattr(importlib.import_module(module), attr)
        code = entry()
    except SystemExit as exc:
        code = exc.code
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        if code is None:
            code = 0
        elif not isinstance(code, int):
            print(code, file=sys.stderr)
            code = 1
        try:
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


if __name__ == "__main__":
    _serve()
