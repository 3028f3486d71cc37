"""After the swap: reload the server, confirm the version, or swap back and say why.

A reload URL that checked the new version before it took traffic (the gateway runs the
version's functional checks, gitmodel/checks.py) says so in its answer's `check` field,
{"passed": bool, "failed": [{"prompt": n, "why": "..."}], "total": n}; the journal keeps
it as the step `checked` (or `check-unreadable` when the field has another shape).
"""

from __future__ import annotations

from pathlib import Path

from gitmodel import checkrun, hostlayout, testhook
from gitmodel.errors import GitModelError
from gitmodel.host import fs, journal, reload
from gitmodel.host.errors import CheckFailed, InfoUnreachable
from gitmodel.host.settings import HostSettings
from gitmodel.host.spec import VersionSpec
from gitmodel.refs import Version


def already_serving(
    records: list[dict[str, object]], spec: VersionSpec, settings: HostSettings
) -> str | None:
    """ "" or a confirmation when the server already serves `spec`; None when unsure."""
    target = spec.version
    if settings.info_url:
        answer = reload.info(settings.info_url) or {}
        ok = answer.get("version") == str(target) and answer.get("content_hash") in (None, spec.dvc_md5)
        ok = ok and reload.other_model(answer, spec.model) is None  # another model's v1.0.0 is not ours
        return f"{settings.info_url} reports {target}" if ok else None
    steps = [r for r in records if r.get("step") in ("swapped", "reverted", journal.FAILED, journal.DONE)]
    last = steps[-1] if steps else None
    ok = last is not None and last.get("step") == journal.DONE and last.get("version") == str(target)
    return "" if ok else None


def check(
    root: Path,
    spec: VersionSpec,
    settings: HostSettings,
    log: journal.Journal,
    *,
    previous: Version | None,
    env: str,
    swapped: bool = False,
) -> str | None:
    """Reload and confirm; on failure swap back (if we swapped), reload again, raise."""
    problem, answer = reload.reload_answer(settings, reload_env(root, spec.model, spec.version, env))
    journal_check(log, spec.version, answer)
    if problem is None:
        via = "command" if settings.reload_cmd else "url" if settings.reload_url else "none configured"
        log.step("reloaded", version=spec.version, via=via)
        testhook.pause("reloaded")
        if not settings.info_url:
            return None
        problem, waited = reload.wait_for(
            settings.info_url,
            str(spec.version),
            settings.health_timeout,
            spec.dvc_md5 or None,
            model=spec.model,
        )
        if problem is None:
            return f"{settings.info_url} reports {spec.version} after {waited:.2f} s"
    log.step("check-failed", version=spec.version, reason=problem.detail)
    undo = "left `current` as it was"
    if swapped:
        fs.swap_current(root, spec.model, previous)
        log.step("reverted", version=previous, failed=spec.version)
        again = reload.reload(settings, reload_env(root, spec.model, previous, env)) if previous else None
        undo = (
            f"reverted `current` to {previous} and reloaded"
            if previous
            else "removed `current` (nothing was served before)"
        )
        if again is not None:
            undo += f" (that reload failed too: {again.detail})"
    error = InfoUnreachable if problem.unreachable else CheckFailed
    raise error(
        f"{spec.model} {spec.version} not confirmed: {problem.detail}; {undo}; fix the "
        f"server, or move the pointer back with `gitmodel rollback {env} {spec.model}`"
    )


def journal_check(log: journal.Journal, version: Version | str | None, answer: dict[str, object]) -> None:
    """Journal the functional check a reload answer reports (nothing when it reports none)."""
    if "check" not in answer:
        return
    result = checkrun.CheckResult.from_json(answer["check"])
    if result is None:
        log.step("check-unreadable", version=version)
    else:
        log.step("checked", version=version, passed=result.passed, check=result.to_json())


def reload_env(root: Path, model: str, version: Version | None, env: str) -> dict[str, str]:
    """What the reload command is told (docs/host.md lists these variables)."""
    mroot = hostlayout.model_root(root, model)
    return {
        **canary_env(root, model),
        "GITMODEL_MODEL": model,
        "GITMODEL_ENV": env,
        "GITMODEL_VERSION": str(version or ""),
        "GITMODEL_ROOT": str(mroot.absolute()),
        "GITMODEL_CURRENT": str(hostlayout.current_link(root, model).absolute()),
        "GITMODEL_VERSION_DIR": str((hostlayout.versions_dir(root, model) / str(version)).absolute())
        if version
        else "",
    }


def canary_env(root: Path, model: str) -> dict[str, str]:
    """The canary as canary.json names it now; empty values when there is none.

    Every reload gets them, so a reload command can always bring both roles in line.
    """
    try:
        split = hostlayout.read_canary(root, model)
    except GitModelError:
        split = None  # an unreadable file is no canary a server would take
    return {
        "GITMODEL_CANARY_VERSION": split.version if split else "",
        "GITMODEL_CANARY_PERCENT": f"{split.percent:g}" if split else "",
        "GITMODEL_CANARY_SALT": split.salt if split else "",
        "GITMODEL_CANARY_DIR": str(hostlayout.version_dir(root, model, split.version).absolute())
        if split
        else "",
        "GITMODEL_CANARY_FILE": str(hostlayout.canary_path(root, model).absolute()),
    }
