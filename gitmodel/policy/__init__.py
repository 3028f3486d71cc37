"""The one policy, enforced at three points (docs/security.md):

- the git server's pre-receive hook (gitmodel/hooks/run.py -> push.check),
- `gitmodel verify` in CI on hosted Git, which runs no server hooks (replay.check_all,
  push.check over a range),
- an inference host before it accepts a pointer (host.accept).

Rule names are those of gitmodel/hooks/verdict.py; every refusal is a Violation.
"""
