"""What a host serves next to what the pointer says: three answers, and the drift.

pointer   the environment's newest assignment tag (after a fetch, when origin answers)
current   the version the `current` symlink points at on this host
serving   what the model server's info endpoint reports, when it reports this model
canary    the same three for ENV's canary: the registry's, canary.json's, the server's

One info URL can be set for several models (`--info-url`, or the host file's default),
so an answer naming another model says nothing about this one: its serving state is
unknown (None, with a note), neither drift nor in sync with the server.  An answer that
names no model is taken as this model's (servers other than `gitmodel serve` may not
say).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from gitmodel import config, git, hostlayout, http
from gitmodel.errors import GitModelError
from gitmodel.host import canary_sync, journal, reload
from gitmodel.host.settings import Overrides, resolve
from gitmodel.hostlayout import CanarySplit
from gitmodel.refs import parse_model
from gitmodel.registry import ModelState, Registry


@dataclass(frozen=True)
class CanarySide:
    """One side's canary: the registry's and canary.json's are checked, the server's is as reported."""

    version: Any
    percent: Any

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "percent": self.percent}


@dataclass(frozen=True)
class CanaryView:
    pointer: CanarySide | None  # ENV-canary in the registry
    host: CanarySide | None  # canary.json
    serving: CanarySide | None  # what the server routes to; None also when it does not say

    def to_json(self) -> dict[str, Any]:
        return {f.name: _side_json(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class ModelStatus:
    model: str
    pointer: str | None
    current: str | None
    serving: Any  # the info endpoint's `version`, as it said it
    info_url: str | None
    hot: list[str]
    canary: CanaryView | None
    last: dict[str, Any] | None  # the journal's last record: time, op, step, version
    drift: list[str]
    notes: list[str]  # what is unknown and why; not drift
    in_sync: bool
    verified: dict[str, list[str]] | None = None  # --verify: hot version -> files that do not match
    journal_skipped: int = 0  # journal lines that were no record: what `last` and the drift did not see

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["canary"] = self.canary.to_json() if self.canary is not None else None
        if self.verified is None:
            del data["verified"]  # the key appears only with --verify
        return data


@dataclass(frozen=True)
class HostStatus:
    env: str
    root: Path
    origin: str  # fetched | not asked | unreachable (...)
    models: list[ModelStatus]

    @property
    def in_sync(self) -> bool:
        return all(m.in_sync for m in self.models)

    def groups(self) -> list[tuple[str | None, list[ModelStatus]]]:
        """The models by client namespace (None: models without one, last), in name order."""
        found: dict[str | None, list[ModelStatus]] = {}
        for m in self.models:
            found.setdefault(namespace_of(m.model), []).append(m)
        return sorted(found.items(), key=lambda g: (g[0] is None, g[0] or ""))

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "root": str(self.root),
            "origin": self.origin,
            "models": [m.to_json() for m in self.models],
            "in_sync": self.in_sync,
            "namespaces": [
                {"namespace": ns, "models": [m.model for m in ms], "in_sync": all(m.in_sync for m in ms)}
                for ns, ms in self.groups()
            ],
        }


def namespace_of(model: str) -> str | None:
    """`acme` for `acme:support`; None for a model without a client namespace."""
    return model.split(":")[0] if ":" in model else None


def status(
    repo: Path,
    env: str,
    root: Path,
    name: str | None = None,
    *,
    fetch: bool = True,
    info_url: str | None = None,
    verify: bool = False,
    namespace: str | None = None,
) -> HostStatus:
    """`verify` re-hashes every hot version (repair.corrupt); a mismatch is drift.
    `namespace`: only that client's models."""
    cfg = config.load(repo)
    cfg.check_env(env)
    origin = "not asked"
    if fetch:
        try:
            git.fetch_tags(repo)
            origin = "fetched"
        except GitModelError as exc:
            origin = f"unreachable ({exc.message}); pointer from local refs"
    reg = Registry.load(repo)
    if name is not None:
        names = [reg.model(parse_model(name)).name]
    else:
        assigned = {m for m, s in reg.models.items() if s.stage_version(env) is not None}
        names = sorted(assigned | set(models_on_host(root)))
    if namespace is not None:
        names = [n for n in names if namespace_of(n) == namespace]
    rows = [_model(repo, root, reg, env, model, cfg.host, info_url, verify) for model in names]
    return HostStatus(env, root, origin, rows)


def models_on_host(root: Path) -> list[str]:
    """Models with a directory under ROOT (NAME_DIR back to the model name)."""
    found: list[str] = []
    if not root.is_dir():
        return found
    for child in root.iterdir():
        if not (child / hostlayout.VERSIONS).is_dir():
            continue
        try:
            found.append(parse_model(child.name.replace("=", ":")))
        except GitModelError:
            continue
    return sorted(found)


def _model(
    repo: Path,
    root: Path,
    reg: Registry,
    env: str,
    model: str,
    host: config.HostPolicy,
    info_url: str | None,
    verify: bool,
) -> ModelStatus:
    state = reg.models.get(model)
    pointer = state.stage_version(env) if state else None
    current = hostlayout.current_version(root, model)
    settings = resolve(host, model, Overrides(info_url=info_url))
    serving = None
    answer: dict[str, Any] | None = None
    notes: list[str] = []
    url = settings.info_url
    if url:
        answer = reload.info(url)
        other = reload.other_model(answer, model)
        if other is not None:
            notes.append(
                f"serving unknown: info endpoint {http.shown(url)} reports model {other}, not {model}; "
                f"give {model} its own info_url (host file `models: {{{model}: {{info_url: URL}}}}`)"
            )
            answer, url = None, None  # nothing to compare, the canary included
        serving = answer.get("version") if answer else None
    mroot = hostlayout.model_root(root, model)
    read = journal.read(mroot)
    if read.skipped:
        notes.append(_unreadable(read.skipped, hostlayout.journal_path(mroot)))
    records = list(read)
    last = records[-1] if records else None
    drift = _drift(env, model, pointer, current, url, answer, serving, records)
    split = _canary(root, env, model, state, answer, drift)
    hot = [str(v) for v in hostlayout.hot_versions(root, model)]
    shown = str(current) if current else None
    verified = _verify(root, env, model, hot, shown, drift) if verify else None
    return ModelStatus(
        model=model,
        pointer=str(pointer) if pointer else None,
        current=shown,
        serving=serving,
        info_url=settings.info_url,
        hot=hot,
        canary=split,
        last={k: last.get(k) for k in ("time", "op", "step", "version")} if last else None,
        drift=drift,
        notes=notes,
        in_sync=not drift,
        verified=verified,
        journal_skipped=read.skipped,
    )


def _unreadable(skipped: int, path: Path) -> str:
    # Not drift: the host may serve exactly what it should.  But the lines were records
    # once, so `last` and the interrupted-run check may be answering from older ones.
    return (
        f"journal: {skipped} unreadable line(s) skipped in {path} (torn by a kill, not a JSON "
        'record, or over 1 MiB); the state above is from the other records, see docs/host.md "The journal"'
    )


def _verify(
    root: Path, env: str, model: str, hot: list[str], current: str | None, drift: list[str]
) -> dict[str, list[str]]:
    """Hot version -> its files that do not match the manifest's sha256; drift for each."""
    from gitmodel.host.repair import corrupt

    found = {}
    for version in hot:
        vdir = hostlayout.versions_dir(root, model) / version
        try:
            bad = corrupt(vdir)
        except GitModelError as exc:
            bad = [exc.message]
        found[version] = bad
        if bad:
            role = " (current)" if version == current else ""
            drift.append(
                f"{version}{role}: {', '.join(bad)} does not match its sha256 (changed on disk); "
                f"replace it with `gitmodel deploy {env} {model} --verify`"
            )
    return found


def _drift(
    env: str,
    model: str,
    pointer: Any,
    current: Any,
    url: str | None,
    answer: dict[str, Any] | None,
    serving: Any,
    records: list[dict[str, Any]],
) -> list[str]:
    notes = []
    if pointer != current:
        done = journal.last_done(records)
        refused = _refused(records)
        if refused:
            notes.append(
                f"this host refused the {env} pointer and keeps serving {current or 'nothing'}: {refused}"
            )
        elif done and done.get("op") == "rollback-local" and done.get("version") == str(current):
            notes.append(
                f"rolled back locally at {done.get('time')}: {env} still points at {pointer}; "
                f"move the pointer with `gitmodel rollback {env} {model} --push`, or redeploy"
            )
        else:
            notes.append(
                f"{env} points at {pointer or 'nothing'} but current holds {current or 'nothing'}; "
                f"run `gitmodel deploy {env} {model}`"
            )
    if url and answer is None:
        notes.append(f"info endpoint {url} does not answer")
    elif url and serving != (str(current) if current else None):
        notes.append(f"the server reports {serving!r} but current holds {current}")
    steps = [r for r in records if r.get("step") not in ("retired", "cleaned")]
    if steps and steps[-1].get("step") not in journal.FINAL:
        last = steps[-1]
        notes.append(
            f"the last {last.get('op')} stopped after step {last.get('step')!r} at "
            f"{last.get('time')}; rerun it to finish"
        )
    return notes


def _refused(records: list[dict[str, Any]]) -> str | None:
    """The policy's refusal, when the host's last deploy ended with one (gitmodel/policy/host.py)."""
    quiet = ("retired", "cleaned")
    steps = [r for r in records if r.get("op") != canary_sync.OP and r.get("step") not in quiet]
    last = steps[-1] if steps else {}
    reason = last.get("reason")
    if last.get("step") == journal.FAILED and isinstance(reason, str) and reason.startswith("refused "):
        return reason
    return None


def _canary(
    root: Path,
    env: str,
    model: str,
    state: ModelState | None,
    answer: dict[str, Any] | None,
    drift: list[str],
) -> CanaryView | None:
    """The canary three ways (registry, canary.json, server), or None when none of them has one.

    Appends to `drift` what differs and what to run.
    """
    want = canary_sync.wanted(state, env)[0] if state else None
    try:
        have: CanarySplit | None = hostlayout.read_canary(root, model)
        bad = None
    except GitModelError as exc:
        have, bad = None, exc.message
    # Only a server that reports canaries (gitmodel serve does) can be compared.
    reports = answer is not None and "canary" in answer
    seen = answer.get("canary") if answer is not None and reports else None
    if want is None and have is None and bad is None and seen is None:
        return None
    fix = f"run `gitmodel deploy {env} {model}`"
    if bad is not None:
        drift.append(f"{bad}; {fix}")
    elif have != want:
        drift.append(f"{env}-canary is {_split(want)} but canary.json holds {_split(have)}; {fix}")
    if reports and not _same(seen, have):
        got = _split(seen) if isinstance(seen, dict) else "no canary"
        drift.append(f"the server routes to {got} but canary.json holds {_split(have)}; {fix}")
    # serving: what the server routes to; None also when its info endpoint does not say.
    return CanaryView(_side(want), _side(have), _side(seen) if reports else None)


def _side(split: Any) -> CanarySide | None:
    if isinstance(split, CanarySplit):
        return CanarySide(split.version, split.percent)
    if isinstance(split, dict):
        return CanarySide(split.get("version"), split.get("percent"))
    return None


def _side_json(side: CanarySide | None) -> dict[str, Any] | None:
    return side.to_json() if side is not None else None


def _same(seen: Any, have: CanarySplit | None) -> bool:
    if have is None:
        return seen is None
    return isinstance(seen, dict) and _side(seen) == _side(have)


def _split(split: Any) -> str:
    side = _side(split)
    if not side:
        return "nothing"
    percent = side.percent
    shown = f"{percent:g}" if isinstance(percent, int | float) else str(percent)
    return f"{side.version} at {shown}%"
