"""The scripted model speaks OpenAI's chat-completions protocol well enough for the real ChatOpenAI client."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from tests.fakes.scripted_model import (
    UNSCRIPTED_TEXT,
    Reply,
    ScriptedModel,
    ToolCall,
    call,
    call_many,
    calls,
    fail,
    hang,
    malformed_call,
    reply_from_json,
    say,
    with_references,
)

REPO_ROOT = Path(__file__).resolve().parent.parent


@tool
def search_flights(origin: str, destination: str, date: str) -> str:
    """Search flights between two IATA airport codes on a date (YYYY-MM-DD)."""
    return "[]"


@tool
def book_hotel(city: str, nights: int) -> str:
    """Book a hotel in a city for some nights."""
    return "booked"


@pytest.fixture
def model() -> Iterator[ScriptedModel]:
    with ScriptedModel() as scripted:
        yield scripted


def chat(model: ScriptedModel, **options: Any) -> ChatOpenAI:
    settings: dict[str, Any] = {"timeout": 5.0, "max_retries": 0, **options}
    return ChatOpenAI(model="gpt-test", base_url=model.base_url, api_key="sk-test", **settings)


async def stream_all(runnable: Any, messages: Any) -> AIMessageChunk:
    merged: AIMessageChunk | None = None
    async for chunk in runnable.astream(messages):
        merged = chunk if merged is None else merged + chunk
    assert merged is not None
    return merged


async def test_tool_call_round_trip_without_streaming(model: ScriptedModel) -> None:
    model.script(
        call("search_flights", origin="LHR", destination="JFK", date="2025-03-04"),
        say("There are 3 flights to New York."),
    )
    llm = chat(model).bind_tools([search_flights])
    history: list[BaseMessage] = [HumanMessage("Flights London to New York on 4 March?")]

    first = await llm.ainvoke(history)

    assert isinstance(first, AIMessage)
    assert first.tool_calls == [
        {
            "name": "search_flights",
            "args": {"origin": "LHR", "destination": "JFK", "date": "2025-03-04"},
            "id": first.tool_calls[0]["id"],
            "type": "tool_call",
        }
    ]
    assert first.response_metadata["finish_reason"] == "tool_calls"
    call_id = first.tool_calls[0]["id"]
    assert call_id is not None
    assert call_id.startswith("call_")

    history += [first, ToolMessage("[3 flights]", tool_call_id=call_id)]
    second = await llm.ainvoke(history)

    assert second.content == "There are 3 flights to New York."
    assert second.response_metadata["finish_reason"] == "stop"
    sent = model.messages()
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert sent[1]["tool_calls"][0]["id"] == call_id
    assert sent[2] == {"role": "tool", "content": "[3 flights]", "tool_call_id": call_id}
    assert model.pending == 0
    assert model.unscripted == 0


async def test_streamed_tool_calls_accumulate_their_split_arguments(model: ScriptedModel) -> None:
    model.script(
        calls(
            ToolCall("search_flights", {"origin": "CDG", "destination": "ZRH", "date": "2025-05-06"}),
            ("book_hotel", {"city": "Zürich", "nights": 2}),
            content="Let me check both.",
        )
    )
    llm = chat(model).bind_tools([search_flights, book_hotel])

    merged = await stream_all(llm, "Paris to Zürich on 6 May, and a hotel for two nights")

    assert merged.content == "Let me check both."
    assert [(tc["name"], tc["args"]) for tc in merged.tool_calls] == [
        ("search_flights", {"origin": "CDG", "destination": "ZRH", "date": "2025-05-06"}),
        ("book_hotel", {"city": "Zürich", "nights": 2}),
    ]
    assert merged.invalid_tool_calls == []
    assert merged.response_metadata["finish_reason"] == "tool_calls"
    assert model.last_request["stream"] is True


async def test_stream_usage_reports_token_counts(model: ScriptedModel) -> None:
    model.script(say("Your flight leaves at 09:40 from Terminal 5."))
    llm = chat(model, stream_usage=True)

    merged = await stream_all(llm, "When does my flight leave?")

    assert merged.content == "Your flight leaves at 09:40 from Terminal 5."
    usage = merged.usage_metadata
    assert usage is not None
    assert usage["input_tokens"] > 0
    assert usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert model.last_request["stream_options"] == {"include_usage": True}


async def test_non_streamed_reply_carries_usage(model: ScriptedModel) -> None:
    model.script(say("Done."))

    reply = await chat(model).ainvoke("Hi")

    assert reply.usage_metadata is not None
    assert reply.usage_metadata["input_tokens"] == -(-model.request_sizes[0] // 4)


async def test_server_error_surfaces_as_internal_server_error(model: ScriptedModel) -> None:
    model.script(fail(500, "upstream exploded"))

    with pytest.raises(openai.InternalServerError) as caught:
        await chat(model).ainvoke("Hi")

    assert caught.value.status_code == 500
    assert "upstream exploded" in str(caught.value)
    assert caught.value.body == {
        "message": "upstream exploded",
        "type": "server_error",
        "param": None,
        "code": None,
    }


async def test_rate_limit_surfaces_as_rate_limit_error_with_retry_after(model: ScriptedModel) -> None:
    model.script(fail(429, "slow down", retry_after=7))

    with pytest.raises(openai.RateLimitError) as caught:
        await chat(model).ainvoke("Hi")

    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.code == "rate_limit_exceeded"


async def test_errors_also_fail_streaming_requests(model: ScriptedModel) -> None:
    model.script(fail(500))

    with pytest.raises(openai.InternalServerError):
        await stream_all(chat(model), "Hi")


async def test_client_retries_honour_retry_after(model: ScriptedModel) -> None:
    model.script(fail(429, retry_after=0.05), say("Third time lucky? No, second."))

    reply = await chat(model, max_retries=1).ainvoke("Hi")

    assert reply.content == "Third time lucky? No, second."
    assert len(model.requests) == 2
    assert model.requests[0] == model.requests[1]


async def test_hanging_model_trips_the_client_timeout(model: ScriptedModel) -> None:
    model.script(hang(5))
    started = time.monotonic()

    with pytest.raises(openai.APITimeoutError):
        await chat(model, timeout=0.5).ainvoke("Hi")

    assert time.monotonic() - started < 2
    assert len(model.requests) == 1


async def test_a_slow_reply_does_not_hold_up_other_requests(model: ScriptedModel) -> None:
    model.script(hang(0.6, then=say("slow")), say("fast"))
    llm = chat(model)
    finished: list[str] = []

    async def ask(text: str) -> None:
        reply = await llm.ainvoke(text)
        finished.append(str(reply.content))

    slow = asyncio.create_task(ask("first"))
    while not model.requests:
        await asyncio.sleep(0.01)
    await asyncio.gather(slow, ask("second"))

    assert finished == ["fast", "slow"]


async def test_malformed_arguments_become_invalid_tool_calls(model: ScriptedModel) -> None:
    model.script(malformed_call("search_flights", '{"origin": "LHR", "destination": JFK}'))
    llm = chat(model).bind_tools([search_flights])

    reply = await llm.ainvoke("Flights?")

    assert isinstance(reply, AIMessage)
    assert reply.tool_calls == []
    [invalid] = reply.invalid_tool_calls
    assert invalid["name"] == "search_flights"
    assert invalid["args"] == '{"origin": "LHR", "destination": JFK}'
    assert invalid["error"] is not None
    assert "not valid JSON" in invalid["error"]


async def test_malformed_arguments_when_streamed(model: ScriptedModel) -> None:
    model.script(
        malformed_call("search_flights", "origin=LHR"),
        malformed_call("search_flights", '{"origin": "LHR", '),
    )
    llm = chat(model).bind_tools([search_flights])

    garbage = await stream_all(llm, "Flights?")
    truncated = await stream_all(llm, "Flights?")

    assert garbage.tool_calls == []
    assert [tc["args"] for tc in garbage.invalid_tool_calls] == ["origin=LHR"]
    # Streamed arguments are parsed as *partial* JSON: a truncated object is silently "repaired" into a
    # valid tool call that lacks the missing arguments, so tools must validate their own inputs.
    assert truncated.invalid_tool_calls == []
    assert [tc["args"] for tc in truncated.tool_calls] == [{"origin": "LHR"}]


async def test_requests_are_recorded_with_tool_schemas(model: ScriptedModel) -> None:
    model.script(say("ok"))
    llm = chat(model).bind_tools([search_flights, book_hotel])

    await llm.ainvoke([HumanMessage("Book me something")])

    [request] = model.requests
    assert request is model.last_request
    assert request["model"] == "gpt-test"
    assert model.tool_names() == ["search_flights", "book_hotel"]
    schema = model.tool_schemas(request)["search_flights"]
    assert schema["description"].startswith("Search flights between two IATA airport codes")
    assert set(schema["parameters"]["properties"]) == {"origin", "destination", "date"}
    assert schema["parameters"]["required"] == ["origin", "destination", "date"]
    assert model.tool_schemas()["book_hotel"]["parameters"]["properties"]["nights"]["type"] == "integer"
    assert model.messages() == [{"role": "user", "content": "Book me something"}]
    [size] = model.request_sizes
    assert size > len(json.dumps(request, separators=(",", ":"))) // 2


def test_sync_client_unscripted_requests_and_responder(model: ScriptedModel) -> None:
    llm = chat(model)

    assert llm.invoke("Hi").content == UNSCRIPTED_TEXT
    assert model.unscripted == 1

    model.responder = lambda body: say(f"echo: {body['messages'][-1]['content']}")
    assert llm.invoke("Paris").content == "echo: Paris"
    model.responder = lambda body: None
    assert llm.invoke("Rome").content == UNSCRIPTED_TEXT
    assert model.unscripted == 2

    model.reset()
    assert (model.requests, model.request_sizes, model.unscripted, model.responder) == ([], [], 0, None)


def test_parallel_calls_from_pairs_get_distinct_ids(model: ScriptedModel) -> None:
    model.script(
        call_many([("book_hotel", {"city": "Oslo", "nights": 1}), ("book_hotel", {"city": "Bergen"})])
    )

    reply = chat(model).bind_tools([book_hotel]).invoke("Two hotels")

    assert isinstance(reply, AIMessage)
    assert [tc["args"]["city"] for tc in reply.tool_calls] == ["Oslo", "Bergen"]
    assert len({tc["id"] for tc in reply.tool_calls}) == 2


async def test_stream_wire_format(model: ScriptedModel) -> None:
    model.script(call("search_flights", origin="LHR", destination="JFK", date="2025-03-04"))
    body = {
        "model": "gpt-test",
        "messages": [{"role": "user", "content": "x"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{model.base_url}/chat/completions", json=body)

    assert response.headers["content-type"].startswith("text/event-stream")
    lines = [line for line in response.text.split("\n\n") if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    *deltas, usage_chunk = chunks
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["total_tokens"] > 0
    assert all(c["usage"] is None for c in deltas)
    assert deltas[-1]["choices"][0]["finish_reason"] == "tool_calls"
    tool_deltas = [tc for c in deltas for tc in c["choices"][0]["delta"].get("tool_calls", [])]
    assert all(tc["index"] == 0 for tc in tool_deltas)
    argument_parts = [tc["function"]["arguments"] for tc in tool_deltas if tc["function"].get("arguments")]
    assert len(argument_parts) >= 2
    assert json.loads("".join(argument_parts)) == {
        "origin": "LHR",
        "destination": "JFK",
        "date": "2025-03-04",
    }


async def test_models_endpoint_lists_one_model(model: ScriptedModel) -> None:
    client = openai.AsyncOpenAI(base_url=model.base_url, api_key="sk-test", max_retries=0)
    page = await client.models.list()
    assert [m.id for m in page.data] == ["scripted-model"]
    await client.close()


def test_json_script_forms() -> None:
    assert reply_from_json({"say": "Hi"}) == say("Hi")
    assert reply_from_json({"call": "book_hotel", "arguments": {"city": "Oslo"}}) == call(
        "book_hotel", city="Oslo"
    )
    assert reply_from_json({"fail": 429, "retry_after": 2}).headers == {"retry-after": "2"}
    assert reply_from_json({"malformed_call": "x", "arguments": "{"}) == malformed_call("x", "{")
    assert reply_from_json({"hang": 3}).delay == 3
    assert reply_from_json({"say": "Hi", "delay": 0.5}) == say("Hi", delay=0.5)
    assert isinstance(reply_from_json({"calls": [{"name": "a", "arguments": {}}, {"name": "b"}]}), Reply)
    with pytest.raises(ValueError, match="unknown scripted reply"):
        reply_from_json({"sing": "la"})


def test_command_line_serves_a_script_file(tmp_path: Path) -> None:
    script = tmp_path / "replies.json"
    script.write_text(
        json.dumps([{"call": "book_hotel", "arguments": {"city": "Oslo", "nights": 3}}, {"say": "Booked."}])
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.scripted_model", "--port", "0", "--script", str(script)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        assert base_url.endswith("/v1")
        llm = ChatOpenAI(model="gpt-test", base_url=base_url, api_key="sk-test", max_retries=0, timeout=5)
        first = llm.bind_tools([book_hotel]).invoke("Hotel in Oslo")
        assert isinstance(first, AIMessage)
        assert first.tool_calls[0]["args"] == {"city": "Oslo", "nights": 3}
        assert llm.invoke("Thanks").content == "Booked."
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=5)
    assert server.returncode == 0
    assert "served 2 requests, 0 scripted replies unused, 0 unscripted" in stderr


def test_a_script_can_name_the_latest_draft_instead_of_its_id() -> None:
    first, second = "0b5a2c1e-7f3d-4c8e-9a61-2d4b6e8f0a13", "5f0e9d8c-1a2b-4c3d-8e7f-6a5b4c3d2e1f"
    body = {
        "messages": [
            {"role": "user", "content": "Plan Berlin, then Paris"},
            {
                "role": "tool",
                "content": f"Draft created. Itinerary {first} (draft): Berlin, 03 Dec – 05 Dec 2026",
            },
            {
                "role": "tool",
                "content": f"Draft revised. Itinerary {second} (draft): Paris, 07 Dec – 08 Dec 2026",
            },
        ]
    }
    script = reply_from_json({"call": "confirm_booking", "arguments": {"itinerary_id": "$latest_draft"}})
    (booked,) = with_references(script, body).tool_calls
    assert json.loads(booked.arguments_json()) == {"itinerary_id": second}
    # No itinerary reported yet: the placeholder goes out as written, and the product refuses it.
    (unresolved,) = with_references(script, {"messages": body["messages"][:1]}).tool_calls
    assert json.loads(unresolved.arguments_json()) == {"itinerary_id": "$latest_draft"}
