"""A deterministic stand-in for inference: same version and prompt, same answer.

The answer is derived from the version's content hash and the prompt, so a test (or a
deploy check) can tell from the text alone which bytes served a request.
"""

from __future__ import annotations

import hashlib
from typing import Any

from gitmodel.server.loaded import LoadedModel

_WORDS = (
    "model",
    "version",
    "answer",
    "ticket",
    "support",
    "refund",
    "order",
    "account",
    "please",
    "thanks",
    "shipping",
    "invoice",
    "reset",
    "password",
    "update",
    "status",
)
MAX_WORDS = 32  # one word per byte of a sha256 digest


def complete(lm: LoadedModel, prompt: str, max_tokens: int) -> dict[str, Any]:
    digest = hashlib.sha256(f"{lm.content_hash}\0{prompt}".encode()).digest()
    n = max(0, min(max_tokens, MAX_WORDS))
    text = " ".join(_WORDS[b % len(_WORDS)] for b in digest[:n])
    prompt_tokens = len(prompt.split())
    return {
        "id": "cmpl-" + digest.hex()[:24],
        "object": "text_completion",
        "model": lm.model,
        "version": lm.version,
        "content_hash": lm.content_hash,
        "digest": "sha256:" + digest.hex(),
        "choices": [{"index": 0, "text": text, "finish_reason": "length" if n < MAX_WORDS else "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": n, "total_tokens": prompt_tokens + n},
    }
