"""`changelog --namespace` reads a namespace as `list --namespace` (and status, gc, audit) do.

The changelog used to parse the option its own way (as the model `NS/x`): a model given
for a namespace, or a bad namespace, was refused naming a name the user never typed
(`'acme/bot/x'`), and a namespace of 99 or 100 characters was refused as "longer than
100 characters" where every other command takes it (and finds no model in it).
"""

from __future__ import annotations

import json

import pytest
from plugin.registry import Registry, random_bytes


@pytest.mark.parametrize("given", ["acme/bot", "acme:bot", "Acme", "acme/", "", "a" * 99])
def test_changelog_takes_or_refuses_a_namespace_as_list_does(registry: Registry, given: str) -> None:
    listed = registry.run("list", "--namespace", given, "--json")
    told = registry.run("changelog", "--namespace", given, "--json")
    assert (told.exit_code, told.stderr) == (listed.exit_code, listed.stderr)
    if listed.exit_code:
        assert told.exit_code == 2 and len(told.stderr.strip().splitlines()) == 1
        assert "/x'" not in told.stderr  # names what was typed, not a made-up model
    else:
        assert json.loads(told.stdout)["models"] == json.loads(listed.stdout)["models"] == []


@pytest.mark.slow
def test_a_namespace_is_its_own_models_not_a_prefix_nor_a_plain_model_of_its_name(
    registry: Registry,
) -> None:
    for seed, name in enumerate(("acme/bot", "acme-x/bot", "acme", "acmebot")):
        registry.write("w.gguf", random_bytes(2000, seed))
        registry.ok("register", name, "w.gguf", "--meta", str(registry.meta()))
        registry.ok("promote", name, "v1.0.0", "staging")
    listed = json.loads(registry.ok("list", "--namespace", "acme", "--json").stdout)
    told = json.loads(registry.ok("changelog", "--namespace", "acme", "--env", "staging", "--json").stdout)
    assert [m["name"] for m in told["models"]] == [m["name"] for m in listed["models"]] == ["acme:bot"]
