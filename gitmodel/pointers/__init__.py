"""Signed pointer documents in object storage, so that fleets poll the store, not git.

Each pushed move of an environment (promote, rollback, canary) also writes one small
document per model and environment next to the DVC remote's objects
(`gitmodel/pointers/ENV/MODEL.json`), signed with the mover's git signing key
(document.py, publish.py).  Hosts running `gitmodel agent --pointers` ask for it with a
conditional GET each interval instead of asking the git server, check its signature
against their trust file (signature.py), and only then fetch from git, where the move
itself is checked as on the git path: a document can make a host look, never make it
deploy what git and its trust file would not (gitmodel/host/pointer_watch.py).

Kept light: gitmodel.yaml's reader imports settings.py on every command.
"""
