"""`gitmodel gateway`: the OpenAI-compatible proxy in front of real inference servers.

    layout.py      the models in ROOT and a version's files, read through hostlayout
    routes.py      the route table: the instance holding each role, picked per request key
    supervisor.py  start, confirm, check, swap, drain and stop backend instances (blue/green)
    proxy.py       /v1/* requests: route, fall back from canary to stable, relay streams
    upstream.py    the keep-alive HTTP/1.1 client proxy.py reaches the backends with
    control.py     /-/gitmodel/reload and /info: the protocol host deploys speak
    metrics.py     per-version Prometheus metrics in the names `gitmodel monitor` reads
    decisions.py   the optional JSONL decision log
    app.py         state and HTTP routes (aiohttp: the only package that imports it)
    runner.py      listen, serve, drain on SIGTERM
    leftovers.py   the run file: stop what a killed gateway left running before serving again

It may not import host/, hooks/, server/ or git (tests/test_layering.py): it reads ROOT
through hostlayout and drives servers through gitmodel/backends.
"""
