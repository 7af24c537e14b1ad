"""Benchmark of the Telegram webhook: how fast it acknowledges, and what the channel adds to a command.

Runs the real ASGI app (build_app) with the fake Bot API of the tests, against embedded PostgreSQL:
  * acknowledgement: POST /telegram/webhook → 200, against GET /healthz (one database round trip);
  * a handled command: /drafts from linked users in many chats, posted until the Bot API got every answer,
    against CommandRunner.run(ctx, "/drafts") called directly (B0: the command without the channel).

    python -m bench.telegram_webhook [--updates 400] [--chats 40]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

import httpx

from agent.context import Context
from agent.replies import AgentReply
from bench.latency import percentile
from bench.throwaway_servers import throwaway_servers
from bot.product import open_product
from bot.runtime import Endpoints
from bot.server import build_app
from storage.audit import OPERATOR, Actor
from storage.database import Database
from storage.embedded import EmbeddedUrls
from storage.identities import link_identity
from storage.settings import Settings
from storage.tenants import add_user, create_tenant
from tests.fakes.telegram_api import TOKEN, FakeTelegramAPI, TelegramUser, Updates

SECRET = secrets.token_urlsafe(16)


async def seed(db: Database, people: list[TelegramUser]) -> Context:
    tenant_id = uuid.uuid4()
    async with db.tenant(tenant_id) as session:
        await create_tenant(session, name="Bench Travel", actor=OPERATOR)
        user = await add_user(
            session, actor=OPERATOR, display_name="Bench Traveller", timezone="Europe/Berlin"
        )
        for person in people:
            await link_identity(
                session,
                actor=Actor.user(user.user_id),
                channel="telegram",
                workspace_id="",
                external_user_id=str(person.id),
                user_id=user.user_id,
            )
    return Context(
        tenant_id=tenant_id,
        user_id=user.user_id,
        role="traveler",
        channel="telegram",
        timezone="Europe/Berlin",
        locale="en",
    )


async def main(urls: EmbeddedUrls, updates: int, chats: int) -> None:
    people = [TelegramUser(900_000 + n, f"Bench {n}") for n in range(chats)]
    with FakeTelegramAPI() as api:
        settings = Settings(
            _env_file=None,
            DATABASE_URL=urls.app_database_url,
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_WEBHOOK_SECRET=SECRET,
            TELEGRAM_WEBHOOK_URL="https://bench.example/telegram/webhook",
            TELEGRAM_API_URL=api.base_url,
        )
        endpoints = Endpoints(urls.app_database_url, urls.owner_database_url, "", embedded=True)
        async with open_product(settings, endpoints) as product:
            ctx = await seed(product.db, people)
            app = build_app(product)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://bench.test") as client:
                    await measure(client, api, product.commands.run, ctx, people, updates)


async def measure(
    client: httpx.AsyncClient,
    api: FakeTelegramAPI,
    run_command: Callable[[Context, str], Awaitable[AgentReply]],
    ctx: Context,
    people: list[TelegramUser],
    updates: int,
) -> None:
    factory = Updates()
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}

    health: list[float] = []
    ack: list[float] = []
    for _ in range(updates):
        start = time.perf_counter()
        await client.get("/healthz")
        health.append((time.perf_counter() - start) * 1000)
    api.reset()
    for n in range(updates):
        update = factory.message(people[n % len(people)], "/drafts")
        start = time.perf_counter()
        response = await client.post("/telegram/webhook", json=update, headers=headers)
        ack.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    await api.wait_for_async("sendMessage", updates, timeout=120)

    api.reset()
    batch = [factory.message(people[n % len(people)], "/drafts") for n in range(updates)]
    start = time.perf_counter()
    await asyncio.gather(*(client.post("/telegram/webhook", json=u, headers=headers) for u in batch))
    await api.wait_for_async("sendMessage", updates, timeout=120)
    channel_seconds = time.perf_counter() - start

    start = time.perf_counter()
    await asyncio.gather(*(run_command(ctx, "/drafts") for _ in range(updates)))
    direct_seconds = time.perf_counter() - start

    print(f"\nWebhook acknowledgement, {updates} sequential requests:")
    print(f"  {'':34}{'p50 ms':>10}{'p95 ms':>10}")
    print(f"  {'POST /telegram/webhook → 200':34}{percentile(ack, 0.5):10.2f}{percentile(ack, 0.95):10.2f}")
    print(
        f"  {'B0 GET /healthz (SELECT 1)':34}{percentile(health, 0.5):10.2f}{percentile(health, 0.95):10.2f}"
    )
    print(f"  ratio p50 {statistics.median(ack) / statistics.median(health):.2f}×")
    print(f"\n/drafts handled end to end, {updates} updates from {len(people)} chats posted at once:")
    print(f"  {'through the channel':34}{updates / channel_seconds:10.1f} updates/s")
    print(f"  {'B0 CommandRunner.run directly':34}{updates / direct_seconds:10.1f} commands/s")
    print(f"  channel throughput {direct_seconds / channel_seconds:.2f}× of the bare command")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--updates", type=int, default=400)
    parser.add_argument("--chats", type=int, default=40)
    arguments = parser.parse_args()
    with throwaway_servers(redis=False) as servers:
        asyncio.run(main(servers, arguments.updates, arguments.chats))
