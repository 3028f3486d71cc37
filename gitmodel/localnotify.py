"""The `notify:` section of this machine's files: who hears about a move, per environment and client.

It sits in the user file or the host file (localconfig.py), never in gitmodel.yaml, for
the reason `alerts:` does: a pusher must not choose where a promoter's or a host's
machine posts, nor what it runs.  A list of rules; every rule that matches a move fires:

    commands:
      tell-acme: /opt/bin/mail-client acme@example.com
    notify:
      - env: production                    # or a list: [staging, production]
        webhook: https://hooks.example.com/T0/B0/xyz
      - env: production
        namespace: acme                    # only acme/... models (one client)
        command: tell-acme                 # a key of `commands:` in the same file
        timeout: 10                        # seconds per target (default 10)

The rules of both files apply (the user file's first); one target named by several
matching rules is sent the move once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gitmodel import validate as v
from gitmodel.errors import GitModelError
from gitmodel.refs import parse_model, parse_stage

_KEYS = ("env", "namespace", "webhook", "command", "timeout")


@dataclass(frozen=True)
class Rule:
    envs: tuple[str, ...]
    namespace: str | None  # None: every model, namespaced or not
    webhook: str | None = None
    command: str | None = None  # the key, as written
    line: str | None = None  # the command line that key stands for in the same file
    timeout: float = 10.0
    at: str = ""  # "FILE: notify.N", for messages

    def matches(self, env: str, model: str) -> bool:
        """Whether a move of MODEL (`acme:support` or `support`) in ENV is this rule's."""
        if env not in self.envs:
            return False
        return self.namespace is None or model.startswith(self.namespace + ":")


@dataclass(frozen=True)
class Notify:
    rules: tuple[Rule, ...] = ()

    def merged(self, other: Notify) -> Notify:
        return Notify((*self.rules, *other.rules))

    def matching(self, env: str, model: str) -> list[Rule]:
        return [r for r in self.rules if r.matches(env, model)]


def parse(value: object, at: v.Field, commands: Mapping[str, str]) -> Notify:
    if value is None:
        return Notify()
    if not isinstance(value, list):
        raise at.error("must be a list of rules like `- {env: production, webhook: URL}`")
    return Notify(tuple(_rule(item, at / i, commands) for i, item in enumerate(value)))


def _rule(value: object, at: v.Field, commands: Mapping[str, str]) -> Rule:
    raw = v.mapping(value, at, _KEYS, "setting of a notify rule")
    if raw.get("env") is None:
        raise (at / "env").error("is missing; name the environment(s) whose moves this rule tells")
    envs = tuple(_checked(parse_stage, e, at / "env") for e in v.names(raw["env"], at / "env"))
    namespace = None
    if raw.get("namespace") is not None:
        ns = v.text(raw["namespace"], at / "namespace")
        namespace = _checked(lambda n: parse_model(f"{n}/x").split(":")[0], ns, at / "namespace")
    key = None
    if raw.get("command") is not None:
        key = v.local_command(raw["command"], at / "command", commands, "tell-client")
    webhook = v.url(raw["webhook"], at / "webhook") if raw.get("webhook") is not None else None
    if webhook is None and key is None:
        raise at.error("has no target; give it `webhook: URL` or `command: KEY` (or both)")
    return Rule(
        envs,
        namespace,
        webhook,
        key,
        commands[key] if key else None,
        v.positive(raw["timeout"], at / "timeout") if "timeout" in raw else 10.0,
        str(at),
    )


def _checked(check: Callable[[str], str], value: str, at: v.Field) -> str:
    try:
        return check(value)
    except GitModelError as exc:
        raise at.error(f"is not usable: {exc.message}") from None
