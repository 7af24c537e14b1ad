"""`/v1/embeddings` for the scripted model server: deterministic vectors from the text itself.

Each vector is a hashed bag of words (lower-cased word stems, stop words dropped, each stem adding ±1 to
one of the dimensions its hash picks), normalised to length 1. Texts that share words are near each other
and the same text always gets the same vector, so a test can reason about what a search finds. The route
answers like OpenAI's: `float` or `base64` encoding (the openai SDK asks for base64 by default), the usage
block, and a 400 with OpenAI's error shape for what OpenAI rejects.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import struct
from collections.abc import Sequence
from typing import Any

from aiohttp import web

DEFAULT_DIMENSIONS = 384
MAX_INPUTS = 2048
MAX_INPUT_CHARS = 8192 * 4  # about OpenAI's 8,192-token limit per input
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "my",
        "of",
        "on",
        "or",
        "our",
        "the",
        "this",
        "to",
        "we",
        "what",
        "when",
        "where",
        "which",
        "who",
        "will",
        "with",
        "you",
        "your",
    ]
)


def _stems(text: str) -> list[str]:
    return [word[:6] for word in re.findall(r"[a-z0-9]+", text.lower()) if word not in _STOP]


def embed_text(text: str, dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    """The deterministic unit vector of `text`."""
    vector = [0.0] * dimensions
    for stem in _stems(text):
        digest = hashlib.blake2b(stem.encode(), digest_size=8).digest()
        index = int.from_bytes(digest[:4], "little") % dimensions
        vector[index] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0:
        vector[0], norm = 1.0, 1.0
    return [v / norm for v in vector]


def _error(message: str, param: str | None = None) -> web.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}}
    return web.Response(status=400, text=json.dumps(body), content_type="application/json")


def _inputs(value: Any) -> list[str] | str:
    """The input texts, or the reason OpenAI would give for rejecting them."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        return "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."
    if len(value) > MAX_INPUTS:
        return f"'$.input' is invalid: at most {MAX_INPUTS} inputs per request."
    if not all(isinstance(item, str) for item in value):
        # Token-id arrays are OpenAI's own tokenizer; this fake, like compatible servers, wants text.
        return "'$.input' is invalid: expected strings (token arrays are not supported by this server)."
    if any(not item for item in value):
        return "'$.input' is invalid: an input must not be empty."
    if any(len(item) > MAX_INPUT_CHARS for item in value):
        return "This model's maximum context length is 8192 tokens; reduce the length of the input."
    return value


def _encoded(vector: Sequence[float], encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return list(vector)


async def embeddings(request: web.Request) -> web.Response:
    try:
        body = json.loads(await request.read())
    except ValueError as exc:
        return _error(f"Invalid JSON body: {exc}")
    if not isinstance(body, dict):
        return _error("Invalid JSON body: the body is not a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return _error("you must provide a model parameter", "model")
    texts = _inputs(body.get("input"))
    if isinstance(texts, str):
        return _error(texts, "input")
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        return _error(
            f"'{encoding}' is not one of ['float', 'base64'] - 'encoding_format'", "encoding_format"
        )
    dimensions = body.get("dimensions", DEFAULT_DIMENSIONS)
    if not isinstance(dimensions, int) or isinstance(dimensions, bool) or not 1 <= dimensions <= 3072:
        return _error("'dimensions' must be an integer between 1 and 3072.", "dimensions")
    data = [
        {"object": "embedding", "index": i, "embedding": _encoded(embed_text(t, dimensions), encoding)}
        for i, t in enumerate(texts)
    ]
    tokens = sum(len(t.split()) for t in texts)
    return web.json_response(
        {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


def add_embedding_routes(app: web.Application) -> None:
    """Mount `/v1/embeddings` (and `/embeddings`) on the scripted model server."""
    app.router.add_post("/v1/embeddings", embeddings)
    app.router.add_post("/embeddings", embeddings)
