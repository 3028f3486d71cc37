"""The one policy, enforced at three points (docs/security.md):

- the git server's pre-receive hook (gitmodel/hooks/run.py -> push.check),
- `gitmodel verify` in CI on hosted Git, which runs no server hooks (replay.check_all,
  push.check over a range),
- an inference host before it accepts a pointer (host.accept).

Rule names are those of verdict.py; every refusal is a Violation.  The pieces: the
hooks' input (stdin.py), files and pointers read at a revision (files.py, trees.py),
version tags (versions.py, tags.py), stage tags (assignments.py), the tag namespace
(namespace.py), branch pushes (branches.py), gitmodel.yaml (configrule.py), the DVC
remote check (dvcremote.py, settings.py), and how each point drives them (push.py,
replay.py, host.py).
"""
