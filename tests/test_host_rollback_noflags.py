"""`gitmodel rollback ENV` on a configured host: the host file's root, reload and info settings.

On a host whose host file (`gitmodel host init`) names a root, the advertised command
needs no flags: the pointer moves (pushed) and the root converges, with the file's
reload and info endpoint. Another environment than the one the root follows only moves
its pointer; `--pointer-only` opts out.
"""

from __future__ import annotations

import pytest
from plugin.host import FollowServer, Host, git

pytestmark = pytest.mark.slow


def configure(host: Host, follow: FollowServer) -> None:
    host.ok("host", "init", "--root", str(host.root), "--env", "production", *follow.flags())
    host.promote("v1.0.0")
    host.promote("v1.1.0")
    host.ok("deploy", "production")
    assert host.current() == "v1.1.0" and follow.version == "v1.1.0"


def test_rollback_with_no_flags_moves_the_pointer_and_converges_the_root(
    host: Host, follow: FollowServer
) -> None:
    configure(host, follow)
    out = host.ok("rollback", "production", "support", "--reason", "regressed").stdout
    assert out.startswith("rollback: support production -> v1.0.0 (was v1.1.0)\n")
    assert "(pushed to origin)" in out
    assert f"deployed support v1.0.0 to {host.root} (production, was v1.1.0)" in out
    assert f"{follow.url}/info reports v1.0.0" in out
    assert host.current() == "v1.0.0" and follow.version == "v1.0.0"
    assert "support#production#" in git(host.origin, "tag", "-l", "support#production#*")


def test_other_environments_and_pointer_only_leave_the_root_alone(host: Host, follow: FollowServer) -> None:
    configure(host, follow)
    host.ok("promote", "support", "v1.1.0", "staging", "--push", cwd=host.dev)
    git(host.clone, "fetch", "-q", "origin", "+refs/tags/*:refs/tags/*")
    out = host.ok("rollback", "staging", "support").stdout
    assert out.startswith("rollback: support staging -> v1.0.0 (was v1.1.0)\n")
    assert f"note    {host.root} follows production" in out and "left alone" in out
    out = host.ok("rollback", "production", "support", "--pointer-only").stdout
    assert "(local; push with --push)" in out and "deployed" not in out
    assert host.current() == "v1.1.0" and follow.version == "v1.1.0"
    err = host.fails(2, "rollback", "production", "support", "--pointer-only", "--root").stderr
    assert "--pointer-only leaves the host alone" in err
