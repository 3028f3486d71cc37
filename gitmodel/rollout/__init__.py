"""Progressive rollout: canaries as registry refs, request routing, triggers, A/B statistics.

routing.py         request key -> "canary" | "stable" (pure; any server can call it)
canary_state.py    the canary of an environment, read from registry state
canary_moves.py    canary start / set / promote / abort: tags written atomically
canary_policy.py   `promotion: ENV: canary:` applied: readiness (soak, samples) and the ramp
config.py          the `rollout:` section of gitmodel.yaml (triggers, window, names)
metrics_source.py  per-version counts from Prometheus' HTTP API or a /metrics scrape
stats.py           quantiles from histogram buckets; significance tests (scipy)
triggers.py        rules judged on canary vs stable side by side (pure)
monitor.py         one monitoring round: read, judge, abort or roll back, walk the ramp
watch.py           the watch after a full promotion: the previous version as ratio baseline
alerts.py          alert actions from local config: a webhook (JSON POST), a command
report.py          the A/B report
"""
