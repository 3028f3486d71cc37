"""A push refused by origin's own pre-receive hook is a policy refusal (exit 1) that
quotes the hook, never "could not push" (exit 4): real bare origin, real hook script."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from plugin.fsguard import Guard
from plugin.registry import Registry, refs

HOOKS = {
    "stderr": "echo 'gitmodel policy' >&2\necho 'refused support#staging#1: frozen [freeze]' >&2",
    "stdout": "echo 'refused support#staging#1: production is frozen until Monday [freeze]'",
}


def _hook(origin: Path, body: str) -> None:
    hook = origin / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\ncat >/dev/null\n{body}\nexit 1\n")
    hook.chmod(0o755)


@pytest.mark.parametrize(
    "where", [pytest.param(w, marks=[pytest.mark.slow] if w == "stdout" else []) for w in HOOKS]
)
def test_a_hook_refusal_is_exit_1_with_the_hooks_line(
    template_copy: Callable[[str], Registry], where: str
) -> None:
    reg = template_copy("pushed")
    origin = reg.remote.parent / "origin.git"
    _hook(origin, HOOKS[where])
    before, on_origin, guard = refs(reg.root), refs(origin), Guard(origin)
    err = reg.fails(1, "promote", "support", "v1.0.0", "staging", "--push").stderr
    assert "origin's hooks refused the push: " in err
    assert "refused support#staging#1: " in err and "[freeze]" in err
    assert refs(reg.root) == before  # the local tag is taken back
    assert refs(origin) == on_origin
    guard.assert_unchanged()


@pytest.mark.slow
def test_a_silent_hook_refusal_is_still_a_refusal(template_copy: Callable[[str], Registry]) -> None:
    reg = template_copy("pushed")
    _hook(reg.remote.parent / "origin.git", "true")
    err = reg.fails(1, "promote", "support", "v1.0.0", "staging", "--push").stderr
    assert "origin's hooks refused the push: refs/tags/support#staging#1" in err
    assert "(pre-receive hook declined); the hook gave no reason: ask whoever runs origin" in err
