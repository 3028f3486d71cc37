"""`gitmodel verify`: the server hook's policy for CI, by range, by tag and over everything."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from plugin.fsguard import Guard
from plugin.hooks import Served
from plugin.registry import Registry, git, refs


def bad_tag(registry: Registry) -> None:
    """support v1.1.0 into production without staging, made with plain git."""
    git(registry.root, "tag", "-a", "-m", "x", "support#production#3", "support@v1.1.0^{commit}")


def test_a_clean_registry_verifies(released: Registry) -> None:
    assert "verified 4 tags of 1 models: the policy holds" in released.ok("verify", "--all").stdout
    data = json.loads(released.ok("verify", "--all", "--json").stdout)
    assert data == {"ok": True, "models": 1, "tags": 4, "violations": [], "warnings": []}


def test_violations_exit_1_and_name_the_rule(released: Registry) -> None:
    bad_tag(released)
    guard = Guard(released.root)
    result = released.run("verify", "--all")
    assert result.exit_code == 1
    assert result.stderr.startswith("gitmodel: error: refused support#production#3 [promotion-order]")
    data = json.loads(released.run("verify", "--all", "--json").stdout)
    assert data["ok"] is False
    assert [(v["subject"], v["rule"]) for v in data["violations"]] == [
        ("support#production#3", "promotion-order")
    ]
    guard.assert_unchanged()


def test_one_tag_is_judged_against_the_registry_before_it(released: Registry) -> None:
    bad_tag(released)
    released.ok("verify", "support#production#2", "refs/tags/support@v1.1.0")
    assert "[promotion-order]" in released.fails(1, "verify", "support#production#3").stderr


def test_a_range_judges_the_branch_update(released: Registry) -> None:
    old = git(released.root, "rev-parse", "HEAD").stdout.strip()
    meta = released.root / "models/support/model.yaml"
    meta.write_text(meta.read_text().replace("description:", "description: edited", 1))
    git(released.root, "commit", "-q", "--no-verify", "-am", "edit v1.1.0 in place")
    result = released.fails(1, "verify", f"{old}..HEAD")
    assert f"refused {old}..HEAD:models/support/model.yaml [immutable-version-files]" in result.stderr
    released.ok("verify", f"{old}..{old}")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ((), "give a REF-RANGE"),
        (("--all", "HEAD"), "give a REF-RANGE"),
        (("nope..HEAD",), "not a range of two commits"),
        (("no-such-ref",), "neither a commit"),
    ],
)
def test_usage_errors_exit_2(released: Registry, args: tuple[str, ...], words: str) -> None:
    assert words in released.fails(2, "verify", *args).stderr


def test_the_hook_has_a_time_budget(served: Served) -> None:
    if served.side == "client":
        git(served.root, "config", "gitmodel.hookBudget", "0.001")
    else:
        git(served.origin, "config", "gitmodel.hookBudget", "0.001")
    served.tag("support#staging#1", "support@v1.0.0^{commit}")
    before = served.remote_refs()
    proc = served.push("refs/tags/support#staging#1")
    assert proc.returncode != 0
    assert "took longer than its 0.001 s budget" in proc.stderr
    assert served.remote_refs() == before


@pytest.mark.slow
def test_pre_commit_manual_stage_runs_verify(released: Registry, tmp_path: Path) -> None:
    pytest.importorskip("pre_commit", reason="the test extras include pre-commit")
    src = tmp_path / "gitmodel-src"
    src.mkdir()
    shutil.copy(Path(__file__).resolve().parents[1] / ".pre-commit-hooks.yaml", src)
    git(src, "init", "-q")
    git(src, "add", ".pre-commit-hooks.yaml")
    git(src, "commit", "-q", "-m", "manifest")
    rev = git(src, "rev-parse", "HEAD").stdout.strip()
    released.write(
        ".pre-commit-config.yaml",
        f"repos:\n- repo: {src}\n  rev: {rev}\n  hooks: [{{id: gitmodel-verify}}]\n",
    )
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(bin_dir / "pre-commit"), "run", "--hook-stage", "manual", "gitmodel-verify"],
            cwd=released.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    assert run().returncode == 0
    before = refs(released.root)
    bad_tag(released)
    proc = run()
    assert proc.returncode != 0
    assert "refused support#production#3 [promotion-order]" in proc.stdout + proc.stderr
    assert set(refs(released.root)) - set(before) == {
        r for r in refs(released.root) if r.startswith("refs/tags/support#production#3")
    }
