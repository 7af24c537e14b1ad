"""Benchmark of Slack event acknowledgement: the real app against Bolt's own minimal app (B0).

Both run in this process behind Starlette over httpx's ASGI transport, receive the same kind of signed DM
events at the same rate, and talk to the same fake Slack Web API. The real app (multi-workspace OAuth by
default) verifies the signature, finds the installation in Postgres and decrypts it, records the event id,
identifies the caller in Postgres, acks, then runs the turn lazily in the same event loop (a scripted
model answers at once, so that background work is real and competes with the acks). B0 is
`AsyncApp(token=...)` with one listener that only acks.

    python -m bench.slack_ack [--events 400] [--rate 25] [--users 20] [--mode oauth|single]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import time
from collections.abc import Awaitable, Callable

import httpx
from cryptography.fernet import Fernet
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.latency import percentile
from bench.throwaway_servers import throwaway_servers
from bot.product import open_product
from bot.runtime import Endpoints
from bot.server import build_app
from storage.embedded import EmbeddedUrls
from storage.settings import Settings
from tests.fakes.scripted_model import ScriptedModel, say
from tests.fakes.slack_api import CLIENT_ID, CLIENT_SECRET, SIGNING_SECRET, FakeSlack, SlackSender, new_ts

TEAM = "T0BENCH"
TARGET_P99_MS = 100.0


async def _no_wait() -> None:
    """B0 has no lazy work to wait for."""


async def one_dm(send: SlackSender, user: str) -> float:
    """One signed DM event, timed from request to HTTP response, in milliseconds."""
    event = {
        "type": "message",
        "channel": "D" + user,
        "channel_type": "im",
        "user": user,
        "text": "hello",
        "ts": new_ts(),
    }
    body = send.event_body(TEAM, event)
    start = time.perf_counter()
    response = await send.event(TEAM, event, body=body)
    elapsed = (time.perf_counter() - start) * 1000
    assert response.status_code == 200, response.text
    return elapsed


async def fire(send: SlackSender, users: list[str], events: int, rate: float) -> list[float]:
    """`events` DMs arriving at `rate` per second, whatever is still running from the earlier ones."""
    tasks = []
    for n in range(events):
        tasks.append(asyncio.create_task(one_dm(send, users[n % len(users)])))
        await asyncio.sleep(1 / rate)
    return list(await asyncio.gather(*tasks))


async def one_by_one(
    send: SlackSender, users: list[str], events: int, idle: Callable[[], Awaitable[None]]
) -> list[float]:
    """`events` DMs, each sent once the previous one's lazy turn is over: the ack path alone."""
    timings = []
    for n in range(events):
        timings.append(await one_dm(send, users[n % len(users)]))
        await idle()
    return timings


def minimal_bolt_app(fake: FakeSlack) -> Starlette:
    """B0: Bolt's own minimal app, a single listener that acks."""
    app = AsyncApp(
        signing_secret=SIGNING_SECRET,
        client=AsyncWebClient(token=fake.issue_token(TEAM), base_url=fake.base_url),
    )

    async def ack_only(ack: AsyncAck) -> None:
        await ack()

    app.event("message")(ack_only)
    handler = AsyncSlackRequestHandler(app)

    async def endpoint(request: Request) -> Response:
        return await handler.handle(request)

    return Starlette(routes=[Route("/slack/events", endpoint, methods=["POST"])])


async def install_by_oauth(http: httpx.AsyncClient, fake: FakeSlack, installer: str) -> None:
    fake.add_oauth_code("bench-code", TEAM, installer)
    start = await http.get("/slack/install")
    found = re.search(r"slack-app-oauth-state=([^;]+);", start.headers["set-cookie"])
    assert found is not None
    state = found.group(1)
    done = await http.get(
        "/slack/oauth_redirect",
        params={"code": "bench-code", "state": state},
        headers={"Cookie": f"slack-app-oauth-state={state}"},
    )
    assert done.status_code == 200, done.text


async def main(urls: EmbeddedUrls, events: int, rate: float, user_count: int, mode: str) -> None:
    endpoints = Endpoints(urls.app_database_url, urls.owner_database_url, urls.redis_url, embedded=True)
    users = [f"U0BENCH{n:03d}" for n in range(user_count)]
    with FakeSlack() as fake, ScriptedModel() as model:
        model.responder = lambda _request: say("Noted.")
        fake.add_workspace(TEAM, "Bench Corp")
        for user in users:
            fake.add_user(TEAM, user, f"Bench {user[-3:]}", email=f"{user.lower()}@bench.test")

        baseline = minimal_bolt_app(fake)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=baseline), base_url="http://b0.test"
        ) as http:
            send = SlackSender(http, SIGNING_SECRET, fake)
            await fire(send, users, 50, rate)  # warm-up
            b0 = await fire(send, users, events, rate)
            b0_alone = await one_by_one(send, users, events // 4, _no_wait)

        values = {
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": fake.base_url,
            "DATABASE_URL": urls.app_database_url,
            "REDIS_URL": urls.redis_url,
            "TRAVELMATE_MODEL": "scripted-model",
            "OPENAI_API_KEY": "bench",
            "OPENAI_BASE_URL": model.base_url,
            "TRAVELMATE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        }
        if mode == "oauth":
            values.update(SLACK_CLIENT_ID=CLIENT_ID, SLACK_CLIENT_SECRET=CLIENT_SECRET)
        else:
            values["SLACK_BOT_TOKEN"] = fake.issue_token(TEAM)
        settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
        async with open_product(settings, endpoints) as product:
            app = build_app(product)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://travelmate.test") as http:
                    send = SlackSender(http, SIGNING_SECRET, fake)
                    if mode == "oauth":
                        await install_by_oauth(http, fake, users[0])
                    channel = product.extras["slack"]
                    await fire(send, users, max(50, user_count), rate)  # warm-up; provisions every user once
                    await channel.settle(120.0)
                    real = await fire(send, users, events, rate)
                    started = time.perf_counter()
                    await channel.settle(300.0)
                    drained = time.perf_counter() - started
                    alone = await one_by_one(send, users, events // 4, lambda: channel.settle(60.0))
        replies = len([c for c in fake.called("chat.update")])

    print(f"\nSlack event ack latency, {user_count} users, {mode} mode")
    print(f"  {'':58}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    rows = (
        (f"travelmate, {events} DMs at {rate:g}/s (lazy turns running)", real),
        (f"B0 Bolt minimal app (ack only), {events} DMs at {rate:g}/s", b0),
        (f"travelmate, {len(alone)} DMs one at a time (ack path alone)", alone),
        (f"B0 Bolt minimal app, {len(b0_alone)} DMs one at a time", b0_alone),
    )
    for label, timings in rows:
        print(
            f"  {label:58}{statistics.median(timings):9.2f}{percentile(timings, 0.99):9.2f}{max(timings):9.2f}"
        )
    print(
        f"  ratio at {rate:g}/s: p50 {statistics.median(real) / statistics.median(b0):.2f}×, "
        f"p99 {percentile(real, 0.99) / percentile(b0, 0.99):.2f}×; one at a time: p50 "
        f"{statistics.median(alone) / statistics.median(b0_alone):.2f}×"
    )
    verdict = "met" if percentile(real, 0.99) < TARGET_P99_MS else "NOT met"
    print(f"  target p99 < {TARGET_P99_MS:g} ms under load: {verdict}")
    print(f"  lazy turns answered: {replies}; backlog drained {drained:.1f} s after the last ack")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--rate", type=float, default=25.0, help="events per second")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--mode", choices=["oauth", "single"], default="oauth")
    arguments = parser.parse_args()
    with throwaway_servers(redis=True) as servers:
        asyncio.run(main(servers, arguments.events, arguments.rate, arguments.users, arguments.mode))
