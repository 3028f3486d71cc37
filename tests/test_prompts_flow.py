"""Prompt templates through the registry: register, show, the commit and push policy, promote, host."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from plugin.attacks import run_git
from plugin.fsguard import Guard
from plugin.hooks import Served, refused
from plugin.registry import Registry, git

from gitmodel import hostlayout, prompts
from gitmodel.errors import PolicyError

TEMPLATE = "models/support/prompts/support.txt"
TEXT = "You are a support agent for {company}.\nAnswer: {question}\n"
EDITED = TEXT.replace("support agent", "helpful support agent")


def sha(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def reg(template_copy: Callable[[str], Registry]) -> Registry:
    """support v1.0.0 registered and pushed, without templates."""
    return template_copy("pushed")


def register(reg: Registry, *extra: str) -> Any:
    return reg.run("register", "support", "models/support/m.gguf", *extra)


def with_matrix(reg: Registry, matrix: str, push: bool = False) -> None:
    """Append a `compatibility:` section to gitmodel.yaml and commit it (through the hooks)."""
    path = reg.root / "gitmodel.yaml"
    path.write_text(path.read_text() + matrix)
    git(reg.root, "add", "gitmodel.yaml")
    git(reg.root, "commit", "-q", "-m", "compatibility")
    if push:
        git(reg.root, "push", "-q", "origin", "HEAD")


def test_register_hashes_templates_and_a_text_change_is_a_patch(reg: Registry) -> None:
    reg.write(TEMPLATE, TEXT)
    result = register(reg)
    assert result.exit_code == 0, result.stderr
    assert "v1.0.1" in result.stdout and "prompt template support changed" in result.stdout
    assert git(reg.root, "show", f"support@v1.0.1:{TEMPLATE}").stdout == TEXT
    assert git(reg.root, "status", "--porcelain", "--", "models").stdout == ""

    shown = json.loads(reg.ok("show", "support@v1.0.1", "--json").stdout)
    assert shown["metadata"]["prompts"] == {"support": sha(TEXT)}
    text = reg.ok("show", "support@v1.0.1").stdout
    assert f"prompts.support        {sha(TEXT)[:19]}…" in text, text

    reg.fails(1, "register", "support", "models/support/m.gguf")  # same text: nothing to register
    reg.write(TEMPLATE, EDITED)
    err = reg.fails(1, "register", "support", "models/support/m.gguf", "--version", "v1.1.0").stderr
    assert "prompt template support changed, which needs a patch bump: use v1.0.2" in err
    result = register(reg)
    assert "v1.0.2" in result.stdout, result.stderr
    meta = git(reg.root, "show", "support@v1.0.2:models/support/model.yaml").stdout
    assert sha(EDITED) in meta and sha(TEXT) not in meta

    (reg.root / TEMPLATE).unlink()  # dropping the template is a change too, and committed
    result = register(reg)
    assert "v1.0.3 (patch bump: prompt template support changed)" in result.stdout, result.stderr
    assert git(reg.root, "ls-tree", "support@v1.0.3", "--", "models/support/prompts").stdout == ""
    assert "prompts" not in git(reg.root, "show", "support@v1.0.3:models/support/model.yaml").stdout


def test_register_refuses_a_linked_or_misnamed_template_and_writes_nothing(
    reg: Registry, tmp_path: Path, fs_guard: Callable[..., Guard]
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret\n")
    (reg.root / "models/support/prompts").mkdir()
    (reg.root / TEMPLATE).symlink_to(secret)
    before = reg.snapshot()
    guard = fs_guard(reg.root, tmp_path / "origin.git")
    err = reg.fails(1, "register", "support", "models/support/m.gguf").stderr
    assert "prompts/'support.txt' is refused: it is a symbolic link, not a plain file" in err
    assert reg.snapshot() == before
    guard.assert_only()

    (reg.root / TEMPLATE).unlink()
    reg.write("models/support/prompts/Support Agent.txt", TEXT)
    err = reg.fails(1, "register", "support", "models/support/m.gguf").stderr
    assert "a template is NAME.txt" in err
    assert reg.snapshot()[0] == before[0]


def test_the_commit_hook_refuses_an_edit_in_place_and_a_link(reg: Registry) -> None:
    reg.write(TEMPLATE, TEXT)
    assert register(reg).exit_code == 0
    head = git(reg.root, "rev-parse", "HEAD").stdout

    reg.write(TEMPLATE, EDITED)
    git(reg.root, "add", TEMPLATE)
    proc = git(reg.root, "commit", "-q", "-m", "edit the template", check=False)
    assert proc.returncode != 0 and "[immutable-version-files]" in proc.stderr, proc.stderr
    assert f"{TEMPLATE} would differ from support@v1.0.1" in proc.stderr
    assert git(reg.root, "rev-parse", "HEAD").stdout == head

    git(reg.root, "checkout", "-q", "HEAD", "--", TEMPLATE)
    (reg.root / "models/support/prompts/evil.txt").symlink_to("/etc/passwd")
    git(reg.root, "add", "models/support/prompts/evil.txt")
    proc = git(reg.root, "commit", "-q", "-m", "a link", check=False)
    assert proc.returncode != 0 and "models/support/prompts [schema]" in proc.stderr, proc.stderr
    assert "'evil.txt' is refused: it is a symbolic link" in proc.stderr
    assert git(reg.root, "rev-parse", "HEAD").stdout == head


# --- the push policy: the pusher's pre-push, and the bare remote's real pre-receive ----------


def _registered_with_template(served: Served) -> None:
    served.reg.write(TEMPLATE, TEXT)
    served.reg.ok("register", "support", "models/support/m.gguf", "--push")  # v1.0.1 through the hooks


# The client's pre-push judges tags; a branch's files are the commit hook's (bypassed here
# with --no-verify) and the server's.
@pytest.mark.parametrize("served", ["server"], indirect=True)
def test_an_edit_in_place_is_refused_by_the_servers_pre_receive(served: Served) -> None:
    _registered_with_template(served)
    served.reg.write(TEMPLATE, EDITED)
    served.commit("edit v1.0.1's template in place")
    before = served.remote_refs()
    err = refused(
        served.push("HEAD:refs/heads/main"), "main:models/support/model.yaml", "immutable-version-files"
    )
    assert "differ from support@v1.0.1, which is registered and immutable" in err
    assert served.remote_refs() == before


def test_a_template_change_must_be_a_patch_and_hashed(served: Served) -> None:
    _registered_with_template(served)
    served.reg.write(TEMPLATE, EDITED)
    served.edit_meta(lambda m: m.update(version="v1.1.0", prompts={"support": sha(EDITED)}))
    served.commit("new template text as a minor")
    served.tag("support@v1.1.0")
    err = refused(
        served.push("HEAD:refs/heads/main", "refs/tags/support@v1.1.0"), "support@v1.1.0", "bump-level"
    )
    assert "prompt template support changed, which needs a patch bump" in err

    served.git("tag", "-d", "support@v1.1.0")
    served.edit_meta(lambda m: m.update(version="v1.0.2", prompts={"support": sha(TEXT)}))  # the old hash
    served.commit("hash left alone")
    served.tag("support@v1.0.2")
    err = refused(
        served.push("HEAD:refs/heads/main", "refs/tags/support@v1.0.2"),
        "support@v1.0.2",
        "metadata-matches-tag",
    )
    assert f"prompts.support says {sha(TEXT)} but prompts/support.txt is {sha(EDITED)}" in err


# --- the compatibility matrix: promote, and the host ------------------------------------------


def test_promote_refuses_an_incompatible_template_naming_the_pair_and_rule(reg: Registry) -> None:
    reg.write(TEMPLATE, TEXT)
    assert register(reg).exit_code == 0  # v1.0.1 carries support.txt (TEXT)
    with_matrix(
        reg,
        "compatibility:\n  support:\n"
        f'    - versions: ">=1.0.0, <2.0.0"\n      prompts: ["support@{sha(EDITED)}"]\n',
    )
    before = reg.snapshot()
    err = reg.fails(1, "promote", "support", "v1.0.1", "staging").stderr
    assert (
        f"support v1.0.1 with prompt template support ({sha(TEXT)[:19]}…) is incompatible: gitmodel.yaml "
        f"compatibility.support[0] (versions >=1.0.0, <2.0.0) allows only support@{sha(EDITED)[:19]}…"
    ) in err
    assert reg.snapshot() == before  # no tag

    reg.write(TEMPLATE, EDITED)
    assert register(reg).exit_code == 0  # v1.0.2: the text the matrix names
    reg.ok("promote", "support", "v1.0.2", "staging")


@pytest.mark.slow
def test_the_host_refuses_an_embedding_model_the_matrix_does_not_allow(
    reg: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fs_guard: Callable[..., Guard]
) -> None:
    reg.write(TEMPLATE, TEXT)
    assert register(reg, "--push").exit_code == 0  # v1.0.1
    with_matrix(
        reg,
        "compatibility:\n  support:\n"
        '    - versions: "*"\n      prompts: [support]\n      embeddings: [bge-small]\n',
        push=True,
    )
    reg.ok("promote", "support", "v1.0.1", "staging", "--push")
    host, root = tmp_path / "host", tmp_path / "root"
    run_git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(host))
    host_file = tmp_path / "host.yaml"
    host_file.write_text(f"root: {root}\nembedding_model: e5-large\n")
    monkeypatch.setenv("GITMODEL_HOST_CONFIG", str(host_file))
    root.mkdir()
    guard = fs_guard(root, host)
    result = reg.run("deploy", "staging", "support", "--root", str(root), cwd=host)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert (
        f"support v1.0.1 with embedding model 'e5-large' (this host's, {host_file}) is incompatible: "
        "gitmodel.yaml compatibility.support[0] (versions *) allows only bge-small"
    ) in result.stderr
    assert not os.path.lexists(hostlayout.current_link(root, "support"))
    mroot = hostlayout.model_root(root, "support")
    guard.assert_only(mroot, host / ".git")  # a journal of the refusal, fetched refs; nothing served
    journal = [json.loads(x) for x in hostlayout.journal_path(mroot).read_text().splitlines()]
    assert journal[-1]["step"] == "failed" and "e5-large" in journal[-1]["reason"]


@pytest.mark.parametrize("served", ["server"], indirect=True)
def test_the_server_refuses_a_promotion_tag_the_matrix_forbids(served: Served) -> None:
    _registered_with_template(served)  # v1.0.1 with support.txt (TEXT)
    with_matrix(served.reg, f'compatibility:\n  support:\n    - prompts: ["support@{sha(EDITED)}"]\n')
    assert served.push("HEAD:refs/heads/main").returncode == 0
    served.tag("support#staging#1", "support@v1.0.1^{commit}")  # promote by hand, past the client
    before = served.remote_refs()
    err = refused(served.push("refs/tags/support#staging#1"), "support#staging#1", "compatibility")
    assert "support v1.0.1 with prompt template support" in err and "is incompatible" in err
    assert served.remote_refs() == before


@pytest.mark.slow
def test_the_host_copies_the_templates_beside_the_artifact(reg: Registry, tmp_path: Path) -> None:
    reg.write(TEMPLATE, TEXT)
    assert register(reg, "--push").exit_code == 0  # v1.0.1
    reg.ok("promote", "support", "v1.0.1", "staging", "--push")
    host, root = tmp_path / "host", tmp_path / "root"
    run_git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(host))
    result = reg.run("deploy", "staging", "support", "--root", str(root), cwd=host)
    assert result.exit_code == 0, result.stderr
    vdir = hostlayout.version_dir(root, "support", "v1.0.1")
    copy = vdir / hostlayout.PROMPTS / "support.txt"
    assert copy.read_text() == TEXT and oct(copy.stat().st_mode & 0o777) == "0o444"
    assert hostlayout.read_manifest(vdir)["prompts"] == {"support": sha(TEXT)}
    assert prompts.for_version(vdir) == {"support": TEXT.encode()}

    os.chmod(copy.parent, 0o755)
    os.chmod(copy, 0o644)
    copy.write_text(EDITED)  # someone edits the served copy
    with pytest.raises(PolicyError, match="the copy is refused: its sha256 is not the manifest's"):
        prompts.for_version(vdir)
    result = reg.run("deploy", "staging", "support", "--root", str(root), cwd=host)
    assert result.exit_code == 0, result.stderr  # not hot any more: built again from the cache
    assert prompts.for_version(vdir) == {"support": TEXT.encode()}
