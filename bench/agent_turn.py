"""Benchmark of one conversation turn: the full product path against a bare LangGraph ReAct agent (B0).

All use the same zero-latency in-process model, so the figures show what the product adds: tenant-scoped
Postgres tools, facts loading, Postgres checkpoints, the prompt layout and history trimming. B1 is B0 with
the product's PostgreSQL checkpointer (TenantCheckpointSaver, one read and one write per turn, as the
product) in place of InMemorySaver: the floor for any turn that keeps its conversation in PostgreSQL, and so
what the product's own work adds on top of it. B2 is the stock peer a LangGraph user would build:
`create_agent` on langgraph's own AsyncPostgresSaver in the same database, with the same tool running the same
tenant query through `storage`; the product keeps at least 1.5x its throughput.

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
from langchain.tools import ToolRuntime
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from agent.checkpoints import checkpoint_saver
from agent.context import Context
from agent.conversation import ConversationService
from agent.facts import describe_itineraries
from agent.graph import build_graph
from agent.tools import AgentServices
from bench.latency import percentile
from bench.throwaway_servers import throwaway_servers
from storage.audit import OPERATOR
from storage.database import Database, libpq_url
from storage.embedded import EmbeddedUrls
from storage.itineraries import list_itineraries as stored_itineraries
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


def stock_tool(db: Database) -> Any:
    """B2's list_itineraries: the product tool's tenant query through `storage`, as a LangGraph user writes it."""

    @tool("list_itineraries")
    async def list_itineraries(runtime: ToolRuntime[Context]) -> str:
        """The traveller's itineraries."""
        ctx = runtime.context
        async with db.tenant(ctx.tenant_id) as session:
            trips = await stored_itineraries(session, user_id=ctx.user_id, status=None)
        return describe_itineraries(trips)

    return list_itineraries


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


async def python_time_per_turn(turn: Callable[[int], Awaitable[None]], *, turns: int) -> float:
    """Milliseconds of this process's CPU per turn, one turn at a time: what bounds throughput here."""
    started = time.process_time()
    for n in range(turns):
        await turn(n)
    return (time.process_time() - started) * 1000 / turns


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

    # langgraph's own tables are created by its setup(), which needs the owner role; turns then use them.
    stock_pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        libpq_url(urls.owner_database_url),
        max_size=concurrency,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        open=False,
    )
    async with (
        checkpoint_saver(urls.app_database_url, max_size=concurrency) as saver,
        checkpoint_saver(urls.app_database_url, max_size=concurrency) as bare_saver,
        stock_pool,
    ):
        stock_saver = AsyncPostgresSaver(stock_pool)
        await stock_saver.setup()
        stock = create_agent(model, tools=[stock_tool(db)], checkpointer=stock_saver, context_schema=Context)
        tenant_thread = f"{tenant_id}:console"
        saved = create_agent(model, tools=[bare_list_itineraries], checkpointer=bare_saver)
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

        async def saved_turn(n: int, thread: str | None = None) -> None:
            configurable = {"thread_id": f"{tenant_thread}:{thread or f's{n}'}", "user_id": str(user.user_id)}
            result = await saved.ainvoke(
                {"messages": [("user", "What trips do I have?")]},
                {"configurable": configurable},
                durability="exit",
            )
            assert result["messages"][-1].content.startswith("You have no trips")

        async def stock_turn(n: int, thread: str | None = None) -> None:
            result = await stock.ainvoke(
                {"messages": [("user", "What trips do I have?")]},
                {"configurable": {"thread_id": f"{tenant_thread}:{thread or f'p{n}'}"}},
                context=ctx,
            )
            assert result["messages"][-1].content.startswith("You have no trips")

        paths = {"full": full_turn, "B0": bare_turn, "B1": saved_turn, "B2": stock_turn}
        for warm in paths.values():  # warm every path (imports, pools, plans)
            await measure(warm, turns=concurrency, concurrency=concurrency)
        latencies: dict[str, list[float]] = {name: [] for name in paths}
        rates: dict[str, list[float]] = {name: [] for name in paths}
        for _ in range(3):  # alternate the paths to cancel drift
            for name, path in paths.items():
                lat, tps = await measure(path, turns=turns, concurrency=concurrency)
                latencies[name] += lat
                rates[name].append(tps)
        cpu = {name: await python_time_per_turn(path, turns=turns) for name, path in paths.items()}
        first, fiftieth = await conversation_growth(lambda thread, n: full_turn(n, thread))
    await db.dispose()

    p50 = {name: percentile(lat, 0.5) for name, lat in latencies.items()}
    p95 = {name: percentile(lat, 0.95) for name, lat in latencies.items()}
    tps = {name: statistics.median(rate) for name, rate in rates.items()}
    print(
        f"\nOne turn (user message → tool call → answer), {turns} turns × 3 rounds at concurrency {concurrency}:"
    )
    print(f"  {'':34}{'p50 ms':>10}{'p95 ms':>10}{'turns/s':>10}{'CPU ms/turn':>13}")
    for name, label in [
        ("full", "full product turn"),
        ("B0", "B0 bare ReAct + InMemorySaver"),
        ("B1", "B1 bare ReAct + product saver"),
        ("B2", "B2 create_agent + AsyncPostgresSaver"),
    ]:
        print(f"  {label:34}{p50[name]:10.2f}{p95[name]:10.2f}{tps[name]:10.1f}{cpu[name]:13.2f}")
    for base, target in [("B0", ""), ("B1", ""), ("B2", " (target throughput ≥ 1.5)")]:
        print(
            f"  full / {base}: p50 {p50['full'] / p50[base]:.2f}×, throughput {tps['full'] / tps[base]:.2f}×, "
            f"CPU per turn {cpu['full'] / cpu[base]:.2f}×{target}"
        )
    print(
        f"  B1 / B0 (the PostgreSQL checkpointer alone): p50 {p50['B1'] / p50['B0']:.2f}×, "
        f"throughput {tps['B1'] / tps['B0']:.2f}×, CPU per turn {cpu['B1'] / cpu['B0']:.2f}×"
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
