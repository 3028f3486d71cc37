"""pre-push (client) and pre-receive (server): each rule, attacked from both sides.

`served` runs every test twice: once with only the pusher's pre-push hook, once with
only origin's pre-receive hook and `git push --no-verify` (what a user bypassing the
client hooks does).  Every refusal must leave origin's refs exactly as they were.
"""

from __future__ import annotations

import pytest
from plugin.hooks import Served, refused


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (
            "rollout:\n  triggers:\n    - {metric: error_rate, abovee: 0.1}\n",
            "rollout.triggers.0.abovee is not a trigger key; did you mean above?",
        ),
        (
            "rollout:\n  triggers:\n    - {metric: error_rate, above: 0.1, action: page}\n",
            "rollout.triggers.0.action must be one of rollback, alert, not 'page'",
        ),
        ("smoke: {command: 'touch /tmp/x'}\n", "smoke.command is a command line"),
    ],
)
def test_a_branch_with_a_bad_gitmodel_yaml_is_refused(served: Served, extra: str, words: str) -> None:
    cfg = served.root / "gitmodel.yaml"
    cfg.write_text(cfg.read_text() + extra)
    served.git("commit", "-q", "--no-verify", "-am", "config typo")
    before = served.remote_refs()
    proc = served.push("main")
    assert proc.returncode == 1
    err = refused(proc, "main:gitmodel.yaml", "config")
    assert words in err
    assert served.remote_refs() == before
    # A later commit that leaves the file alone is not blamed for it; one that fixes it passes.
    cfg.write_text(cfg.read_text().replace(extra, ""))
    served.git("commit", "-q", "--no-verify", "-am", "fixed")
    assert served.push("main").returncode == 0, served.push("main").stderr


def test_moving_a_version_tag_is_refused(served: Served) -> None:
    served.reg.write("notes.txt", "x")
    served.git("add", "notes.txt")
    served.git("commit", "-q", "-m", "notes")
    before = served.remote_refs()
    served.git("tag", "-f", "-a", "-m", "moved", "support@v1.0.0", "HEAD")
    err = refused(served.push("-f", "refs/tags/support@v1.0.0"), "support@v1.0.0", "immutable-tags")
    assert "never move" in err and "register a new version" in err
    assert served.remote_refs() == before


def test_deleting_a_version_tag_is_refused(served: Served) -> None:
    before = served.remote_refs()
    err = refused(served.push("--delete", "refs/tags/support@v1.0.0"), "support@v1.0.0", "immutable-tags")
    assert "never deleted" in err
    assert served.remote_refs() == before


def test_deleting_or_moving_an_assignment_tag_is_refused(served: Served) -> None:
    served.tag("support#staging#1", "support@v1.0.0^{commit}")
    assert served.push("refs/tags/support#staging#1").returncode == 0
    before = served.remote_refs()
    err = refused(
        served.push("--delete", "refs/tags/support#staging#1"), "support#staging#1", "immutable-tags"
    )
    assert "new assignment tag" in err
    served.git("tag", "-f", "-a", "-m", "moved", "support#staging#1", "HEAD~1")
    refused(served.push("-f", "refs/tags/support#staging#1"), "support#staging#1", "immutable-tags")
    assert served.remote_refs() == before


def test_lightweight_tag_in_our_namespace_is_refused(served: Served) -> None:
    before = served.remote_refs()
    served.tag("support@v2.0.0", annotated=False)
    served.tag("support#production#7", annotated=False)
    proc = served.push("refs/tags/support@v2.0.0", "refs/tags/support#production#7")
    err = refused(proc, "support@v2.0.0", "annotated-tags")
    assert "refused support#production#7 [annotated-tags]" in err  # every ref is reported
    assert "lightweight" in err
    assert served.remote_refs() == before


def test_foreign_tags_and_branches_pass(served: Served) -> None:
    served.tag("release-2024", annotated=False)
    served.tag("Support@v1", annotated=False)  # not our grammar: ignored, never a crash
    assert served.push("refs/tags/release-2024", "refs/tags/Support@v1").returncode == 0
    assert served.push("--delete", "refs/tags/release-2024").returncode == 0
    served.git("branch", "feature")
    assert served.push("feature").returncode == 0


def test_downgrade_is_refused(served: Served) -> None:
    served.edit_meta(lambda m: m.update(version="v0.9.0", prompt_template="older"))
    served.commit("downgrade")
    served.tag("support@v0.9.0")
    before = served.remote_refs()
    err = refused(
        served.push("--atomic", "HEAD:refs/heads/main", "refs/tags/support@v0.9.0"),
        "support@v0.9.0",
        "version-order",
    )
    assert "not greater than the latest version v1.0.0" in err
    assert served.remote_refs() == before


def test_patch_bump_hiding_new_bytes_is_refused(served: Served) -> None:
    fake = "0123456789abcdef0123456789abcdef"
    pointer = served.root / "models/support/m.gguf.dvc"
    old_md5 = pointer.read_text().split("md5: ", 1)[1].split()[0]
    pointer.write_text(pointer.read_text().replace(old_md5, fake))
    # model.yaml keeps its file hashes (hiding the change) but must name the new pointer
    served.edit_meta(
        lambda m: (m.update(version="v1.0.1", prompt_template="v4"), m["artifact"].update(dvc_md5=fake))
    )
    served.commit("sneak new bytes in as a patch")
    served.tag("support@v1.0.1")
    before = served.remote_refs()
    err = refused(
        served.push("HEAD:refs/heads/main", "refs/tags/support@v1.0.1"), "support@v1.0.1", "bump-level"
    )
    assert "needs a minor bump" in err and "v1.1.0" in err
    assert served.remote_refs() == before


def test_metadata_that_hides_its_pointer_is_refused(served: Served) -> None:
    pointer = served.root / "models/support/m.gguf.dvc"
    old_md5 = pointer.read_text().split("md5: ", 1)[1].split()[0]
    pointer.write_text(pointer.read_text().replace(old_md5, "f" * 32))
    served.edit_meta(lambda m: m.update(version="v1.0.1", prompt_template="v4"))
    served.commit("pointer and metadata disagree")
    served.tag("support@v1.0.1")
    before = served.remote_refs()
    err = refused(served.push("refs/tags/support@v1.0.1"), "support@v1.0.1", "metadata-matches-tag")
    assert "f" * 32 in err
    assert served.remote_refs() == before


def test_schema_breaking_metadata_is_refused(served: Served) -> None:
    served.edit_meta(lambda m: m.update(version="v1.0.1", prompt_template="v4", metrics={"accuracy": "high"}))
    sha = served.commit("bad metrics")
    served.tag("support@v1.0.1")
    before = served.remote_refs()
    err = refused(served.push("HEAD:refs/heads/main", "refs/tags/support@v1.0.1"), "support@v1.0.1", "schema")
    assert "metrics.accuracy" in err and "model.yaml" in err
    assert served.remote_refs() == before
    if served.side == "server":  # the quarantined objects were dropped with the push
        assert served.git("--git-dir", str(served.origin), "cat-file", "-e", sha, check=False).returncode != 0


def test_tag_on_a_commit_describing_another_version_is_refused(served: Served) -> None:
    served.tag("support@v1.1.0", "support@v1.0.0^{commit}")
    before = served.remote_refs()
    err = refused(served.push("refs/tags/support@v1.1.0"), "support@v1.1.0", "metadata-matches-tag")
    assert "describes support@v1.0.0" in err
    assert served.remote_refs() == before


def test_tag_without_metadata_is_refused(served: Served) -> None:
    served.reg.write("other.txt", "x")
    served.git("add", "other.txt")
    served.git("commit", "-q", "--no-verify", "-m", "x")
    served.git("rm", "-q", "-r", "models/support")
    served.git("commit", "-q", "--no-verify", "-m", "drop")
    served.tag("support@v2.0.0")
    before = served.remote_refs()
    err = refused(served.push("refs/tags/support@v2.0.0"), "support@v2.0.0", "schema")
    assert "models/support/model.yaml is missing" in err
    assert served.remote_refs() == before


def test_unknown_environment_is_refused(served: Served) -> None:
    served.tag("support#canary#1", "support@v1.0.0^{commit}")
    before = served.remote_refs()
    err = refused(served.push("refs/tags/support#canary#1"), "support#canary#1", "known-environment")
    assert "'canary'" in err and "staging, production" in err
    assert served.remote_refs() == before


def test_canary_stage_of_a_listed_environment_is_known(served: Served) -> None:
    served.tag("support#staging-canary#1", "support@v1.0.0^{commit}")
    assert served.push("refs/tags/support#staging-canary#1").returncode == 0
    served.tag("support#nowhere-canary#2", "support@v1.0.0^{commit}")
    refused(
        served.push("refs/tags/support#nowhere-canary#2"), "support#nowhere-canary#2", "known-environment"
    )


def test_environment_added_on_the_default_branch_counts(served: Served) -> None:
    cfg = served.root / "gitmodel.yaml"
    cfg.write_text(cfg.read_text().replace("  - staging\n", "  - staging\n  - canary\n"))
    served.commit("add canary", "gitmodel.yaml")
    served.tag("support#staging#1", "support@v1.0.0^{commit}")
    served.tag("support#canary#2", "support@v1.0.0^{commit}")  # that commit predates canary
    proc = served.push(
        "--atomic", "HEAD:refs/heads/main", "refs/tags/support#canary#2", "refs/tags/support#staging#1"
    )
    assert proc.returncode == 0, proc.stderr
    assert any("support#canary#2" in r for r in served.remote_refs())


def test_atomic_push_with_one_bad_tag_changes_nothing(served: Served) -> None:
    served.reg.write("README.md", "docs")
    served.git("add", "README.md")
    served.git("commit", "-q", "-m", "docs")
    served.tag("support#staging#1", "support@v1.0.0^{commit}")
    served.tag("support#nowhere#2", "support@v1.0.0^{commit}")
    before = served.remote_refs()
    proc = served.push(
        "--atomic", "HEAD:refs/heads/main", "refs/tags/support#staging#1", "refs/tags/support#nowhere#2"
    )
    err = refused(proc, "support#nowhere#2", "known-environment")
    assert "refused support#staging#1" not in err  # only the bad ref is blamed
    assert served.remote_refs() == before  # main did not move either


@pytest.mark.slow
def test_good_versions_pass_in_one_push(served: Served) -> None:
    """Two new versions at once: each is checked against the one below it (the server
    reads their commits from the push's quarantine)."""
    t1 = served.register(2, "-m", "more data")
    t2 = served.register(3, "-m", "even more")
    served.dvc_push()
    proc = served.push("--atomic", "HEAD:refs/heads/main", f"refs/tags/{t1}", f"refs/tags/{t2}")
    assert proc.returncode == 0, proc.stderr
    remote = " ".join(served.remote_refs())
    assert "support@v1.1.0" in remote and "support@v1.2.0" in remote


@pytest.mark.slow
def test_bad_bump_among_good_versions_refuses_all(served: Served) -> None:
    served.register(2, "-m", "more data")  # v1.1.0
    served.edit_meta(lambda m: m.update(version="v1.1.1", parent_version="v1.1.0", base_model="qwen"))
    served.commit("a new base model is not a patch")
    served.tag("support@v1.1.1")
    served.dvc_push()
    before = served.remote_refs()
    proc = served.push(
        "--atomic", "HEAD:refs/heads/main", "refs/tags/support@v1.1.0", "refs/tags/support@v1.1.1"
    )
    err = refused(proc, "support@v1.1.1", "bump-level")
    assert "needs a major bump" in err and "v2.0.0" in err
    assert "refused support@v1.1.0" not in err
    assert served.remote_refs() == before


def test_tag_of_a_tag_is_refused(served: Served) -> None:
    served.tag("support#staging#1", "support@v1.0.0")  # points at the version's tag object
    before = served.remote_refs()
    err = refused(served.push("refs/tags/support#staging#1"), "support#staging#1", "annotated-tags")
    assert "tags another tag" in err
    assert served.remote_refs() == before
