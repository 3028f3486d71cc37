"""Start-up of the push hooks: a push loads only the policy it needs (bench/hooks_speed.py times it).

git starts a fresh Python for every pre-push and pre-receive, so what the hook imports
is paid on every push. The hook runs here as git runs it (the installed shim, the ref
lines on stdin) under `python -X importtime`, and the modules it imported are read back:
- a branch push that touches no model validates no model.yaml (no jsonschema), judges
  no assignment and checks no DVC remote;
- a version tag pushed alone reads no gitmodel.yaml (no config, gate, rollout or branch
  rules), but does validate the version's model.yaml.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from plugin.registry import Registry, git

ZERO = "0" * 40
# Never on a push that pushes no version and no assignment (each costs 5-70 ms of start-up).
NOT_WITHOUT_A_MODEL = {
    "jsonschema",
    "referencing",
    "gitmodel.metadata",
    "gitmodel.policy.replay",
    "gitmodel.policy.assignments",
    "gitmodel.policy.dvcremote",
    "gitmodel.policy.lifecycle",  # only for a pushed lifecycle record
    "gitmodel.gating",
    "tempfile",
    "click",
    "dvc",
}
# Never on a push of a version tag alone: gitmodel.yaml is read only to judge moves and branches.
NOT_FOR_A_VERSION = {
    "gitmodel.config",
    "gitmodel.rollout",
    "gitmodel.policy.assignments",
    "gitmodel.policy.branches",
    "gitmodel.policy.envbranches",
    "gitmodel.policy.replay",
    "gitmodel.policy.lifecycle",
    "click",
    "dvc",
}


def hook_imports(hook: Path, cwd: Path, stdin: str, *args: str) -> set[str]:
    """Every module the installed hook's process imported (`-X importtime` on its stderr)."""
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    proc = subprocess.run(
        [str(hook), *args], cwd=cwd, env=env, input=stdin, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("import time:") and "|" in ln]
    names = {ln.rsplit("|", 1)[1].strip() for ln in lines} - {"imported package"}
    assert names, "no -X importtime output"
    return names | {m.split(".")[0] for m in names}


def rev(cwd: Path, spec: str) -> str:
    return git(cwd, "rev-parse", spec).stdout.strip()


def a_readme_commit(reg: Registry) -> tuple[str, str]:
    """(old, new) of main after a commit that touches no model."""
    old = rev(reg.root, "HEAD")
    reg.write("README.md", "a change that touches no model\n")
    git(reg.root, "add", "README.md")
    git(reg.root, "commit", "-q", "--no-verify", "-m", "readme")
    return old, rev(reg.root, "HEAD")


def test_a_branch_push_touching_no_model_loads_no_schema(template_copy: Callable[[str], Registry]) -> None:
    reg = template_copy("pushed")
    origin = reg.root.parent / "origin.git"
    reg.ok("hooks", "install", "--server", "--path", str(origin))
    old, new = a_readme_commit(reg)
    git(reg.root, "push", "-q", "--no-verify", "origin", "HEAD:refs/heads/incoming")  # the objects

    client = hook_imports(
        reg.root / ".git" / "hooks" / "pre-push",
        reg.root,
        f"refs/heads/main {new} refs/heads/main {old}\n",
        "origin",
        str(origin),
    )
    server = hook_imports(origin / "hooks" / "pre-receive", origin, f"{old} {new} refs/heads/main\n")
    for modules in (client, server):
        assert "gitmodel.policy.push" in modules  # the policy did run
        assert not modules & NOT_WITHOUT_A_MODEL, modules & NOT_WITHOUT_A_MODEL
    assert "gitmodel.policy.branches" in server  # the server judged the pushed tip


def test_a_version_tag_pushed_alone_reads_no_config(template_copy: Callable[[str], Registry]) -> None:
    reg = template_copy("pushed")
    origin = reg.root.parent / "origin.git"
    reg.ok("hooks", "install", "--server", "--path", str(origin))
    tag = "refs/tags/support@v1.0.0"
    pushed = rev(origin, tag)
    git(origin, "update-ref", "-d", tag)  # as if it arrived now: its objects are in origin

    modules = hook_imports(origin / "hooks" / "pre-receive", origin, f"{ZERO} {pushed} {tag}\n")
    assert {"gitmodel.policy.versions", "jsonschema"} <= modules  # its model.yaml was validated
    assert not modules & NOT_FOR_A_VERSION, modules & NOT_FOR_A_VERSION
