"""Typed values out of configuration files, each refusal one line naming the field.

    at = Field("gitmodel.yaml", "gate", "metrics", "accuracy")
    tolerance = non_negative(raw, at / "tolerance")
    # -> gitmodel.yaml: gate.metrics.accuracy.tolerance must be a number, not 'low'

Every config reader (gitmodel.yaml's sections, the host file, the user file) goes
through these helpers, so the same mistake reads the same way wherever it is made.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from typing import Any

from gitmodel.errors import PolicyError, UsageError

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "ki": 1024, "mi": 1024**2, "gi": 1024**3}
# What may name a command defined in local configuration: no spaces, no shell syntax,
# so a key can never be mistaken for (or smuggle) a command line.
COMMAND_KEY = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class ConfigError(UsageError):
    """A configuration value is wrong; the message names the file and the field."""


class RepoCommand(PolicyError):
    """The repository's configuration names something only local configuration may: refused, never run."""


class Field:
    """Where a value sits: the file (or flag) and the keys leading to it."""

    __slots__ = ("keys", "source")

    def __init__(self, source: str, *keys: str | int) -> None:
        self.source = source
        self.keys = keys

    def __truediv__(self, key: str | int) -> Field:
        return Field(self.source, *self.keys, key)

    def __str__(self) -> str:
        if not self.keys:
            return self.source
        return f"{self.source}: {'.'.join(str(k) for k in self.keys)}"

    def error(self, problem: str) -> ConfigError:
        return ConfigError(f"{self} {problem}")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def mapping(value: object, at: Field, keys: Collection[str], what: str = "setting") -> dict[str, Any]:
    """A mapping whose keys are all in ``keys`` (None is an empty one); a typo is refused."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise at.error(f"must be a mapping of {', '.join(sorted(keys))}, not {_shown(value)}")
    for key in value:
        if key not in keys:
            raise unknown_key(at, str(key), keys, what)
    return {str(k): v for k, v in value.items()}


def unknown_key(at: Field, key: str, keys: Collection[str], what: str = "setting") -> ConfigError:
    import difflib  # only to suggest a name: not on every hook's path

    close = difflib.get_close_matches(key, list(keys), n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return (at / key).error(f"is not a {what}; {hint}use {', '.join(sorted(keys))}")


def table(value: object, at: Field, what: str) -> dict[str, Any]:
    """A mapping with free keys (model names, metric names, command keys)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise at.error(f"must be a mapping of {what}, not {_shown(value)}")
    for key in value:
        if not isinstance(key, str) or not key:
            raise at.error(f"has a key {_shown(key)} that is not a name")
    return dict(value)


def number(value: object, at: Field) -> float:
    """A real, finite number (not a boolean, not a string that looks like one)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise at.error(f"must be a number, not {_shown(value)}")
    return float(value)


def non_negative(value: object, at: Field) -> float:
    n = number(value, at)
    if n < 0:
        raise at.error(f"must not be negative (it is {value!r})")
    return n


def positive(value: object, at: Field) -> float:
    n = number(value, at)
    if n <= 0:
        raise at.error(f"must be more than 0 (it is {value!r})")
    return n


def fraction(value: object, at: Field) -> float:
    """Strictly between 0 and 1, such as a significance level."""
    n = number(value, at)
    if not 0 < n < 1:
        raise at.error(f"must be between 0 and 1, e.g. 0.05 (it is {value!r})")
    return n


def whole(value: object, at: Field, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise at.error(f"must be a whole number of at least {minimum}, not {_shown(value)}")
    return value


def flag(value: object, at: Field) -> bool:
    if not isinstance(value, bool):
        raise at.error(f"must be true or false, not {_shown(value)}")
    return value


def text(value: object, at: Field) -> str:
    if not isinstance(value, str) or not value.strip():
        raise at.error(f"must be a non-empty string, not {_shown(value)}")
    return value


def names(value: object, at: Field) -> tuple[str, ...]:
    """A list of strings; a single string stands for a list of one."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
        raise at.error(f"must be a list of names, not {_shown(value)}")
    return tuple(items)


def choice(value: object, at: Field, options: Collection[str]) -> str:
    if value not in options:
        raise at.error(f"must be one of {', '.join(options)}, not {_shown(value)}")
    return str(value)


def url(value: object, at: Field) -> str:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")) or value.strip() != value:
        raise at.error(f"must be an http:// or https:// URL, not {_shown(value)}")
    return value


def local_command(value: object, at: Field, commands: Mapping[str, str], example: str) -> str:
    """A key of the local file's `commands:` (a rule names a command, never holds one)."""
    key = text(value, at)
    if key not in commands:
        raise at.error(
            f"names {key!r}, which `commands:` in this file does not define; "
            f"define it there, e.g. `commands: {{{example}: CMD}}`, and name its key here"
        )
    return key


def seconds(value: object, at: Field) -> float:
    """A timeout: a number of seconds, 0 or more."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise at.error(f"must be a number of seconds (0 or more), not {_shown(value)}")
    return float(value)


def duration(value: object, at: Field, minimum: float = 1.0) -> float:
    """Seconds from ``30s``, ``5m``, ``1h``, ``1d``, ``250ms`` or a plain number of seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        secs = float(value)
    else:
        m = _DURATION.match(str(value).strip())
        if not m:
            raise at.error(f"{_shown(value)} is not a duration; write e.g. 30s, 5m or 1h")
        secs = float(m[1]) * _DURATION_UNITS[m[2]]
    if not math.isfinite(secs):
        raise at.error(f"must be a finite duration, not {_shown(value)}")
    if secs < minimum:
        raise at.error(f"must be at least {minimum:g} second{'s' if minimum != 1 else ''}")
    return secs


def size(value: object, at: Field) -> int:
    """Bytes from 1048576, ``500k``, ``5MB`` (decimal) or ``5 MiB`` (binary)."""
    if isinstance(value, bool):
        raise at.error("must be a size such as 5MiB")
    if isinstance(value, int) and value > 0:
        return value
    m = _SIZE.match(str(value))
    if not m:
        raise at.error(f"{_shown(value)} is not a size; write e.g. 5MiB or 500kB")
    unit = (m[2] or "").lower().removesuffix("b")
    n = int(float(m[1]) * _SIZE_UNITS[unit])
    if n <= 0:
        raise at.error("must be more than 0 bytes")
    return n


def command_key(value: object, at: Field, fix: str) -> str:
    """A name of a command defined in local configuration, never a command line itself."""
    if isinstance(value, str) and COMMAND_KEY.match(value):
        return value
    raise RepoCommand(
        f"{at} is a command line ({_shown(value)}), and nothing executable comes from the repo; {fix}"
    )
