"""The host file's `backend:` mapping -> a Backend, each refusal one line naming the field.

    backend: {kind: llama-cpp, binary: /opt/llama-server, args: [-c, "2048"], ports: [8101, 8102]}

The mapping comes from the host's own file (localconfig.py), never from the registry:
it names binaries and commands this machine runs.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gitmodel import validate as v
from gitmodel.backends.base import Backend

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def _parsers() -> dict[str, Callable[[dict[str, Any], v.Field], Backend]]:
    # Imported here: the config module is what every kind imports its helpers from.
    from gitmodel.backends import command, llama_cpp, ollama, reference, router, vllm

    return {
        llama_cpp.KIND: llama_cpp.parse,
        router.KIND: router.parse,
        vllm.KIND: vllm.parse,
        ollama.KIND: ollama.parse,
        command.KIND: command.parse,
        reference.KIND: reference.parse,
    }


def kinds() -> tuple[str, ...]:
    return tuple(_parsers())


def parse(mapping: object, at: v.Field) -> Backend:
    """The backend MAPPING describes (at AT in the host file); raises ConfigError."""
    if not isinstance(mapping, dict):
        raise at.error(f"must be a mapping with a kind ({', '.join(kinds())}), not {mapping!r}"[:200])
    parsers = _parsers()
    kind = mapping.get("kind")
    if kind is None:
        raise (at / "kind").error(f"is missing; use one of {', '.join(parsers)}")
    v.choice(kind, at / "kind", tuple(parsers))
    return parsers[str(kind)](dict(mapping), at)


# Helpers the kinds share.


def fields(
    raw: dict[str, Any], at: v.Field, keys: tuple[str, ...], required: tuple[str, ...]
) -> dict[str, Any]:
    """RAW's keys checked against KEYS (plus kind); every REQUIRED one present."""
    checked = v.mapping(raw, at, ("kind", *keys), "backend setting")
    for key in required:
        if checked.get(key) is None:
            raise (at / key).error("is missing")
    return checked


def binary(value: object, at: v.Field) -> Path:
    """An absolute path to an executable file."""
    path = Path(v.text(value, at))
    if not path.is_absolute():
        raise at.error(f"must be an absolute path, not {value!r}")
    if not path.is_file() or not os.access(path, os.X_OK):
        raise at.error(f"{path} is not an executable file; build or install it, or fix the path")
    return path


def argv(value: object, at: v.Field, reserved: tuple[str, ...] = ()) -> tuple[str, ...]:
    """A list of arguments (or one string split like a shell would); RESERVED flags refused."""
    if value is None:
        return ()
    if isinstance(value, str):
        try:
            items: object = shlex.split(value)
        except ValueError as exc:
            raise at.error(f"cannot be split into arguments ({exc})") from None
    else:
        items = value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise at.error(f"must be a list of strings, not {value!r}"[:200])
    for item in items:
        flag = item.split("=", 1)[0]
        if flag in reserved:
            raise at.error(f"may not set {flag}: gitmodel sets it per version ({', '.join(reserved)})")
    return tuple(items)


def ports(value: object, at: v.Field) -> tuple[int, int]:
    """Two distinct TCP ports: slot 0 and slot 1 (the old and the new version side by side)."""
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536 for p in value)
        or value[0] == value[1]
    ):
        raise at.error(f"must be two different TCP ports, e.g. [8101, 8102], not {value!r}"[:200])
    return int(value[0]), int(value[1])


def port(value: object, at: v.Field) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise at.error(f"must be a TCP port (1-65535), not {value!r}"[:200])
    return value


def host(value: object, at: v.Field) -> str:
    """The address servers bind to: this machine only (the gateway is what others reach)."""
    if value is None:
        return "127.0.0.1"
    if value not in LOCAL_HOSTS:
        raise at.error(f"must be a loopback address ({', '.join(LOCAL_HOSTS)}), not {value!r}"[:200])
    return str(value)


def directory(value: object, at: v.Field) -> Path | None:
    if value is None:
        return None
    path = Path(v.text(value, at))
    if not path.is_absolute():
        raise at.error(f"must be an absolute path, not {value!r}")
    return path


def url_base(value: object, at: v.Field) -> str:
    return v.url(value, at).rstrip("/")


def timeout(value: object, at: v.Field, default: float) -> float:
    return default if value is None else v.positive(value, at)


def base_url(host_: str, port_: int) -> str:
    shown = f"[{host_}]" if ":" in host_ else host_
    return f"http://{shown}:{port_}"
