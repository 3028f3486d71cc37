"""Policy hooks: gitmodel's rules enforced by git on commit, push and receive.

The installed hooks are thin shims (see `shim.py`) that run `python -m gitmodel hook
NAME`; everything else lives here: pure stdin parsers (`stdin.py`), the checks
(`staged.py` for pre-commit, `tags.py` for pre-push and pre-receive) and
install/uninstall (`install.py`).  Rules and their fixes are listed in docs/hooks.md.
"""
