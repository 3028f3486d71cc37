"""A registry driven through the CLI in-process: `Registry`, `git`, `refs` and test data.

Plain helpers; the `registry` fixture that makes one lives in plugin.fixtures.
"""

from __future__ import annotations

import random
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gitmodel.cli.main import cli

META = """\
base_model: llama-3-8b-instruct
quantization: q4_k_m
description: Retrained with Q1 support tickets
training: {data_hash: "sha256:7b2e91ab", lr: 2.0e-4, epochs: 3, rank: 16}
inference: {temperature: 0.2, top_p: 0.9, max_tokens: 512}
prompt_template: support-v3.2
eval_set: support-eval-2026q1
metrics: {accuracy: 0.942, hallucination_rate: 0.021, latency_p95_ms: 890}
"""
# What the default gitmodel.yaml's `evidence:` requires for production besides metrics.accuracy.
EVIDENCE = 'training: {data_hash: "sha256:0123abcd", epochs: 3}\neval_set: support-eval-1\n'
# No housekeeping: `maintenance run --auto` after each fetch and `gc --auto` after each push
# received were one git process in twenty, for repositories that never live long enough.
GITCONFIG = (
    "[user]\n\tname = Ada Tester\n\temail = ada@example.com\n"
    "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
    "[maintenance]\n\tauto = false\n[receive]\n\tautogc = false\n"
)


def hermetic_env(home: Path) -> dict[str, str]:
    """The variables that keep git, DVC and boto away from the real HOME and config."""
    return {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
        "DVC_NO_ANALYTICS": "1",
        "DVC_GLOBAL_CONFIG_DIR": str(home / ".config" / "dvc"),
        "DVC_SYSTEM_CONFIG_DIR": str(home / "etc-dvc"),
        "DVC_SITE_CACHE_DIR": str(home / "dvc-site-cache"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "GITMODEL_HOST_CONFIG": str(home / "etc-gitmodel" / "host.yaml"),  # never the real /etc
    }


# Variables a test's own environment must not inherit from the caller's.
UNSET = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_AUTHOR_DATE",
    "GIT_COMMITTER_DATE",
    "GITMODEL_TRUST_FILE",
    "GITMODEL_CONFIG",
    "GITMODEL_SERVE_RELOAD_TOKEN",
)


def make_home(home: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text(GITCONFIG)
    return home


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=check)


def refs(cwd: Path) -> list[str]:
    """Every ref with its target: a snapshot to compare before and after a refusal."""
    return git(cwd, "for-each-ref", "--format=%(refname) %(objectname)").stdout.splitlines()


@dataclass
class Registry:
    root: Path
    remote: Path
    run: Callable[..., Result]

    def write(self, rel: str, data: bytes | str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            path.write_text(data)
        else:
            path.write_bytes(data)
        return path

    def meta(self, text: str = META, name: str = "meta.yaml") -> Path:
        return self.write(name, text)

    def ok(self, *args: str) -> Result:
        result = self.run(*args)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return result

    def fails(self, code: int, *args: str) -> Result:
        result = self.run(*args)
        assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
        assert result.stderr.startswith("gitmodel: error: "), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        return result

    def snapshot(self) -> tuple[list[str], str, list[str]]:
        """Refs, tracked/untracked files and DVC cache entries, to prove nothing was written."""
        status = git(self.root, "status", "--porcelain", "--ignored", "--untracked-files=all").stdout
        cache = sorted(
            str(p.relative_to(self.root)) for p in (self.root / ".dvc" / "cache").rglob("*") if p.is_file()
        )
        return refs(self.root), status, cache


def make_runner(monkeypatch: pytest.MonkeyPatch, root: Path) -> Callable[..., Result]:
    runner = CliRunner()

    def run(*args: str, cwd: Path | None = None) -> Result:
        monkeypatch.chdir(cwd or root)
        return runner.invoke(cli, list(args), catch_exceptions=False)

    return run


def init_registry(base: Path, monkeypatch: pytest.MonkeyPatch) -> Registry:
    """BASE/repo after `gitmodel init --remote BASE/dvc-remote`, with a bare BASE/origin.git."""
    root, remote, origin = base / "repo", base / "dvc-remote", base / "origin.git"
    root.mkdir()
    git(base, "init", "-q", "--bare", str(origin))
    git(root, "init", "-q")
    git(root, "remote", "add", "origin", str(origin))
    reg = Registry(root, remote, make_runner(monkeypatch, root))
    reg.ok("init", "--remote", str(remote))
    return reg


def random_bytes(n: int, seed: int) -> bytes:
    """N seeded bytes; over 64 they are a valid GGUF (register checks `.gguf` headers)."""
    from gitmodel.demo import gguf_bytes

    return gguf_bytes(n, seed) if n > 64 else random.Random(seed).randbytes(n)
