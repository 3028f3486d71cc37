"""Routing: deterministic (also across processes), monotone in the percentage, and fair."""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitmodel.rollout.routing import RoutingState, bucket, route, salt_for

keys = st.text(min_size=1, max_size=40)
salts = st.text(max_size=40)
percents = st.floats(min_value=0, max_value=100, allow_nan=False)


@given(keys, salts)
def test_bucket_is_a_point_in_0_100(key: str, salt: str) -> None:
    b = bucket(key, salt)
    assert 0 <= b < 100
    assert bucket(key, salt) == b


@given(keys, salts, percents, percents)
def test_monotone_in_percent(key: str, salt: str, p: float, q: float) -> None:
    low, high = sorted((p, q))
    if route(key, low, salt) == "canary":
        assert route(key, high, salt) == "canary"


@given(keys, salts)
def test_bounds(key: str, salt: str) -> None:
    assert route(key, 0, salt) == "stable"
    assert route(key, 100, salt) == "canary"


def test_known_values_pin_the_hash() -> None:
    # If these change, every deployed canary reshuffles its users: never change the hash.
    salt = salt_for("support", "production", "v1.1.0")
    assert salt == "support#production#v1.1.0"
    assert [round(bucket(k, salt), 6) for k in ("user-1", "user-2", "")] == [48.711716, 94.217671, 87.562131]
    # the recipe, spelled out: top 53 bits of sha256(salt NUL key), scaled to [0, 100)
    top = int.from_bytes(hashlib.sha256(b"support#production#v1.1.0\0user-1").digest()[:8], "big") >> 11
    assert bucket("user-1", salt) == top * 100 / 2**53


def test_same_answer_in_another_process() -> None:
    # PYTHONHASHSEED differs per process by default: the builtin hash() would disagree here.
    ks = [f"user-{i}" for i in range(200)]
    code = (
        "import json,sys; from gitmodel.rollout.routing import bucket; "
        "print(json.dumps([bucket(k, 'm#prod#v2.0.0') for k in json.load(sys.stdin)]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(ks),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={"PYTHONHASHSEED": "random", "PATH": "/usr/bin:/bin"},
    )
    assert json.loads(out.stdout) == [bucket(k, "m#prod#v2.0.0") for k in ks]


@settings(max_examples=25, deadline=None)
@given(st.floats(min_value=0.5, max_value=99.5), st.integers(0, 2**32))
def test_share_matches_percent_within_binomial_bounds(percent: float, seed: int) -> None:
    n = 20_000
    keys_ = [f"{seed}:{i}" for i in range(n)]
    hits = sum(route(k, percent, "salt") == "canary" for k in keys_)
    p = percent / 100
    sigma = math.sqrt(n * p * (1 - p))
    # 5 sigma: a false alarm once in ~1.7 million draws, a biased hash shows at once.
    assert abs(hits - n * p) <= 5 * sigma + 1, (hits, n * p, sigma)


def test_a_new_salt_reshuffles() -> None:
    ks = [f"user-{i}" for i in range(2000)]
    a = {k for k in ks if route(k, 10, "m#prod#v1.1.0") == "canary"}
    b = {k for k in ks if route(k, 10, "m#prod#v1.2.0") == "canary"}
    assert 150 < len(a) < 250 and 150 < len(b) < 250
    assert len(a & b) < 60  # independent draws overlap ~10%, i.e. ~20 keys


@pytest.mark.parametrize(
    ("canary", "percent", "key", "expected"),
    [
        (None, 0.0, "u1", "v1.0.0"),
        ("v1.1.0", 0.0, "u1", "v1.0.0"),
        ("v1.1.0", 100.0, "u1", "v1.1.0"),
        ("v1.1.0", 100.0, None, "v1.0.0"),  # no key: stable, so no user flips between versions
        ("v1.1.0", 100.0, "", "v1.0.0"),
    ],
)
def test_routing_state(canary: str | None, percent: float, key: str | None, expected: str) -> None:
    state = RoutingState(
        "support", "production", "v1.0.0", canary, percent, salt_for("support", "production", canary or "")
    )
    assert state.version_for(key) == expected
