"""The agent's cheap look with `--pointers`: conditional GETs of pointer documents, not git.

Each tick asks the object store, per watched model, whether `gitmodel/pointers/ENV/
MODEL.json` changed since the last answer (If-None-Match on S3; one fstat on a local
remote).  Unchanged is the usual answer and costs the git server nothing.  A changed
document is judged once:

1. its form, and that it is the document of this model in this environment;
2. its signature: a key the host's trust file allows for the environment (a host
   watching documents must have a trust file: a document is only as good as its key);
3. its `seq` against the moves this host's clone already has: an older one is a replay;
4. only then does the host fetch from git, that model's tags only (an answer sized by
   one model, not the registry), and the document must name exactly the tag objects
   origin holds (the tag record's content hash).

Whatever passes only makes the host fetch: what it deploys is still chosen from git and
checked there (policy and trust, gitmodel/host/deploy.py), so a document can never move
a host past what git and the trust file allow.  A refused document is logged and
journaled once (until it changes), and the host keeps serving and following git.

Every `git_every` seconds (and at start) the host looks at git anyway: moves whose
document was never published (a failed publish, a new model) are found then.  With
`spread`, a host waits a random 0..spread seconds between seeing a move's document and
fetching it, so that ten thousand hosts do not fetch in the same interval.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from gitmodel import git, hostlayout, objstore
from gitmodel.errors import GitModelError
from gitmodel.host import journal
from gitmodel.host.trust import host_trust
from gitmodel.pointers import document, signature
from gitmodel.pointers.document import BadDocument, Document
from gitmodel.pointers.publish import stores
from gitmodel.refs import to_tag
from gitmodel.registry import ModelState, Registry
from gitmodel.rollout.canary_state import canary_stage
from gitmodel.trust import Trust

log = logging.getLogger("gitmodel.agent")

DEFAULT_GIT_EVERY = 600.0


@dataclass
class PointerWatch:
    repo: Path
    env: str
    root: Path
    store: objstore.Store
    trust: Trust
    git_every: float = DEFAULT_GIT_EVERY
    spread: float = 0.0  # wait a random 0..spread seconds before fetching a move (a fleet's herd)
    # fetch(models): those models' tags only, or (None) every tag; tests count the calls
    fetch: Callable[[list[str] | None], None] | None = None
    _etags: dict[str, str | None] = field(default_factory=dict)
    _waiting: dict[str, tuple[Document, float]] = field(default_factory=dict)  # model -> (doc, fetch at)
    _next_git: float = 0.0

    def __post_init__(self) -> None:
        self._next_git = time.monotonic() + self.git_every  # the agent's first tick fetches anyway

    def look(self, models: Iterable[str] | None, first: bool = False) -> None:
        """Poll the documents of `models` (every model this clone knows); fetch from git
        when one passed the checks or the periodic look is due."""
        reg = Registry.load(self.repo)
        unreadable: GitModelError | None = None
        for model in sorted(models or reg.models):
            try:
                doc = self._poll(model, reg.models.get(model))
            except GitModelError as exc:
                unreadable = exc  # the store is down: git is still looked at when due
                break
            if doc is not None:
                self._waiting[model] = (doc, time.monotonic() + random.uniform(0, self.spread))
        now = time.monotonic()
        pending = {m: doc for m, (doc, at) in self._waiting.items() if at <= now}
        for model in pending:
            del self._waiting[model]
        due = first or now >= self._next_git
        if pending or due:
            (self.fetch or self._fetch)(None if due else sorted(pending))
            if due:
                self._next_git = time.monotonic() + self.git_every
            if pending:
                self._confirm(pending)
        if unreadable is not None:
            raise unreadable

    def _fetch(self, models: list[str] | None) -> None:
        """Every tag when the periodic look is due; else only the moved models' tags, so
        the fetches of a whole fleet after a move cost what one model's tags cost."""
        if models is None:
            git.fetch_tags(self.repo)
            return
        for model in models:
            git.fetch_model_tags(self.repo, to_tag(model))

    def _poll(self, model: str, state: ModelState | None) -> Document | None:
        key = document.key(model, self.env)
        got = self.store.get(key, self._etags.get(model))
        if got.status == objstore.SAME:
            return None
        self._etags[model] = got.etag
        if got.status == objstore.ABSENT or got.body is None:
            return None
        where = f"{self.store.url}/{key}"
        try:
            doc = document.parse(got.body, model, self.env, where)
            signer = signature.check(doc, self.trust, where)
            have = newest(state, self.env)
            if doc.seq < have:
                raise BadDocument(where, _older(doc, have, "this host"))
        except BadDocument as exc:
            self._refuse(model, exc)
            return None
        if self._matches(doc):
            return None  # what this clone has already
        log.info(
            "pointer document: %s %s in %s (%s, signed by %s); asking origin",
            model,
            doc.pointer.version or "unassigned",
            self.env,
            doc.pointer.tag,
            signer,
        )
        return doc

    def _confirm(self, pending: dict[str, Document]) -> None:
        """After the fetch: each document must name what origin holds, and nothing older."""
        reg = Registry.load(self.repo)
        for model, doc in pending.items():
            where = f"{self.store.url}/{document.key(model, self.env)}"
            have = newest(reg.models.get(model), self.env)
            if not self._matches(doc):
                missing = [
                    m.tag for m in _moves(doc) if git.ref_value(self.repo, f"refs/tags/{m.tag}") is None
                ]
                why = (
                    f"origin does not have {missing[0]}, which it names"
                    if missing
                    else "origin holds other tag objects under the names it gives"
                )
                self._refuse(model, BadDocument(where, why))
            elif doc.seq < have:
                self._refuse(model, BadDocument(where, _older(doc, have, "origin")))

    def _matches(self, doc: Document) -> bool:
        return all(git.ref_value(self.repo, f"refs/tags/{m.tag}") == m.object for m in _moves(doc))

    def _refuse(self, model: str, exc: GitModelError) -> None:
        log.warning("%s; following origin", exc.message)
        mroot = hostlayout.model_root(self.root, model)
        if mroot.is_dir() and not mroot.is_symlink():  # a model this host never served has no journal
            record = journal.Journal(mroot, op="pointer", model=model, env=self.env)
            record.step(journal.FAILED, reason=exc.message, exit=exc.exit_code)


def newest(state: ModelState | None, env: str) -> int:
    """The counter of the newest move of `env` or its canary that `state` holds (0: none)."""
    if state is None:
        return 0
    lasts = [
        events[-1] for events in (state.stage_events(env), state.stage_events(canary_stage(env))) if events
    ]
    return max((e.ref.counter or 0 for e in lasts), default=0)


def _moves(doc: Document) -> list[document.Move]:
    return [doc.pointer, *([doc.canary] if doc.canary else [])]


def _older(doc: Document, have: int, who: str) -> str:
    tag = doc.pointer.tag
    return f"it names #{doc.seq} ({tag}) but {who} already has #{have}: an older document (replayed?)"


def open_watch(
    repo: Path,
    env: str,
    root: Path,
    remote: str,
    trust_file: Path | None,
    git_every: float = DEFAULT_GIT_EVERY,
    spread: float = 0.0,
) -> PointerWatch:
    """The watch `gitmodel agent --pointers [REMOTE]` runs (REMOTE "": the default DVC remote)."""
    trust = host_trust(trust_file, required=True)
    assert trust is not None  # required: a missing trust file raised TrustFileError
    [store] = stores(repo, [remote] if remote else [], host=True)
    return PointerWatch(repo, env, root, store, trust, git_every, spread)
