"""The only package that runs git.

Plumbing is run directly with subprocess (process.py is the one call site): each read is
one process, and importing GitPython (~120 ms) would cost more than the reads themselves
(shared/FACTS.md).  Ref changes rely on git's own compare-and-swap: `git tag` refuses an
existing name, `git update-ref` takes the expected old value, `git push --atomic` lands
all or none.  Callers use `from gitmodel import git` and the names below.

    process.py  starting git, deadlines for network calls
    local.py    the local repository: paths, HEAD, config, commits, ref updates
    tags.py     the one-pass tag read and tag creation
    objects.py  batch reads of objects, trees and the index
    remote.py   pushes, fetches and ls-remote against origin
    signing.py  signed tags and git's verdict on them
    commits.py  commits made without a work tree (request branches)
"""

from __future__ import annotations

from gitmodel.git.commits import commit_files, delete_remote_branch, fetch_branches, fetch_default_branch
from gitmodel.git.local import (
    add,
    branch,
    commit,
    config_get,
    config_set,
    git_dir,
    git_path,
    head,
    identity,
    is_ancestor,
    ref_value,
    reset_head,
    restore_paths,
    show,
    symbolic_head,
    toplevel,
    update_ref,
)
from gitmodel.git.objects import (
    ObjectInfo,
    StagedChange,
    index_entries,
    object_info,
    read_blobs,
    staged_changes,
    tree_entries,
    tree_listing,
)
from gitmodel.git.process import DEFAULT_TIMEOUT, TIMEOUT_ENV, ZERO, network_timeout, out, run, run_bytes
from gitmodel.git.remote import (
    fetch_model_tags,
    fetch_tags,
    has_remote,
    ls_remote_tags,
    push,
    remote_ref_values,
    remote_refs,
)
from gitmodel.git.signing import (
    TagSignature,
    create_signed_object,
    has_signature,
    signing_configured,
    verify_tag,
)
from gitmodel.git.tags import (
    PeeledTag,
    TagRecord,
    create_tag,
    delete_tag,
    file_tag_object,
    peeled_tags,
    read_tags,
    refs_under,
    show_tags,
    tag_list,
    tag_names,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "TIMEOUT_ENV",
    "ZERO",
    "ObjectInfo",
    "PeeledTag",
    "StagedChange",
    "TagRecord",
    "TagSignature",
    "add",
    "branch",
    "commit",
    "commit_files",
    "config_get",
    "config_set",
    "create_signed_object",
    "create_tag",
    "delete_remote_branch",
    "delete_tag",
    "fetch_branches",
    "fetch_default_branch",
    "fetch_model_tags",
    "fetch_tags",
    "file_tag_object",
    "git_dir",
    "git_path",
    "has_remote",
    "has_signature",
    "head",
    "identity",
    "index_entries",
    "is_ancestor",
    "ls_remote_tags",
    "network_timeout",
    "object_info",
    "out",
    "peeled_tags",
    "push",
    "read_blobs",
    "read_tags",
    "ref_value",
    "refs_under",
    "remote_ref_values",
    "remote_refs",
    "reset_head",
    "restore_paths",
    "run",
    "run_bytes",
    "show",
    "show_tags",
    "signing_configured",
    "staged_changes",
    "symbolic_head",
    "tag_list",
    "tag_names",
    "toplevel",
    "tree_entries",
    "tree_listing",
    "update_ref",
    "verify_tag",
]
