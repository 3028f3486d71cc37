"""The optional JSONL decision log: which version answered each request, for audits.

One line per client request: time, request id, model, the routing key hashed, the
version and role that answered, the canary version it fell back from (if any), the
status and the latency.  The key is hashed (SHA-256, first 16 hex digits) so the log
holds no user ids, yet an auditor holding a user's id finds that user's lines.  A key
the client did not send (a random one was drawn) is logged as null.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("gitmodel.gateway")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def request_id(given: str | None) -> str:
    """The client's X-Request-Id when it is a sane token, else a fresh one."""
    if given and _REQUEST_ID.match(given):
        return given
    return os.urandom(16).hex()


class DecisionLog:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._file: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Line-buffered append: each decision reaches the file as one write, so lines from
            # a restarted gateway never interleave inside a line.
            self._file = path.open("a", encoding="utf-8", buffering=1)

    @property
    def enabled(self) -> bool:
        return self._file is not None

    def write(self, **record: Any) -> None:
        if self._file is None:
            return
        line = json.dumps({"ts": round(time.time(), 3), **record}, separators=(",", ":"))
        try:
            self._file.write(line + "\n")
        except OSError as exc:  # a full disk must not fail the request that was answered
            log.warning("decision log %s: %s", self.path, exc.strerror)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
