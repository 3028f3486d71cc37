"""The pre-commit framework's runs that are not a commit: `--all-files`, `--files`, a ref range.

There the index holds nothing new, so the commit check (staged.py) finds nothing; a bad
model.yaml committed with `--no-verify` would pass "pre-commit in CI". So:

- with PRE_COMMIT_FROM_REF and PRE_COMMIT_TO_REF (`pre-commit run --from-ref A --to-ref B`)
  the range is judged as `gitmodel verify A..B` judges it: the model folders and
  gitmodel.yaml the range changed, as they are at B;
- with file names and nothing staged (`--all-files`, `--files`), the model folders among
  them are judged as they are at HEAD, with the same rules, plus the no-bytes rule;
- a commit (something staged) is judged by the index as always: judging HEAD too would
  block the very commit that fixes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from gitmodel import git
from gitmodel.policy.verdict import NO_BYTES, Violation

FROM_REF, TO_REF = "PRE_COMMIT_FROM_REF", "PRE_COMMIT_TO_REF"


def check(repo: Path, paths: Sequence[str], environ: Mapping[str, str]) -> list[Violation]:
    from gitmodel.hooks import staged

    found = staged.check(repo)
    if environ.get(FROM_REF) and environ.get(TO_REF):
        from gitmodel.policy import replay

        spec = f"{environ[FROM_REF]}..{environ[TO_REF]}"
        return found + replay.check_refs(repo, [spec]).violations
    if paths and not git.staged_changes(repo) and (head := git.head(repo)) is not None:
        found += _at_head(repo, head, list(paths))
    return found


def _at_head(repo: Path, head: str, paths: list[str]) -> list[Violation]:
    from gitmodel.policy import branches, files

    found = branches.tip(repo, "HEAD", head, paths, lambda models: files.registered(repo, models))
    spaces = {p.split("/", 1)[0] for p in paths if p.endswith("/dvc.yaml") and p.count("/") == 1}
    for path in paths:
        if files.model_of(path, spaces) and not files.allowed_in_models(path, spaces):
            why = (
                "model folders hold model.yaml and DVC pointers only, the bytes go to DVC; remove it "
                f"(`git rm --cached {path}`) and register it with `gitmodel register NAME PATH`"
            )
            found.append(Violation(f"HEAD:{path}", NO_BYTES, why))
    return found
