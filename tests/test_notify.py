"""Move notifications: a real webhook on 127.0.0.1 and real commands hear of promotes,
rollbacks and canary steps, configured only in this machine's files (`notify:`).

A failing target never fails the move (one `gitmodel: warning:` line), and what a pusher
wrote (a version's description, a reason) reaches a target only inside the JSON body.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from plugin.fsguard import Guard
from plugin.host import FollowServer, Host, deploy_json
from plugin.registry import Registry, git, random_bytes
from plugin.rollout import exposition, http_server, metrics_page, receiver, user_config

from gitmodel import localconfig
from gitmodel.errors import UsageError

GOOD = "metrics: {accuracy: 0.95, hallucination_rate: 0.02, latency_p95_ms: 880}\n"


def push_all(reg: Registry) -> None:
    """The template's local promotions, sent to origin, so later `--push` moves land."""
    git(reg.root, "push", "-q", "--no-verify", "origin", "--tags", "refs/gitmodel/*:refs/gitmodel/*")


def new_version(reg: Registry, seed: int, description: str) -> None:
    reg.write("models/support/m.gguf", random_bytes(2000, seed))
    meta = reg.meta(GOOD + f"description: {json.dumps(description)}\n", f"meta{seed}.yaml")
    reg.ok("register", "support", "models/support/m.gguf", "--meta", str(meta))


# --- the local files' `notify:` rules --------------------------------------------------------


def test_rules_come_from_both_local_files_and_match_env_and_namespace(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, hermetic: Path
) -> None:
    host = Path(localconfig.host_path())
    host.parent.mkdir(parents=True, exist_ok=True)
    host.write_text("notify: [{env: production, webhook: 'http://127.0.0.1:9/host'}]\n")
    user_config(
        monkeypatch,
        tmp_path,
        "commands: {tell-acme: 'cat > /dev/null'}\n"
        "notify:\n- {env: [staging, production], namespace: acme, command: tell-acme, timeout: 3}\n",
    )
    rules = localconfig.notify()
    assert [r.at.split(": ")[1] for r in rules.rules] == ["notify.0", "notify.0"]
    assert [r.webhook or r.command for r in rules.matching("production", "acme:bot")] == [
        "tell-acme",
        "http://127.0.0.1:9/host",
    ]
    assert [r.webhook for r in rules.matching("production", "support")] == ["http://127.0.0.1:9/host"]
    assert [r.line for r in rules.matching("staging", "acme:bot")] == ["cat > /dev/null"]
    assert rules.matching("staging", "support") == [] and rules.matching("staging", "acmex:bot") == []


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("notify: {env: production}\n", "notify must be a list of rules"),
        ("notify: [{webhook: 'http://x'}]\n", "notify.0.env is missing"),
        ("notify: [{env: production}]\n", "notify.0 has no target; give it `webhook: URL`"),
        ("notify: [{env: production, command: 'rm -rf /'}]\n", "notify.0.command names 'rm -rf /', which"),
        ("notify: [{env: production, webhook: 'file:///etc/passwd'}]\n", "must be an http:// or https://"),
        ("notify: [{env: Prod, webhook: 'http://x'}]\n", "notify.0.env is not usable"),
        ("notify: [{env: production, namespace: 'a/b', webhook: 'http://x'}]\n", "namespace is not usable"),
        (
            "notify: [{env: production, hook: 'http://x'}]\n",
            "notify.0.hook is not a setting of a notify rule",
        ),
    ],
)
def test_bad_rules_name_the_file_and_field(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str, words: str
) -> None:
    path = user_config(monkeypatch, tmp_path, text)
    with pytest.raises(UsageError) as err:
        localconfig.notify()
    assert words in str(err.value) and str(path) in str(err.value)


# --- moves tell their targets ------------------------------------------------------------------


def test_a_pushed_promote_tells_the_webhook_and_the_command_with_its_changelog(
    released: Registry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    push_all(released)
    told, marker = tmp_path / "told.json", tmp_path / "marker"
    with receiver() as (url, got):
        user_config(
            monkeypatch,
            tmp_path,
            f"commands: {{tell: 'cat > {told}; echo $GITMODEL_NOTIFY > {marker}'}}\n"
            f"notify:\n- {{env: staging, webhook: '{url}/staging', command: tell}}\n"
            f"- {{env: production, webhook: '{url}/production'}}\n",
        )
        result = released.ok("promote", "support", "v1.1.0", "staging", "--push", "--reason", "Q2 data")
    assert result.stderr == ""
    [post] = got
    sent = post["json"]
    assert post["path"] == "/staging" and post["headers"]["Content-Type"] == "application/json"
    assert sent == json.loads(told.read_text()) and marker.read_text() == "1\n"
    assert {k: sent[k] for k in ("event", "action", "model", "environment", "version", "previous")} == {
        "event": "move",
        "action": "promote",
        "model": "support",
        "environment": "staging",
        "version": "v1.1.0",
        "previous": "v1.0.0",
    }
    assert sent["reason"] == "Q2 data" and sent["pushed"] is True and sent["tags"] == ["support#staging#3"]
    log = sent["changelog"]
    assert (log["version"], log["previous"], log["direction"]) == ("v1.1.0", "v1.0.0", "upgrade")
    assert log["rollback"]["command"] == "gitmodel rollback staging support --to v1.0.0"
    assert sent["changelog_markdown"].startswith("# support v1.1.0 (staging)")

    with receiver() as (url, got):
        user_config(monkeypatch, tmp_path, f"notify: [{{env: staging, webhook: '{url}'}}]\n")
        released.ok("rollback", "staging", "support", "--push")
    [post] = got
    assert (post["json"]["action"], post["json"]["version"], post["json"]["previous"]) == (
        "rollback",
        "v1.0.0",
        "v1.1.0",
    )
    assert post["json"]["changelog"]["direction"] == "rollback"


def test_a_move_left_on_this_clone_tells_nobody(
    released: Registry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with receiver() as (url, got):
        user_config(monkeypatch, tmp_path, f"notify: [{{env: staging, webhook: '{url}'}}]\n")
        released.ok("promote", "support", "v1.1.0", "staging")  # no --push: a draft origin lacks
    assert got == []


def test_a_registry_without_origin_tells_of_every_move(
    released: Registry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    git(released.root, "remote", "remove", "origin")
    with receiver() as (url, got):
        user_config(monkeypatch, tmp_path, f"notify: [{{env: production, webhook: '{url}'}}]\n")
        released.ok("promote", "support", "v1.1.0", "staging")  # another environment: nobody
        released.ok("promote", "support", "v1.1.0", "production")
    assert [(p["json"]["action"], p["json"]["pushed"]) for p in got] == [("promote", False)]


def test_a_namespace_rule_tells_one_client_only(
    released: Registry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    git(released.root, "remote", "remove", "origin")
    released.write("w.gguf", random_bytes(2000, 8))
    released.ok("register", "acme/bot", "w.gguf", "--meta", str(released.meta()))
    with receiver() as (url, got):
        user_config(
            monkeypatch,
            tmp_path,
            f"notify:\n- {{env: staging, namespace: acme, webhook: '{url}/acme'}}\n"
            f"- {{env: staging, webhook: '{url}/all'}}\n- {{env: staging, webhook: '{url}/all'}}\n",
        )
        released.ok("promote", "acme/bot", "v1.0.0", "staging")
        released.ok("promote", "support", "v1.1.0", "staging")
    assert [(p["path"], p["json"]["model"]) for p in got] == [
        ("/acme", "acme/bot"),
        ("/all", "acme/bot"),  # named by two rules, told once
        ("/all", "support"),
    ]
    first = got[0]["json"]
    assert first["previous"] is None and first["changelog"]["direction"] == "first"


def test_failing_targets_warn_once_each_and_the_move_stands(
    released: Registry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    push_all(released)
    with receiver(500) as (url, _):
        path = user_config(
            monkeypatch,
            tmp_path,
            "commands: {tell: 'echo mailbox full >&2; exit 3'}\n"
            f"notify: [{{env: staging, webhook: '{url}/x?token=secret', command: tell}}]\n",
        )
        result = released.run("promote", "support", "v1.1.0", "staging", "--push")
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and all(line.startswith("gitmodel: warning: ") for line in lines)
    assert (
        f"{path}: notify.0: promote support v1.1.0 in staging was not told: webhook {url}/x failed"
        in lines[0]
    )
    assert "HTTP 500; the move stands" in lines[0] and "secret" not in result.stderr
    assert "command tell failed: exit 3 (mailbox full)" in lines[1]
    remote = git(released.root, "ls-remote", "origin", "refs/tags/support#staging#3").stdout
    assert remote.strip(), "the move reached origin all the same"


def test_an_unreachable_webhook_and_a_broken_rule_each_warn(
    released: Registry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    git(released.root, "remote", "remove", "origin")
    user_config(
        monkeypatch, tmp_path, "notify: [{env: staging, webhook: 'http://127.0.0.1:9/x', timeout: 2}]\n"
    )
    result = released.run("promote", "support", "v1.1.0", "staging")
    assert result.exit_code == 0 and result.stderr.count("gitmodel: warning: ") == 1
    assert "did not answer" in result.stderr
    path = user_config(monkeypatch, tmp_path, "notify: [{env: production, command: nope}]\n")
    result = released.run("promote", "support", "v1.1.0", "production")
    assert result.exit_code == 0 and result.stderr.startswith("gitmodel: warning: nobody was told")
    assert f"{path}: notify.0.command names 'nope'" in result.stderr and len(result.stderr.splitlines()) == 1


def test_hostile_text_in_the_repo_stays_inside_the_json(
    released: Registry,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    fs_guard: Callable[..., Guard],
) -> None:
    git(released.root, "remote", "remove", "origin")
    evil = "ok\r\nX-Evil: 1\r\n\r\n$(touch pwned1); touch pwned2 `touch pwned3` '\"; touch pwned4"
    new_version(released, 5, evil)
    told = tmp_path / "out" / "told.json"
    told.parent.mkdir()
    guard = fs_guard(released.root, tmp_path / "out")
    with receiver() as (url, got):
        user_config(
            monkeypatch,
            tmp_path,
            f"commands: {{tell: 'cat > {told}'}}\n"
            f"notify: [{{env: staging, webhook: '{url}', command: tell}}]\n",
        )
        released.ok("promote", "support", "v1.2.0", "staging", "--reason", f"why? {evil}")
    [post] = got
    assert "X-Evil" not in post["headers"] and post["json"] == json.loads(told.read_text())
    assert post["json"]["reason"] == f"why? {evil}"
    assert post["json"]["changelog"]["summary"][0]["description"] == evil
    guard.assert_only(released.root / ".git", told)  # the move's tag, and the command's own output
    assert not list(released.root.glob("pwned*")) and not list(tmp_path.glob("**/pwned*"))


def test_canary_steps_tell_with_the_stable_against_the_canary(
    model: Registry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    git(model.root, "remote", "remove", "origin")
    with receiver() as (url, got):
        user_config(monkeypatch, tmp_path, f"notify: [{{env: production, webhook: '{url}'}}]\n")
        model.ok("canary", "start", "support", "v1.1.0", "production", "--percent", "10")
        model.ok("canary", "set", "support", "production", "--percent", "30")
        model.ok("canary", "promote", "support", "production")
    moves = [
        (p["json"]["action"], p["json"]["version"], p["json"]["previous"], p["json"]["percent"]) for p in got
    ]
    assert moves == [
        ("canary-start", "v1.1.0", "v1.0.0", 10),
        ("canary-set", "v1.1.0", "v1.0.0", 30),
        ("canary-promote", "v1.1.0", "v1.0.0", 30),
    ]
    assert got[0]["json"]["changelog"]["version"] == "v1.1.0"
    assert got[0]["json"]["changelog"]["previous"] == "v1.0.0"
    assert got[2]["json"]["tags"] == ["support#production#6", "support#production-canary!#7"]


def test_a_canary_the_monitor_aborts_is_told(
    model: Registry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    git(model.root, "remote", "remove", "origin")
    model.ok("canary", "start", "support", "v1.1.0", "production", "--percent", "10")
    failing = {"v1.0.0": {"ok": [0.02] * 900}, "v1.1.0": {"ok": [0.02] * 140, "errors": [0.02] * 60}}
    page = http_server(metrics_page(lambda: exposition("support", failing)))
    with receiver() as (url, got), page as metrics:
        user_config(monkeypatch, tmp_path, f"notify: [{{env: production, webhook: '{url}'}}]\n")
        result = model.run(
            "monitor", "support", "production", "--once", "--metrics-url", metrics + "/metrics"
        )
    assert result.exit_code == 1, result.stderr
    [post] = got
    assert (post["json"]["action"], post["json"]["version"], post["json"]["previous"]) == (
        "canary-abort",
        "v1.1.0",
        "v1.0.0",
    )
    assert post["json"]["reason"].startswith("monitor: error_rate: canary v1.1.0")


@pytest.mark.slow
def test_a_host_rollback_tells_the_host_files_rule(host: Host, follow: FollowServer) -> None:
    for version in ("v1.0.0", "v1.1.0"):
        host.promote(version)
        deploy_json(host, *follow.flags())
    with receiver() as (url, got):
        host_file = Path(localconfig.host_path())
        host_file.parent.mkdir(parents=True, exist_ok=True)
        host_file.write_text(f"notify: [{{env: production, webhook: '{url}/host'}}]\n")
        args = ("rollback", "production", "support", "--root", str(host.root), "--reason", "regressed")
        out = host.ok(*args, *follow.flags()).stdout
    assert "rollback: support production -> v1.0.0 (was v1.1.0)" in out and follow.version == "v1.0.0"
    [post] = got
    assert post["path"] == "/host" and post["json"]["pushed"] is True
    assert (post["json"]["action"], post["json"]["version"], post["json"]["previous"]) == (
        "rollback",
        "v1.0.0",
        "v1.1.0",
    )
    assert post["json"]["reason"] == "regressed"


def test_a_notify_section_pushed_in_gitmodel_yaml_is_refused_not_followed(
    released: Registry, fs_guard: Callable[..., Guard]
) -> None:
    git(released.root, "remote", "remove", "origin")
    with receiver() as (url, got):
        cfg = released.root / "gitmodel.yaml"
        cfg.write_text(cfg.read_text() + f"notify: [{{env: staging, webhook: '{url}'}}]\n")
        git(released.root, "commit", "-q", "--no-verify", "-am", "ops: tell us")
        guard = fs_guard(released.root)
        err = released.fails(2, "promote", "support", "v1.1.0", "staging").stderr
    assert "notify" in err and got == []
    guard.assert_unchanged()
