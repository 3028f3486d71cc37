"""The host's check of a pointer's signature, against this host's own trust file.

A host requires signed moves when a trust file is configured for it: the --trust-file
flag, GITMODEL_TRUST_FILE, the host file's `trust_file` (localconfig.py), or
/etc/gitmodel/trust.yaml being there (even unreadable), or when the host file says
`require_signatures: true`.  Then a pointer the trust file does not accept is refused
before anything is built, the refusal is journaled, and `current` keeps serving what
it served.  A trust file that is missing or unreadable refuses every deploy: the host
never falls back to trusting whatever origin says.
"""

from __future__ import annotations

import os
from pathlib import Path

from gitmodel import localconfig
from gitmodel.host import journal
from gitmodel.refs import Version
from gitmodel.signing import DEFAULT_TRUST, TRUST_ENV
from gitmodel.trust import SignedMove, Trust, TrustFileError, UntrustedMove, check_move, load


def host_trust(path: Path | None = None, *, required: bool = False) -> Trust | None:
    """This host's trust (None: it requires no signatures); TrustFileError when it does
    but the file cannot be used."""
    configured = path or (Path(os.environ[TRUST_ENV]) if os.environ.get(TRUST_ENV) else None)
    host = localconfig.host_file()
    configured = configured or host.trust_file
    required = required or host.require_signatures
    if configured is None:
        if os.path.lexists(DEFAULT_TRUST):
            configured = DEFAULT_TRUST
        elif required:
            raise TrustFileError(DEFAULT_TRUST, f"does not exist (and {TRUST_ENV} and {host.path} name none)")
        else:
            return None
    return load(configured)


def check_pointer(
    repo: Path,
    tag: str,
    env: str,
    trust: Trust | None,
    log: journal.Journal | None = None,
    version: Version | None = None,
) -> SignedMove | None:
    """Accept the pointer `tag` of `env` or raise UntrustedMove, journaled in `log`."""
    if trust is None:
        return None
    try:
        return check_move(repo, tag, env, trust)
    except UntrustedMove as exc:
        if log is not None:
            log.step(journal.FAILED, version=version, tag=tag, reason=exc.message, exit=exc.exit_code)
        raise
