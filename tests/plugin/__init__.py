"""The test suite's plugin: fixtures registered once, helpers imported by name.

    fixtures.py    every shared fixture (hermetic, registry, released, model, served,
                   fs_guard, moto, world, host, follow, start_gateway); conftest.py registers it,
                   with timing and quick
    registry.py    Registry (the CLI in-process), git, refs, META, random_bytes
    templates.py   registries built once per session and copied into each test; Snapshots
                   (any built directory, copied per test), built_once (shared by xdist workers)
    host.py        the registry world, Host, FollowServer, deploy readers
    server.py      host layouts by hand, `gitmodel serve` as a process, http, wait_for,
                   kill_at (a command SIGKILLed at a GITMODEL_TEST_PAUSE_AT step)
    rollout.py     expositions, canned Prometheus answers, a real Prometheus, a webhook
                   receiver, user_config
    hooks.py       Served, refused
    clients.py     gto and dvc run as the user runs them
    forkrun.py     dvc, gto, gitmodel commands forked from a zygote that imported them once
    fsguard.py     hashed listings: prove an attack changed nothing outside its place
    attacks.py     a deployed registry to attack with forged commits, tags and objects
    fleet.py       a host following signed pointer documents, as per-session snapshots
    branches.py    promotion by request on a bare origin with hooks; clones as CI makes them
    terminal.py    a command run on a pseudo-terminal (progress bars, colours, widths)
    bytecode.py    .pyc files cached outside the clone even under PYTHONDONTWRITEBYTECODE
    timing.py      each test's CPU seconds in the JUnit report (bench/suite_times.py)
    quick.py       marks the tests in costly.txt slow, so `make test-quick` stays fast
    signing.py     real SSH keys (ssh-keygen), git's signing config, trust files
    llama.py       the llama-server binary (skips without it), tiny llama GGUFs as versions
    backend_stubs.py  vLLM's and Ollama's published HTTP APIs as stubs on 127.0.0.1
    gateway.py     the gateway in a thread, a fake backend of tiny OpenAI servers, a prober,
                   host_versions

Tests import helpers from these modules (`from plugin.host import Host`), never from
conftest or from another test module, and never import a fixture function.
"""
