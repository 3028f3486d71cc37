"""The reference inference server (`gitmodel serve`): a template for adapters, and the
test double that deploy, rollback and canary tests drive.

    hostlayout (gitmodel/hostlayout.py)  where versions live; the manifest and canary.json
    loaded.py        one version resolved and checked once (LoadedModel)
    gguf_header (gitmodel/gguf_header.py)  GGUF header without reading tensor data
    roles.py         loaded versions by role (stable, canary), and the per-request router
    canary_routing.py  the canary role: canary.json reloads, requests routed by key header
    app.py           reload rules, requests in flight
    handler.py       the HTTP endpoints
    limits.py        what a client may cost (connections, bytes, seconds); who may reload
    runner.py        the serve loop and its signals
"""
