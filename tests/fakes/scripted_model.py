"""A scripted OpenAI-compatible chat-completions server that stands in for a real LLM in tests and demos.

The real ``langchain_openai.ChatOpenAI`` client (and therefore the real ``openai`` SDK, with its retries,
timeouts and SSE parsing) talks to this server over HTTP, so the code under test exercises the same wire
format it meets in production. Replies are queued in order::

    with ScriptedModel() as model:
        model.script(call("search_flights", origin="LHR", destination="JFK"), say("Found 3 flights."))
        llm = ChatOpenAI(model="gpt-test", base_url=model.base_url, api_key="sk-test")
        ...
        assert model.tool_names() == ["search_flights"]
        assert model.unscripted == 0

The server runs on ``127.0.0.1`` with an ephemeral port, in a background thread with its own event loop,
so it serves sync code, async tests and subprocesses (point ``OPENAI_BASE_URL`` at ``model.base_url``)
alike. It can also run stand-alone for demos::

    python -m tests.fakes.scripted_model --port 0 --script replies.json

which prints the base URL as the first line of stdout and serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import json
import math
import re
import signal
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from tests.fakes.chat_rules import refusal
from tests.fakes.embeddings import add_embedding_routes

__all__ = [
    "Reply",
    "Responder",
    "ScriptedModel",
    "ToolCall",
    "call",
    "call_many",
    "calls",
    "fail",
    "hang",
    "load_script",
    "malformed_call",
    "reply_from_json",
    "say",
    "with_references",
]

DEFAULT_MODEL_NAME = "scripted-model"
UNSCRIPTED_TEXT = "(no scripted reply)"

_ERROR_KINDS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    408: ("timeout", None),
    409: ("invalid_request_error", None),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", None),
    503: ("server_error", "service_unavailable"),
}

_tool_call_ids = itertools.count(1)
_tool_call_ids_lock = threading.Lock()


def _next_tool_call_id() -> str:
    with _tool_call_ids_lock:
        return f"call_{next(_tool_call_ids)}"


# --------------------------------------------------------------------------------------------------
# Replies
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolCall:
    """One tool call the model asks for.

    ``arguments`` is a mapping (sent as JSON) or a raw string sent verbatim, which may be invalid JSON.
    ``id`` is generated as ``call_<n>`` when the reply is served, unless given.
    """

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    def arguments_json(self) -> str:
        """The ``function.arguments`` string as it goes on the wire."""
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(dict(self.arguments), ensure_ascii=False)


@dataclass(frozen=True)
class Reply:
    """One scripted answer to one chat-completions request.

    A reply is either a success (``content`` and/or ``tool_calls``) or, when ``status`` is not 200, an
    OpenAI-style HTTP error. ``delay`` seconds pass (without blocking other requests) before anything is
    sent; ``chunk_delay`` seconds pass between streamed chunks.
    """

    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    delay: float = 0.0
    chunk_delay: float = 0.0
    finish_reason: str | None = None
    status: int = 200
    error_message: str = ""
    error_type: str | None = None
    error_code: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_error(self) -> bool:
        return self.status >= 400

    def delayed(self, seconds: float) -> Reply:
        """The same reply, answered after ``seconds``."""
        return dataclasses.replace(self, delay=seconds)

    def streamed_slowly(self, seconds_per_chunk: float) -> Reply:
        """The same reply, with a pause between streamed chunks."""
        return dataclasses.replace(self, chunk_delay=seconds_per_chunk)


Responder = Callable[[dict[str, Any]], Reply | None]
"""Fallback used when the queue is empty: gets the request body, returns a reply (or ``None`` to decline)."""


def say(text: str, *, delay: float = 0.0, finish_reason: str | None = None) -> Reply:
    """An assistant message with ``text`` as its content (``finish_reason`` ``stop`` unless given)."""
    return Reply(content=text, delay=delay, finish_reason=finish_reason)


def call(name: str, arguments: Mapping[str, Any] | None = None, /, **kwargs: Any) -> Reply:
    """One tool call: ``call("search_flights", origin="LHR")`` or ``call("x", {"from": "LHR"})``.

    Every keyword is a tool argument (so there is no ``delay=`` here: use ``call(...).delayed(s)``).
    """
    return Reply(tool_calls=(ToolCall(name, {**(arguments or {}), **kwargs}),))


def calls(
    *tool_calls: ToolCall | tuple[str, Mapping[str, Any] | str],
    content: str | None = None,
    delay: float = 0.0,
) -> Reply:
    """Parallel tool calls in one assistant message, optionally with some content alongside."""
    if not tool_calls:
        raise ValueError("calls() needs at least one tool call")
    made = tuple(tc if isinstance(tc, ToolCall) else ToolCall(tc[0], tc[1]) for tc in tool_calls)
    return Reply(content=content, tool_calls=made, delay=delay)


def call_many(pairs: Iterable[tuple[str, Mapping[str, Any] | str]], *, delay: float = 0.0) -> Reply:
    """Parallel tool calls from ``[(name, arguments), ...]``."""
    return calls(*pairs, delay=delay)


def malformed_call(name: str, raw_arguments: str, *, delay: float = 0.0) -> Reply:
    """A tool call whose ``arguments`` string is sent verbatim (typically not valid JSON)."""
    return Reply(tool_calls=(ToolCall(name, raw_arguments),), delay=delay)


def fail(
    status: int,
    message: str = "The scripted model failed on purpose.",
    headers: Mapping[str, str] | None = None,
    *,
    retry_after: float | None = None,
    error_type: str | None = None,
    code: str | None = None,
    delay: float = 0.0,
) -> Reply:
    """An HTTP error with an OpenAI-style body ``{"error": {"message", "type", "param", "code"}}``.

    ``retry_after`` sets the ``retry-after`` header (seconds), which the OpenAI SDK honours when retrying.
    """
    if status < 400:
        raise ValueError(f"fail() needs an error status, got {status}")
    default_type, default_code = _ERROR_KINDS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    all_headers = dict(headers or {})
    if retry_after is not None:
        all_headers["retry-after"] = f"{retry_after:g}"
    return Reply(
        status=status,
        error_message=message,
        error_type=error_type or default_type,
        error_code=code if code is not None else default_code,
        headers=all_headers,
        delay=delay,
    )


def hang(seconds: float, then: Reply | None = None) -> Reply:
    """Say nothing for ``seconds`` (to trip client timeouts), then answer ``then`` (short text by default)."""
    return (then or say("(answer after hanging)")).delayed(seconds)


def reply_from_json(item: Mapping[str, Any]) -> Reply:
    """Build a reply from its JSON form, as used by ``--script`` files.

    Forms: ``{"say": "text"}``, ``{"call": "name", "arguments": {...}}``,
    ``{"calls": [{"name": ..., "arguments": {...}}, ...], "content": "..."}``,
    ``{"malformed_call": "name", "arguments": "raw"}``, ``{"fail": 500, "message": "...", "retry_after": 1}``,
    ``{"hang": seconds, "then": {...}}``. Any item may add ``"delay": seconds``. A tool argument
    ``"$latest_draft"`` stands for the id of the itinerary a tool reported last (see :func:`with_references`).
    """
    reply: Reply
    if "say" in item:
        reply = say(str(item["say"]), finish_reason=item.get("finish_reason"))
    elif "call" in item:
        reply = call(str(item["call"]), item.get("arguments") or {})
    elif "calls" in item:
        reply = calls(
            *(ToolCall(str(c["name"]), c.get("arguments") or {}) for c in item["calls"]),
            content=item.get("content"),
        )
    elif "malformed_call" in item:
        reply = malformed_call(str(item["malformed_call"]), str(item.get("arguments", "{")))
    elif "fail" in item:
        reply = fail(
            int(item["fail"]),
            str(item.get("message", "The scripted model failed on purpose.")),
            item.get("headers"),
            retry_after=item.get("retry_after"),
        )
    elif "hang" in item:
        then = reply_from_json(item["then"]) if "then" in item else None
        return hang(float(item["hang"]), then)
    else:
        raise ValueError(f"unknown scripted reply: {dict(item)!r}")
    if "delay" in item:
        reply = reply.delayed(float(item["delay"]))
    return reply


# A script cannot know the ids the product makes; a tool argument may name "the latest draft" instead.
LATEST_DRAFT = "$latest_draft"
_ITINERARY_ID = re.compile(r"Itinerary ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")


def with_references(reply: Reply, body: Mapping[str, Any]) -> Reply:
    """``reply`` with each ``"$latest_draft"`` argument replaced by the last itinerary id a tool reported.

    Tools report an itinerary as ``Itinerary <uuid> (draft): ...``; the latest such line among the request's
    ``tool`` messages is the draft just made or revised. Without one the placeholder stays, and the
    product's own validation refuses it as a real model's made-up id would be.
    """
    if not any(LATEST_DRAFT in call.arguments_json() for call in reply.tool_calls):
        return reply
    found = [
        match.group(1)
        for message in body.get("messages", [])
        if message.get("role") == "tool"
        for match in _ITINERARY_ID.finditer(str(message.get("content") or ""))
    ]
    if not found:
        return reply
    resolved = tuple(
        dataclasses.replace(call, arguments=call.arguments_json().replace(LATEST_DRAFT, found[-1]))
        for call in reply.tool_calls
    )
    return dataclasses.replace(reply, tool_calls=resolved)


def load_script(path: str | Path) -> list[Reply]:
    """Read a JSON list of replies (see :func:`reply_from_json`)."""
    items = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(items, list):
        raise ValueError(f"{path}: a script is a JSON list of replies")
    return [reply_from_json(item) for item in items]


# --------------------------------------------------------------------------------------------------
# Wire format
# --------------------------------------------------------------------------------------------------


def _split(text: str, pieces: int) -> list[str]:
    """Split ``text`` into exactly ``pieces`` consecutive parts (some may be empty)."""
    size = max(1, math.ceil(len(text) / pieces))
    return [text[i * size : (i + 1) * size] for i in range(pieces)]


def _content_pieces(text: str) -> list[str]:
    """Word-sized pieces of ``text``, the way a model streams tokens."""
    return re.findall(r"\s*\S+|\s+$", text) or ([text] if text else [])


def _argument_pieces(arguments: str) -> list[str]:
    """At least two pieces, so that clients must accumulate tool-call argument deltas."""
    return _split(arguments, max(2, math.ceil(len(arguments) / 16)))


def _estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


@dataclass(frozen=True)
class _Served:
    """A reply with the details fixed at serving time (ids, token counts)."""

    reply: Reply
    completion_id: str
    created: int
    model: str
    tool_calls: tuple[tuple[str, ToolCall], ...]
    usage: dict[str, Any]

    @property
    def finish_reason(self) -> str:
        if self.reply.finish_reason:
            return self.reply.finish_reason
        return "tool_calls" if self.tool_calls else "stop"

    def message(self) -> dict[str, Any]:
        content = self.reply.content
        if content is None and not self.tool_calls:
            content = ""
        message: dict[str, Any] = {
            "role": "assistant",
            "content": content,
            "refusal": None,
            "annotations": [],
        }
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "id": tc_id,
                    "type": "function",
                    "function": {"name": tc.name, "arguments": tc.arguments_json()},
                }
                for tc_id, tc in self.tool_calls
            ]
        return message

    def completion(self) -> dict[str, Any]:
        return {
            "id": self.completion_id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_scripted",
            "service_tier": "default",
            "choices": [
                {"index": 0, "message": self.message(), "logprobs": None, "finish_reason": self.finish_reason}
            ],
            "usage": self.usage,
        }

    def chunks(self, *, include_usage: bool) -> list[dict[str, Any]]:
        """The ``chat.completion.chunk`` objects of the streamed form of this reply."""
        deltas: list[dict[str, Any]] = []
        first: dict[str, Any] = {"role": "assistant", "content": "", "refusal": None}
        content = self.reply.content or ""
        if self.tool_calls and not content:
            first["content"] = None
        deltas.append(first)
        deltas.extend({"content": piece} for piece in _content_pieces(content))
        for index, (tc_id, tc) in enumerate(self.tool_calls):
            deltas.append(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": tc_id,
                            "type": "function",
                            "function": {"name": tc.name, "arguments": ""},
                        }
                    ]
                }
            )
            deltas.extend(
                {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
                for piece in _argument_pieces(tc.arguments_json())
            )
        chunks = [self._chunk(delta, None, include_usage) for delta in deltas]
        chunks.append(self._chunk({}, self.finish_reason, include_usage))
        if include_usage:
            chunks.append(self._envelope([], self.usage))
        return chunks

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None, include_usage: bool) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        chunk = self._envelope([choice], None)
        if not include_usage:
            del chunk["usage"]
        return chunk

    def _envelope(self, choices: list[dict[str, Any]], usage: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_scripted",
            "service_tier": "default",
            "choices": choices,
            "usage": usage,
        }


def _usage(prompt_bytes: int, reply: Reply) -> dict[str, Any]:
    prompt_tokens = max(1, math.ceil(prompt_bytes / 4))
    produced = (reply.content or "") + "".join(tc.name + tc.arguments_json() for tc in reply.tool_calls)
    completion_tokens = _estimate_tokens(produced)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _error_body(message: str, error_type: str | None, code: str | None, param: str | None = None) -> str:
    return json.dumps({"error": {"message": message, "type": error_type, "param": param, "code": code}})


# --------------------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------------------


class ScriptedModel:
    """An OpenAI-compatible ``/v1/chat/completions`` server answering from a queue of scripted replies.

    Thread-safe: replies may be scripted and requests inspected from any thread while it serves.
    """

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, model_name: str = DEFAULT_MODEL_NAME
    ) -> None:
        self.host = host
        self.model_name = model_name
        self.responder: Responder | None = None
        self._requested_port = port
        self._port: int | None = None
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._queue: deque[Reply] = deque()
        self._requests: list[dict[str, Any]] = []
        self._request_sizes: list[int] = []
        self._responses: list[dict[str, Any]] = []
        self._unscripted = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._in_flight: set[asyncio.Task[Any]] = set()

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> Self:
        """Start serving in a background thread; returns once the port is bound."""
        if self._thread is not None:
            raise RuntimeError("ScriptedModel is already running")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="scripted-model", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            self._port = asyncio.run_coroutine_threadsafe(self._serve(), loop).result(timeout=10)
        except BaseException:
            self._shut_loop()
            raise
        return self

    def stop(self) -> None:
        """Stop serving; requests still waiting on a delay are cancelled."""
        if self._loop is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        self._shut_loop()

    def _shut_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop, self._thread, self._port = None, None, None
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=10)
        if not loop.is_running():
            loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def _serve(self) -> int:
        app = web.Application(middlewares=[self._track_in_flight])
        app.router.add_post("/v1/chat/completions", self._chat_completions)
        app.router.add_post("/chat/completions", self._chat_completions)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/models", self._models)
        add_embedding_routes(app)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._requested_port)
        await site.start()
        self._runner = runner
        port: int = runner.addresses[0][1]
        return port

    async def _shutdown(self) -> None:
        for task in list(self._in_flight):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _track_in_flight(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            response: web.StreamResponse = await handler(request)
            return response
        finally:
            if task is not None:
                self._in_flight.discard(task)

    # -- addresses ---------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(
                "ScriptedModel is not running: use `with ScriptedModel() as model:` or start()"
            )
        return self._port

    @property
    def base_url(self) -> str:
        """What to pass as ``base_url`` / ``OPENAI_BASE_URL``, e.g. ``http://127.0.0.1:54321/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    # -- scripting ---------------------------------------------------------------------------------

    def script(self, *replies: Reply) -> Self:
        """Append replies to the queue; each request takes the oldest one."""
        for reply in replies:
            if not isinstance(reply, Reply):
                raise TypeError(f"script() takes Reply objects (say(), call(), ...), got {reply!r}")
        with self._changed:
            self._queue.extend(replies)
        return self

    @property
    def pending(self) -> int:
        """How many scripted replies have not been served yet."""
        with self._lock:
            return len(self._queue)

    @property
    def unscripted(self) -> int:
        """How many requests found the queue empty and no responder reply (and got the placeholder)."""
        with self._lock:
            return self._unscripted

    def reset(self) -> None:
        """Forget queued replies, recorded requests and responses, the responder and the counters."""
        with self._changed:
            self._queue.clear()
            self._requests.clear()
            self._request_sizes.clear()
            self._responses.clear()
            self._unscripted = 0
            self.responder = None

    # -- inspection --------------------------------------------------------------------------------

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every chat-completions request body received, oldest first (a copy of the list)."""
        with self._lock:
            return list(self._requests)

    @property
    def request_sizes(self) -> list[int]:
        """The raw byte size of each request body, parallel to :attr:`requests`."""
        with self._lock:
            return list(self._request_sizes)

    @property
    def responses(self) -> list[dict[str, Any]]:
        """What each request got: the ``chat.completion`` object, or ``{"status": ..., "error": ...}``."""
        with self._lock:
            return list(self._responses)

    @property
    def last_request(self) -> dict[str, Any]:
        with self._lock:
            if not self._requests:
                raise AssertionError("the scripted model has received no request")
            return self._requests[-1]

    def _pick(self, request: dict[str, Any] | None) -> dict[str, Any]:
        return self.last_request if request is None else request

    def messages(self, request: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The ``messages`` of a request (the last one by default)."""
        return list(self._pick(request).get("messages", []))

    def tool_schemas(self, request: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
        """Tools offered in a request, name → ``{"name", "description", "parameters", ...}``."""
        tools = self._pick(request).get("tools") or []
        return {t["function"]["name"]: t["function"] for t in tools if t.get("type") == "function"}

    def tool_names(self, request: dict[str, Any] | None = None) -> list[str]:
        """Names of the tools offered in a request, in the order offered."""
        return list(self.tool_schemas(request))

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Block until at least ``count`` requests have arrived (for subprocess-driven tests)."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._requests) >= count, timeout=timeout):
                raise TimeoutError(f"expected {count} requests, got {len(self._requests)} within {timeout}s")
            return list(self._requests)

    # -- handlers ----------------------------------------------------------------------------------

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._changed:
            if self._queue:
                return with_references(self._queue.popleft(), body)
            responder = self.responder
        if responder is not None:
            reply = responder(body)
            if reply is not None:
                return reply
        with self._changed:
            self._unscripted += 1
        return say(UNSCRIPTED_TEXT)

    async def _models(self, request: web.Request) -> web.Response:
        model = {"id": self.model_name, "object": "model", "created": 0, "owned_by": "scripted"}
        return web.json_response({"object": "list", "data": [model]})

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("the body is not a JSON object")
        except ValueError as exc:
            return web.Response(
                status=400,
                text=_error_body(f"Invalid JSON body: {exc}", "invalid_request_error", None),
                content_type="application/json",
            )
        with self._changed:
            self._requests.append(body)
            self._request_sizes.append(len(raw))
            self._changed.notify_all()
        refused = refusal(body)
        if refused is not None:
            # As the real API: the request is refused before any reply is taken from the script.
            body_text = _error_body(refused.message, "invalid_request_error", refused.code, refused.param)
            with self._lock:
                self._responses.append({"status": 400, **json.loads(body_text)})
            return web.Response(status=400, text=body_text, content_type="application/json")
        try:
            reply = self._next_reply(body)
        except Exception as exc:  # a broken responder is a test bug: make it loud
            return self._error_response(500, f"scripted responder raised {exc!r}", "server_error", None, {})

        if reply.delay > 0:
            await asyncio.sleep(reply.delay)

        if reply.is_error:
            return self._error_response(
                reply.status, reply.error_message, reply.error_type, reply.error_code, reply.headers
            )

        served = _Served(
            reply=reply,
            completion_id=f"chatcmpl-{uuid.uuid4().hex[:24]}",
            created=int(time.time()),
            model=str(body.get("model") or self.model_name),
            tool_calls=tuple((tc.id or _next_tool_call_id(), tc) for tc in reply.tool_calls),
            usage=_usage(len(raw), reply),
        )
        completion = served.completion()
        with self._lock:
            self._responses.append(completion)

        if not body.get("stream"):
            return web.json_response(completion, headers=dict(reply.headers))

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", **reply.headers}
        )
        await response.prepare(request)
        async for line in self._sse(served, include_usage, reply.chunk_delay):
            await response.write(line)
        await response.write_eof()
        return response

    @staticmethod
    async def _sse(served: _Served, include_usage: bool, chunk_delay: float) -> AsyncIterator[bytes]:
        for chunk in served.chunks(include_usage=include_usage):
            yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode()
            if chunk_delay > 0:
                await asyncio.sleep(chunk_delay)
        yield b"data: [DONE]\n\n"

    def _error_response(
        self,
        status: int,
        message: str,
        error_type: str | None,
        code: str | None,
        headers: Mapping[str, str],
    ) -> web.Response:
        body = _error_body(message, error_type, code)
        with self._lock:
            self._responses.append({"status": status, **json.loads(body)})
        return web.Response(status=status, text=body, content_type="application/json", headers=dict(headers))


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a script until killed; the first line of stdout is the base URL."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.scripted_model", description="Serve scripted OpenAI-compatible replies."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--script", type=Path, help='JSON list of replies, e.g. [{"say": "Hi"}]')
    parser.add_argument("--fallback", help="text to answer once the script runs out")
    parser.add_argument("--model-name", default=DEFAULT_MODEL_NAME)
    args = parser.parse_args(argv)

    model = ScriptedModel(host=args.host, port=args.port, model_name=args.model_name)
    if args.script is not None:
        model.script(*load_script(args.script))
    if args.fallback is not None:
        fallback = say(args.fallback)
        model.responder = lambda _body: fallback

    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    with model:
        print(model.base_url, flush=True)
        while not stopped.wait(0.5):
            pass
    print(
        f"served {len(model.requests)} requests, {model.pending} scripted replies unused, "
        f"{model.unscripted} unscripted",
        file=sys.stderr,
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
