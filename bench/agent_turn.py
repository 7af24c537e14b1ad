"""Benchmark of one conversation turn: the full product path against a bare LangGraph ReAct agent (B0).

Both use the same zero-latency in-process model, so the figures show what the product adds: tenant-scoped
Postgres tools, facts loading, Postgres checkpoints, the prompt layout and history trimming.

    python -m bench.agent_turn [--turns 200] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from langchain.agents import create_agent
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from agent.checkpoints import checkpoint_saver
from agent.context import Context
from agent.conversation import ConversationService
from agent.graph import build_graph
from agent.tools import AgentServices
from bench.latency import percentile
from bench.throwaway_servers import throwaway_servers
from storage.audit import OPERATOR
from storage.database import Database
from storage.embedded import EmbeddedUrls
from storage.tenants import add_user, create_tenant


class InstantModel(BaseChatModel):
    """A zero-latency model: on a user message it calls list_itineraries, after a tool result it answers."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> InstantModel:  # type: ignore[override]
        return self

    @property
    def _llm_type(self) -> str:
        return "instant"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        last = next((m for m in reversed(messages) if m.type != "system"), messages[-1])
        if isinstance(last, ToolMessage):
            reply = AIMessage(content="You have no trips yet. Where would you like to go?")
        else:
            reply = AIMessage(
                content="",
                tool_calls=[{"name": "list_itineraries", "args": {}, "id": f"c{uuid.uuid4().hex[:8]}"}],
            )
        return ChatResult(generations=[ChatGeneration(message=reply)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._generate(messages, stop)


@tool("list_itineraries")
async def bare_list_itineraries() -> str:
    """The traveller's itineraries."""
    return "No itineraries."


async def measure(
    turn: Callable[[int], Awaitable[None]], *, turns: int, concurrency: int
) -> tuple[list[float], float]:
    """Latencies (ms) of `turns` turns run `concurrency` at a time, and turns per second."""
    latencies: list[float] = []
    counter = itertools.count()
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            n = next(counter)
            start = time.perf_counter()
            await turn(n)
            latencies.append((time.perf_counter() - start) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(turns)))
    return latencies, turns / (time.perf_counter() - started)


async def conversation_growth(
    turn: Callable[[str, int], Awaitable[None]], *, length: int = 50
) -> tuple[float, float]:
    """Median latency of turns 1-5 and 46-50 of one long conversation, sequentially."""
    thread = f"long-{uuid.uuid4().hex[:8]}"
    timings = []
    for n in range(length):
        start = time.perf_counter()
        await turn(thread, n)
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings[:5]), statistics.median(timings[-5:])


async def main(urls: EmbeddedUrls, turns: int, concurrency: int) -> None:
    db = Database(urls.app_database_url, pool_size=concurrency)
    tenant_id = uuid.uuid4()
    async with db.tenant(tenant_id) as session:
        await create_tenant(session, name="Bench Travel", actor=OPERATOR)
        user = await add_user(
            session, actor=OPERATOR, display_name="Bench Traveller", timezone="Europe/Berlin"
        )
    ctx = Context(
        tenant_id=tenant_id,
        user_id=user.user_id,
        role="traveler",
        channel="console",
        timezone="Europe/Berlin",
        locale="en",
        display_name="Bench Traveller",
    )
    model = InstantModel()
    services = AgentServices(db=db, clock=lambda: dt.datetime.now(dt.UTC))
    bare = create_agent(model, tools=[bare_list_itineraries], checkpointer=InMemorySaver())

    async with checkpoint_saver(urls.app_database_url, max_size=concurrency) as saver:
        service = ConversationService(
            services=services, graph=build_graph(model=model, services=services, checkpointer=saver)
        )

        async def full_turn(n: int, thread: str | None = None) -> None:
            reply = await service.handle_message(ctx, thread or f"t{n}", "What trips do I have?")
            assert reply.text.startswith("You have no trips"), reply.text

        async def bare_turn(n: int, thread: str | None = None) -> None:
            result = await bare.ainvoke(
                {"messages": [("user", "What trips do I have?")]},
                {"configurable": {"thread_id": thread or f"b{n}"}},
            )
            assert result["messages"][-1].content.startswith("You have no trips")

        for warm in (full_turn, bare_turn):  # warm both paths (imports, pools, plans)
            await measure(warm, turns=concurrency, concurrency=concurrency)
        rounds = []
        for _ in range(3):  # alternate A and B to cancel drift
            rounds.append(
                (
                    await measure(full_turn, turns=turns, concurrency=concurrency),
                    await measure(bare_turn, turns=turns, concurrency=concurrency),
                )
            )
        full_lat = [x for (lat, _), _b in rounds for x in lat]
        bare_lat = [x for _f, (lat, _) in rounds for x in lat]
        full_tps = statistics.median(tps for (_, tps), _b in rounds)
        bare_tps = statistics.median(tps for _f, (_, tps) in rounds)
        first, fiftieth = await conversation_growth(lambda thread, n: full_turn(n, thread))
    await db.dispose()

    p50, p95, b50, b95 = (
        percentile(full_lat, 0.5),
        percentile(full_lat, 0.95),
        percentile(bare_lat, 0.5),
        percentile(bare_lat, 0.95),
    )
    print(
        f"\nOne turn (user message → tool call → answer), {turns} turns × 3 rounds at concurrency {concurrency}:"
    )
    print(f"  {'':28}{'p50 ms':>10}{'p95 ms':>10}{'turns/s':>10}")
    print(f"  {'full product turn':28}{p50:10.2f}{p95:10.2f}{full_tps:10.1f}")
    print(f"  {'B0 bare ReAct + InMemory':28}{b50:10.2f}{b95:10.2f}{bare_tps:10.1f}")
    print(
        f"  ratio p50 {p50 / b50:.2f}× (target ≤ 1.5)   throughput {full_tps / bare_tps:.2f}× (target ≥ 0.75)"
    )
    print(
        f"  conversation growth: turns 1-5 {first:.2f} ms, turns 46-50 {fiftieth:.2f} ms, "
        f"ratio {fiftieth / first:.2f}× (target ≤ 1.3)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    arguments = parser.parse_args()
    with throwaway_servers() as servers:
        asyncio.run(main(servers, arguments.turns, arguments.concurrency))
