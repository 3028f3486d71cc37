"""Progressive rollout commands: canary start|set|promote|abort|status, monitor, ab report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from gitmodel.cli import output, render
from gitmodel.cli.options import F, json_option, repo
from gitmodel.records import Act

if TYPE_CHECKING:
    from gitmodel.rollout.canary_moves import CanaryStep
    from gitmodel.rollout.config import RolloutConfig
    from gitmodel.rollout.metrics_source import Source
    from gitmodel.rollout.monitor import Round

push_option = click.option("--push", is_flag=True, help="Send the tags to origin (atomically).")
reason_option = click.option("--reason", help="Why; recorded in the tag.")
percent_option = click.option(
    "--percent", type=float, required=True, help="Share of request keys routed to the canary, 0 < P < 100."
)


def source_options(fn: F) -> F:
    fn = click.option(
        "--window",
        metavar="DURATION",
        help="Span judged, e.g. 5m. Prometheus: default rollout.window (5m). "
        "--metrics-url: scrape twice this far apart (default: one scrape, "
        "counts since the server started).",
    )(fn)
    fn = click.option(
        "--metrics-url", metavar="URL", help="Read a server's /metrics page directly instead of Prometheus."
    )(fn)
    fn = click.option(
        "--prometheus", metavar="URL", help="Prometheus server to query (default: rollout.prometheus)."
    )(fn)
    return fn


def _source(
    root: Path, prometheus: str | None, metrics_url: str | None, window: str | None
) -> tuple[Source, RolloutConfig]:
    from gitmodel import config
    from gitmodel.errors import UsageError
    from gitmodel.rollout import config as rconfig
    from gitmodel.rollout.metrics_source import PrometheusSource, ScrapeSource

    rcfg = config.load(root).rollout
    if prometheus and metrics_url:
        raise UsageError("give --prometheus URL or --metrics-url URL, not both")
    span = rconfig.parse_duration(window) if window is not None else None
    if not prometheus and not metrics_url:
        prometheus, metrics_url = rcfg.prometheus, rcfg.metrics_url
    if prometheus:
        queries = {t.metric: t.query for t in rcfg.triggers if t.query is not None}
        return PrometheusSource(prometheus, span or rcfg.window, rcfg.names, queries=queries), rcfg
    if metrics_url:
        return ScrapeSource(metrics_url, rcfg.names, span), rcfg
    raise UsageError(
        "no metrics source: give --prometheus URL or --metrics-url URL, "
        "or set rollout.prometheus in gitmodel.yaml"
    )


@click.group()
def canary() -> None:
    """Canary releases: a newer version takes a share of an environment's traffic.

    The canary of ENV is the GTO stage ENV-canary (tags NAME#ENV-canary#N); its share
    of request keys is recorded in the tag. `promote` makes it ENV's version, `abort`
    returns all traffic to the stable version.
    """


def _step(step: CanaryStep) -> None:
    if not step.tags:
        output.info(step.note)
        return
    stable = f"stable {step.stable}" if step.stable else "no stable version"
    if step.action in ("canary-start", "canary-set"):
        output.info(
            f"{step.action}: {step.model} {step.env} canary {step.version} at {step.percent:g}% ({stable})"
        )
    elif step.action == "canary-promote":
        output.info(
            f"canary-promote: {step.model} {step.env} -> {step.version} (was {step.stable}); canary ended"
        )
    else:
        output.info(
            f"canary-abort: {step.model} {step.env} back to {step.stable} for all traffic "
            f"(canary {step.version} ended)"
        )
    where = "  (pushed to origin)" if step.pushed else "  (local; push with --push)"
    for tag in step.tags:
        output.info(f"  tag     {tag}{where}")


@canary.command("start")
@click.argument("name")
@click.argument("version", metavar="vX.Y.Z")
@click.argument("env")
@percent_option
@push_option
@click.option("--force", is_flag=True, help="Override a refusing gate (needs --reason).")
@reason_option
def start_cmd(
    name: str, version: str, env: str, percent: float, push: bool, force: bool, reason: str | None
) -> None:
    """Gate VERSION against what ENV serves, then route PERCENT of ENV's traffic to it."""
    from gitmodel.cli.envs import order_hint
    from gitmodel.gating import GateRefused
    from gitmodel.rollout.canary_moves import start

    try:
        with order_hint("canary start", ("name", "version", "env"), (name, version, env)):
            step = start(repo(), name, version, env, percent, push=push, force=force, reason=reason)
    except GateRefused as exc:
        render.verdict(exc.verdict)
        raise
    if step.verdict is not None and step.verdict.checks:
        render.verdict(step.verdict)
    _step(step)


@canary.command("set")
@click.argument("name")
@click.argument("env")
@percent_option
@push_option
@reason_option
def set_cmd(name: str, env: str, percent: float, push: bool, reason: str | None) -> None:
    """Change the share of ENV's traffic its canary gets."""
    from gitmodel.rollout.canary_moves import set_percent

    _step(set_percent(repo(), name, env, percent, push=push, reason=reason))


@canary.command("promote")
@click.argument("name")
@click.argument("env")
@push_option
@click.option(
    "--force", is_flag=True, help="Promote a canary the canary policy says is not ready (needs --reason)."
)
@reason_option
def promote_cmd(name: str, env: str, push: bool, force: bool, reason: str | None) -> None:
    """Make the canary ENV's version and end the canary (one atomic push).

    When gitmodel.yaml requires a canary before ENV (promotion: ENV: canary:), a canary
    that has not run its soak time or served its requests is refused with the numbers.
    """
    from gitmodel.rollout.canary_moves import promote

    _step(promote(repo(), name, env, push=push, reason=reason, force=force))


@canary.command("abort")
@click.argument("name")
@click.argument("env")
@reason_option
@push_option
def abort_cmd(name: str, env: str, reason: str | None, push: bool) -> None:
    """End the canary: all of ENV's traffic goes back to the stable version."""
    from gitmodel.rollout.canary_moves import abort

    _step(abort(repo(), name, env, reason=reason, push=push))


@canary.command("status")
@click.argument("name")
@click.argument("env")
@json_option
def status_cmd(name: str, env: str, as_json: bool) -> None:
    """The routing state of NAME in ENV: stable, canary, share and hash salt."""
    from gitmodel import config
    from gitmodel.rollout.canary_state import read_routing

    root = repo()
    config.load(root).check_env(env)
    state = read_routing(root, name, env)
    if as_json:
        output.emit_json(state.to_json())
    elif state.canary is None:
        output.info(f"{state.model} {env}: stable {state.stable or '-'}, no canary")
    else:
        output.info(
            f"{state.model} {env}: stable {state.stable}, canary {state.canary} "
            f"at {state.percent:g}% (salt {state.salt})"
        )


def _judgement_table(r: Round) -> None:
    j = r.judgement
    heads = ["METRIC"]
    cols = []
    if j.baseline is not None:
        heads.append(f"{j.basis.upper()} {j.baseline.version}")
        cols.append(j.baseline)
    heads.append(f"{'CANARY' if r.canary is not None else 'SERVING'} {j.subject.version}")
    cols.append(j.subject)
    from gitmodel.rollout.config import METRICS
    from gitmodel.rollout.triggers import fmt

    findings = {f.trigger.metric: f for f in j.findings}
    rows = [["requests", *(f"{c.requests:.0f}" for c in cols), "", ""]]
    for metric in [*METRICS, *(m for m in findings if m not in METRICS)]:
        f = findings.get(metric)
        rule = f.trigger.describe(j.basis).split(" ", 1)[1] if f else ""
        verdict = ""
        if f is not None:
            verdict = f"FIRED ({f.trigger.action})" if f.fired else f.outcome
        if f is None and all(c.values.get(metric) is None for c in cols):
            continue
        rows.append([metric, *(fmt(metric, c.values.get(metric)) for c in cols), rule, verdict])
    output.echo_table([*heads, "RULE", "RESULT"], rows)


def _render_round(r: Round) -> None:
    j = r.judgement
    what = f"canary {r.canary} vs stable {r.stable}" if r.canary else f"{r.stable} (no canary)"
    output.info(f"{r.model} {r.env}: {what}, {r.observation.span} ({r.observation.source})")
    if r.watch is not None and r.watch.watch.active:
        output.info(r.watch.watch.describe(r.observation.window))
    _judgement_table(r)
    if j.status == "insufficient":
        output.info(j.note + (f"; {r.ramp}" if r.ramp else ""))
        return
    if j.note:
        output.info(j.note)
    for f in j.findings:
        if f.outcome == "skipped":
            output.info(f"  skipped: {f.message}")
    fired = [f for f in j.findings if f.fired]
    for f in fired:
        output.info(f"{'CRITICAL' if f.trigger.action == 'rollback' else 'ALERT'}: {f.message}")
    if r.action == Act.CANARY_ABORT:
        output.info(f"canary aborted: {r.env} serves {r.stable} to all traffic; tag {', '.join(r.tags)}")
    elif r.action == Act.ROLLBACK:
        output.info(
            f"rolled back: {r.env} -> {r.model} {r.moved_to} (was {r.stable}); tag {', '.join(r.tags)}"
        )
    elif r.action == Act.CANARY_SET:
        output.info(f"{r.ramp}; tag {', '.join(r.tags)}")
    elif r.action == Act.CANARY_PROMOTE:
        output.info(f"{r.ramp}: {r.env} -> {r.model} {r.moved_to} (was {r.stable}); tags {', '.join(r.tags)}")
    elif r.action == "alert":
        output.info("alert only: nothing moved" + (f"; {r.ramp}" if r.ramp else ""))
    elif not fired:
        output.info(f"healthy: no rule fired ({len(j.findings)} checked)" + (f"; {r.ramp}" if r.ramp else ""))
    for said in r.notified:
        output.info(f"  notified: {said}")


@click.command()
@click.argument("name")
@click.argument("env")
@source_options
@click.option("--once", is_flag=True, help="One round, then exit (for cron).")
@click.option(
    "--interval",
    type=click.FloatRange(0.1, 86400),
    default=60.0,
    show_default=True,
    help="Seconds from the start of one round to the start of the next when looping.",
)
@click.option(
    "--rounds",
    type=click.IntRange(1),
    help="Stop after this many rounds (default: until a critical trigger moves something, or Ctrl-C).",
)
@push_option
@json_option
def monitor(
    name: str,
    env: str,
    prometheus: str | None,
    metrics_url: str | None,
    window: str | None,
    once: bool,
    interval: float,
    rounds: int | None,
    push: bool,
    as_json: bool,
) -> None:
    """Judge rollback triggers (gitmodel.yaml rollout.triggers) on live metrics.

    A critical trigger aborts ENV's canary (or, with no canary, rolls ENV back) and
    records why; an alert prints and moves nothing. For rollout.watch after a full
    promotion, ratio rules compare with the version served before, over its last
    window before the promotion (--prometheus). With a ramp in gitmodel.yaml
    (promotion: ENV: canary: ramp:), a healthy window moves the canary to the next
    step once the current one has soaked, and promotes it after the last; each step
    is a tag. Exit 0: healthy or too few samples; 1: a trigger fired; 4: the metrics
    source is unreachable (nothing moved).
    """
    from gitmodel import localconfig
    from gitmodel.rollout.monitor import Monitor

    root = repo()
    source, rcfg = _source(root, prometheus, metrics_url, window)
    if not as_json:
        report = _render_round
    elif once:
        report = _json_document
    else:
        report = _json_line
    watch = Monitor(root, name, env, source, rcfg, interval, push, alerts=localconfig.alerts())
    code = watch.run(1 if once else rounds, report)
    raise SystemExit(code)


def _json_document(r: Round) -> None:
    output.emit_json(r.to_json())


def _json_line(r: Round) -> None:
    output.emit_json_line(r.to_json())


@click.group()
def ab() -> None:
    """A/B comparison of an environment's stable version and its canary."""


@ab.command("report")
@click.argument("name")
@click.argument("env")
@source_options
@click.option(
    "--alpha",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="Significance level (default: rollout.alpha, 0.05).",
)
@json_option
def report_cmd(
    name: str,
    env: str,
    prometheus: str | None,
    metrics_url: str | None,
    window: str | None,
    alpha: float | None,
    as_json: bool,
) -> None:
    """Per version: requests, error rate, p50/p95 latency; and whether they differ significantly."""
    from gitmodel.rollout.report import ab_report
    from gitmodel.rollout.triggers import fmt

    root = repo()
    source, rcfg = _source(root, prometheus, metrics_url, window)
    data = ab_report(root, name, env, source, alpha or rcfg.alpha, rcfg.min_samples)
    if as_json:
        output.emit_json(data)
        return
    span = data["window"] if data["window"].startswith("since") else f"over the last {data['window']}"
    output.info(f"{data['model']} {env}: {span} ({data['source']})")
    rows = [
        [
            r["version"],
            r["role"],
            f"{r['requests']:.0f}",
            f"{r['errors']:.0f}",
            fmt("error_rate", r["error_rate"]),
            fmt("latency_p50", r["latency_p50"]),
            fmt("latency_p95", r["latency_p95"]),
            fmt("tokens_per_request", r["tokens_per_request"]),
        ]
        for r in data["versions"]
    ]
    heads = ["VERSION", "ROLE", "REQUESTS", "ERRORS", "ERROR RATE", "P50", "P95", "TOKENS/REQ"]
    output.echo_table(heads, rows)
    comp = data["comparison"]
    if comp:
        for label, key in (("error rate", "error_rate"), ("latency", "latency")):
            t = comp[key]
            if t["p_value"] is None:
                output.info(f"{label}: not testable ({t['note']})")
            else:
                verdict = "significant" if t["significant"] else "not significant"
                output.info(
                    f"{label}: p = {t['p_value']:.3g}, {verdict} at alpha {data['alpha']:g} ({t['test']})"
                )
    output.info(data["advice"])


COMMANDS = [canary, monitor, ab]
