"""Benchmark of scale-out: conversation turns per second through `travelmate serve` over HTTP, 1 to 3 replicas.

Signed Slack DM events go to the replicas round robin; a turn counts when its answer reaches the fake Slack
Web API. The model is the scripted server answering at once, so the figures show the product's own work:
Slack handling, the turn lease, the conversation's checkpoint, the tool-less answer. With each step the
PostgreSQL connections the replicas hold are sampled (at most `TRAVELMATE_DB_CONNECTIONS` each). The
baseline is one replica in the same run: the table gives each step's throughput as a ratio of it.

    python -m bench.scale [--turns 300] [--concurrency 30] [--connections 10]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import tempfile
import time
from pathlib import Path

import httpx
import psycopg
from redis import Redis

from bench.throwaway_servers import throwaway_servers
from storage.database import libpq_url
from storage.embedded import APP_ROLE, EmbeddedUrls
from tests.fakes.scripted_model import Reply, ScriptedModel, say
from tests.fakes.slack_api import ACME, SIGNING_SECRET, FakeSlack, SlackSender, acme_workspace, new_ts, sign
from tests.replicas import Deployment, deployment, environment

USERS = 100  # turns spread over travellers, each far below the per-person message rate


def instant(request: dict[str, object]) -> Reply:
    return say("Noted.")


def connections_in_use(urls: EmbeddedUrls) -> int:
    with psycopg.connect(libpq_url(urls.superuser_database_url)) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (APP_ROLE,)
        ).fetchone()
    return int(row[0]) if row else 0


async def one_turn(http: httpx.AsyncClient, send: SlackSender, fake: FakeSlack, url: str, user: str) -> None:
    thread_ts = new_ts()
    event = {
        "type": "message",
        "channel": "D" + user,
        "channel_type": "im",
        "user": user,
        "text": "What trips do I have?",
        "ts": new_ts(),
        "thread_ts": thread_ts,
        "team": ACME,
    }
    body = send.event_body(ACME, event)
    headers = {**sign(SIGNING_SECRET, body), "Content-Type": "application/json"}
    response = await http.post(f"{url}/slack/events", content=body.encode(), headers=headers)
    assert response.status_code == 200, response.text
    deadline = time.monotonic() + 120
    while not any(p.text == "Noted." for p in fake.thread("D" + user, thread_ts)):
        assert time.monotonic() < deadline, "a turn was not answered within 120 s"
        await asyncio.sleep(0.02)


async def step(
    running: Deployment, fake: FakeSlack, urls: EmbeddedUrls, *, turns: int, concurrency: int
) -> tuple[float, int]:
    """Turns per second over `turns` turns, `concurrency` at a time, and the most connections seen."""
    replicas = itertools.cycle(running.serve)
    users = itertools.cycle([f"US{n:04d}" for n in range(USERS)])
    gate = asyncio.Semaphore(concurrency)
    peak = 0

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, await asyncio.to_thread(connections_in_use, urls))
            await asyncio.sleep(0.5)

    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_keepalive_connections=0)) as http:
        send = SlackSender(http, SIGNING_SECRET, fake)

        async def gated(url: str, user: str) -> None:
            async with gate:
                await one_turn(http, send, fake, url, user)

        await asyncio.gather(*(gated(next(replicas).url, next(users)) for _ in range(concurrency)))  # warm
        sampler = asyncio.create_task(sample())
        started = time.perf_counter()
        await asyncio.gather(*(gated(next(replicas).url, next(users)) for _ in range(turns)))
        elapsed = time.perf_counter() - started
        sampler.cancel()
    return turns / elapsed, peak


async def run(urls: EmbeddedUrls, turns: int, concurrency: int, connections: int) -> None:
    results: dict[int, tuple[float, int]] = {}
    with FakeSlack() as fake, ScriptedModel() as model, tempfile.TemporaryDirectory() as logs:
        model.responder = instant
        token = acme_workspace(fake)
        for n in range(USERS):
            fake.add_user(ACME, f"US{n:04d}", f"Traveller {n}", email=f"s{n}@acme.test")
        env = environment(urls, fake, model, token, TRAVELMATE_DB_CONNECTIONS=str(connections))
        for replicas in (1, 2, 3):
            Redis.from_url(urls.redis_url).flushdb()  # each step starts with fresh message-rate windows
            with deployment(env, Path(logs), serve=replicas) as running:
                results[replicas] = await step(running, fake, urls, turns=turns, concurrency=concurrency)
    base = results[1][0]
    print(
        f"\nTurns through `serve` over HTTP, {turns} turns at concurrency {concurrency}, budget {connections}:"
    )
    print(f"  {'replicas':>8}{'turns/s':>10}{'× 1 replica':>14}{'PG connections':>17}")
    for replicas, (rate, peak) in results.items():
        print(f"  {replicas:>8}{rate:10.1f}{rate / base:14.2f}{peak:17}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=30)
    parser.add_argument("--connections", type=int, default=10)
    arguments = parser.parse_args()
    with throwaway_servers(redis=True) as servers:
        asyncio.run(run(servers, arguments.turns, arguments.concurrency, arguments.connections))
