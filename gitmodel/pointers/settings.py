"""gitmodel.yaml's `pointers:` section: whether pushed moves publish pointer documents.

    pointers:
      publish: true          # every pushed move publishes its environment's document
      remotes: [storage, s3] # DVC remotes to publish to (default: the default remote)

Policy only: it names remotes the registry's .dvc/config already defines, never a URL.
"""

from __future__ import annotations

from dataclasses import dataclass

from gitmodel import validate as v

_KEYS = ("publish", "remotes")


@dataclass(frozen=True)
class PointerSettings:
    publish: bool = False
    remotes: tuple[str, ...] = ()  # () is the default DVC remote


def parse(value: object, at: v.Field) -> PointerSettings:
    raw = v.mapping(value, at, _KEYS, "pointers setting")
    return PointerSettings(
        publish=v.flag(raw["publish"], at / "publish") if "publish" in raw else False,
        remotes=v.names(raw["remotes"], at / "remotes") if raw.get("remotes") is not None else (),
    )
