"""gitmodel.yaml's `branches:` section, and the names of environment and request branches.

    branches:
      environments: true     # every pushed move also moves env/ENV/NAME (default: false)
      prefix: env/           # where environment branches live (default: env/)
      requests: [production] # environments that take new versions only through merged requests

An environment branch is `PREFIX + ENV + "/" + NAME`, NAME in its tag form: `support`,
or `acme=support` for the namespaced `acme/support` (a `/` there would make
`env/production/acme` and `env/production/acme/support` collide: git cannot hold a
ref and a folder of refs under one name). A request branch is
`gitmodel/request/ENV/NAME/vX.Y.Z`, NAME in the same form; its commit adds the folder
`.gitmodel/requests/ENV/NAME/vX.Y.Z/` (request.yaml: the move and the gate's verdict;
CHANGELOG.md), which stays on the default branch once merged: the proof of review.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gitmodel import validate as v
from gitmodel.errors import GitModelError
from gitmodel.refs import Version, parse_model, parse_stage, to_tag

_KEYS = ("environments", "prefix", "requests")
DEFAULT_PREFIX = "env/"
HEADS = "refs/heads/"
REQUEST_PREFIX = "gitmodel/request/"
REQUESTS_DIR = ".gitmodel/requests"
REQUEST_FILE = "request.yaml"
# Folders of lowercase names, ending in "/": safe in every git host's branch names.
_PREFIX = re.compile(r"^(?:[a-z0-9][a-z0-9._-]*/)+$")


@dataclass(frozen=True)
class BranchSettings:
    environments: bool = False
    prefix: str = DEFAULT_PREFIX
    requests: tuple[str, ...] = ()  # environments whose promotions need a merged request

    def branch(self, env: str, model: str) -> str:
        """The full ref of `model`'s branch for `env`."""
        return f"{HEADS}{self.prefix}{env}/{to_tag(model)}"

    def parse_branch(self, ref: str) -> tuple[str, str] | None:
        """(env, model) of an environment branch's full ref; None if it is not under the prefix.

        Raises ValueError for a ref under the prefix that names no environment and model.
        """
        if not ref.startswith(HEADS + self.prefix):
            return None
        env, slash, tagged = ref[len(HEADS + self.prefix) :].partition("/")
        if not slash or "/" in tagged:
            raise ValueError("it is not PREFIX/ENV/NAME")
        try:
            return parse_stage(env), parse_model(tagged.replace("=", ":"))
        except GitModelError as exc:
            raise ValueError(str(exc)) from None


def request_branch(env: str, model: str, version: Version) -> str:
    return f"{HEADS}{REQUEST_PREFIX}{env}/{to_tag(model)}/{version}"


def request_dir(env: str, model: str, version: Version) -> str:
    """The folder a request's files live in, on its branch and, once merged, on the default branch."""
    return f"{REQUESTS_DIR}/{env}/{to_tag(model)}/{version}"


def parse(value: object, at: v.Field, environments: tuple[str, ...]) -> BranchSettings:
    raw = v.mapping(value, at, _KEYS, "branches setting")
    prefix = DEFAULT_PREFIX
    if "prefix" in raw:
        prefix = v.text(raw["prefix"], at / "prefix")
        if not _PREFIX.match(prefix) or prefix.startswith(REQUEST_PREFIX.split("/")[0] + "/"):
            raise (at / "prefix").error(
                f"must be folders of lowercase names ending in '/', such as env/ (not {prefix!r}, "
                "and not under gitmodel/)"
            )
    requests = v.names(raw["requests"], at / "requests") if raw.get("requests") is not None else ()
    for env in requests:
        if env not in environments:
            raise (at / "requests").error(f"names {env!r}, which is not in environments")
    return BranchSettings(
        environments=v.flag(raw["environments"], at / "environments") if "environments" in raw else False,
        prefix=prefix,
        requests=requests,
    )
