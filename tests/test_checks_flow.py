"""checks.yaml through the registry: register, commit and push policy, the host's copy, the journal."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from plugin.attacks import run_git
from plugin.fsguard import Guard
from plugin.hooks import Served, refused
from plugin.registry import Registry, git

from gitmodel import checkrun, checks, hostlayout

CHECKS = "models/support/checks.yaml"
SOUND = 'checks:\n  - prompt: "Hello"\n    min_length: 1\n  - prompt: "Reset"\n    regex: "^[a-z ]+$"\n'
BROKEN = "checks:\n  - prompt: Hello\n    contain: hi\n"


@pytest.fixture
def reg(template_copy: Callable[[str], Registry]) -> Registry:
    """support v1.0.0 registered from models/support/m.gguf and pushed; no checks."""
    return template_copy("pushed")


def register_same_bytes(reg: Registry, *extra: str) -> Any:
    return reg.run("register", "support", "models/support/m.gguf", *extra)


# --- register and the commit hook ---------------------------------------------------------


def test_register_commits_the_checks_and_a_checks_only_change_is_a_patch(reg: Registry) -> None:
    reg.write(CHECKS, SOUND)
    result = register_same_bytes(reg)
    assert result.exit_code == 0, result.stderr
    assert "v1.0.1" in result.stdout and "functional checks changed" in result.stdout
    assert git(reg.root, "show", f"support@v1.0.1:{CHECKS}").stdout == SOUND
    assert git(reg.root, "status", "--porcelain", "--", CHECKS).stdout == ""

    reg.fails(1, "register", "support", "models/support/m.gguf")  # nothing changed: refused
    reg.write(CHECKS, SOUND.replace("Reset", "Refund"))
    assert "v1.0.2" in register_same_bytes(reg).stdout
    (reg.root / CHECKS).unlink()  # dropping the checks is a change too
    result = register_same_bytes(reg)
    assert "v1.0.3" in result.stdout, result.stderr
    assert git(reg.root, "show", f"support@v1.0.3:{CHECKS}", check=False).returncode != 0


def test_register_refuses_a_broken_or_linked_checks_file_and_writes_nothing(reg: Registry) -> None:
    reg.write(CHECKS, BROKEN)
    before = reg.snapshot()
    err = reg.fails(1, "register", "support", "models/support/m.gguf").stderr
    assert f"{CHECKS}: check 1 key 'contain' is refused: the rules are exact" in err
    assert reg.snapshot() == before

    (reg.root / CHECKS).unlink()
    (reg.root / CHECKS).symlink_to(reg.root / "gitmodel.yaml")
    before = reg.snapshot()
    assert "is a symbolic link" in reg.fails(1, "register", "support", "models/support/m.gguf").stderr
    assert reg.snapshot() == before


def test_the_commit_hook_judges_checks_and_keeps_them_immutable(reg: Registry) -> None:
    reg.write(CHECKS, SOUND)
    assert register_same_bytes(reg).exit_code == 0
    head = git(reg.root, "rev-parse", "HEAD").stdout

    reg.write(CHECKS, SOUND + "  - {prompt: x, contains: y}\n")  # an edit of v1.0.1's checks
    git(reg.root, "add", CHECKS)
    proc = git(reg.root, "commit", "-q", "-m", "edit", check=False)
    assert proc.returncode != 0 and "[immutable-version-files]" in proc.stderr, proc.stderr
    assert "checks.yaml would differ from support@v1.0.1" in proc.stderr

    reg.write(CHECKS, BROKEN)
    git(reg.root, "add", CHECKS)
    proc = git(reg.root, "commit", "-q", "-m", "broken", check=False)
    assert proc.returncode != 0 and f"{CHECKS} [schema]" in proc.stderr, proc.stderr
    assert "check 1 key 'contain' is refused" in proc.stderr
    assert git(reg.root, "rev-parse", "HEAD").stdout == head


# --- the push policy (client pre-push, and the server's pre-receive) ------------------------


def test_a_pushed_version_with_broken_checks_is_refused(served: Served) -> None:
    served.reg.write(CHECKS, BROKEN)
    served.edit_meta(lambda m: m.update(version="v1.0.1"))
    served.commit("checks")
    served.tag("support@v1.0.1")
    before = served.remote_refs()
    err = refused(served.push("HEAD:refs/heads/main", "refs/tags/support@v1.0.1"), "support@v1.0.1", "schema")
    assert "check 1 key 'contain' is refused" in err
    assert served.remote_refs() == before


def test_a_checks_only_change_must_be_a_patch(served: Served) -> None:
    served.reg.write(CHECKS, SOUND)
    served.edit_meta(lambda m: m.update(version="v1.1.0"))
    served.commit("checks")
    served.tag("support@v1.1.0")
    err = refused(
        served.push("HEAD:refs/heads/main", "refs/tags/support@v1.1.0"), "support@v1.1.0", "bump-level"
    )
    assert "functional checks changed, which needs a patch bump" in err

    served.git("tag", "-d", "support@v1.1.0")
    served.edit_meta(lambda m: m.update(version="v1.0.1"))
    served.commit("checks, as a patch")
    served.tag("support@v1.0.1")
    proc = served.push("HEAD:refs/heads/main", "refs/tags/support@v1.0.1")
    assert proc.returncode == 0, proc.stderr


# --- the host: the copy, the manifest, the reload answer's check in the journal -------------


class Gateway:
    """A stand-in for the gateway: /reload answers with a functional check it ran itself.

    It reads the checks the host copied into the new version (checks.for_version) and
    judges them against a fixed completion, as the real gateway judges a started instance.
    """

    def __init__(self, root: Path, answer: str) -> None:
        self.root, self.answer, self.version = root, answer, ""
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._json(200, {"model": "support", "version": outer.version})

            def do_POST(self) -> None:
                vdir = Path(os.path.realpath(hostlayout.current_link(outer.root, "support")))
                found = checks.for_version(vdir)
                outcomes = tuple(
                    checkrun.Outcome(n, c.judge(outer.answer))
                    for n, c in enumerate(found.items if found else (), 1)
                )
                result = checkrun.CheckResult(outcomes)
                if result.passed:
                    outer.version = vdir.name
                    self._json(200, {"check": result.to_json()})
                else:
                    self._json(409, {"error": result.describe(), "check": result.to_json()})

            def _json(self, status: int, doc: dict[str, Any]) -> None:
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def flags(self) -> list[str]:
        return ["--reload-url", f"{self.url}/reload", "--info-url", f"{self.url}/info"]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    stand_in = Gateway(tmp_path / "root", answer="hello there")
    yield stand_in
    stand_in.stop()


@pytest.mark.slow
def test_deploy_copies_the_checks_and_journals_the_gateways_verdict(
    reg: Registry, tmp_path: Path, gateway: Gateway, fs_guard: Callable[..., Guard]
) -> None:
    meta = str(reg.meta())  # production wants the evidence (metrics) each version carries
    reg.write(CHECKS, SOUND)
    assert register_same_bytes(reg, "--push", "--meta", meta).exit_code == 0  # v1.0.1
    reg.write(CHECKS, 'checks:\n  - prompt: "Hello"\n    exact: "goodbye"\n')
    assert register_same_bytes(reg, "--push", "--meta", meta).exit_code == 0  # v1.0.2: its check fails
    host, root = tmp_path / "host", tmp_path / "root"
    run_git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(host))

    def deploy(version: str) -> Any:
        for env in ("staging", "production"):
            reg.ok("promote", "support", version, env, "--push", "--force", "--reason", "test")
        run_git(host, "fetch", "-q", "--tags", "origin")
        return reg.run("deploy", "production", "support", "--root", str(root), *gateway.flags(), cwd=host)

    result = deploy("v1.0.1")
    assert result.exit_code == 0, result.stderr
    vdir = hostlayout.version_dir(root, "support", "v1.0.1")
    copy = vdir / hostlayout.CHECKS
    assert copy.read_text() == SOUND and oct(copy.stat().st_mode & 0o777) == "0o444"
    found = checks.for_version(vdir)
    assert found is not None and hostlayout.read_manifest(vdir)["checks"] == found.digest
    checked = [r for r in _journal(root) if r["step"] == "checked"]
    assert checked[-1]["check"] == {"passed": True, "failed": [], "total": 2}

    guard = fs_guard(root)
    result = deploy("v1.0.2")
    assert result.exit_code == 1, result.stderr
    assert "1 of 1 checks failed: check 1: expected exactly 'goodbye', got 'hello there'" in result.stderr
    assert os.readlink(hostlayout.current_link(root, "support")) == "versions/v1.0.1"
    last = [r for r in _journal(root) if r["step"] == "checked"][-1]
    assert last["version"] == "v1.0.2" and last["passed"] is False
    assert last["check"]["failed"] == [{"prompt": 1, "why": "expected exactly 'goodbye', got 'hello there'"}]
    mroot = hostlayout.model_root(root, "support")
    guard.assert_only(mroot / "journal.jsonl", mroot / "versions", mroot / ".staging", mroot / "current")


def _journal(root: Path) -> list[dict[str, Any]]:
    path = hostlayout.journal_path(hostlayout.model_root(root, "support"))
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
