"""--namespace, as list, audit, status and gc take it: one parser (cli/options.py)."""

from __future__ import annotations

import pytest

from gitmodel.cli.options import client_namespace
from gitmodel.errors import UsageError


def test_a_namespace_passes_and_none_means_every_model() -> None:
    assert client_namespace("acme") == "acme"
    assert client_namespace(None) is None


@pytest.mark.parametrize("value", ["acme/bot", "acme:bot"])
def test_a_model_given_as_a_namespace_is_refused_with_the_fix(value: str) -> None:
    with pytest.raises(UsageError, match="--namespace takes a namespace such as acme, not the model") as err:
        client_namespace(value)
    assert err.value.exit_code == 2
