"""Git hooks: the shims git runs, and the pre-commit check of what is staged.

The installed hooks are thin shims (`shim.py`) that run `python -m gitmodel hook NAME`;
`run.py` dispatches: pre-commit to `staged.py`, pre-push and pre-receive to the one
policy in gitmodel/policy/ (which `gitmodel verify` and hosts run too).  `install.py`
installs and uninstalls, chaining to a hook that was there before (`chain.py`).  Rules
and their fixes are listed in docs/hooks.md.
"""
