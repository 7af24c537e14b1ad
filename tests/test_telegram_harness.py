"""Fixtures for the Telegram tests: the real ASGI app of `travelmate serve` with the fake Bot API behind it."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from telegram.ext import Application

from bot.product import Product, open_product
from bot.runtime import Endpoints
from bot.server import build_app
from storage.audit import Actor
from storage.database import Database
from storage.embedded import EmbeddedUrls
from storage.identities import link_identity
from storage.settings import Settings
from tests.conftest import Company
from tests.fakes.scripted_model import ScriptedModel
from tests.fakes.telegram_api import TOKEN, FakeTelegramAPI, TelegramUser, Updates

SECRET = "webhook-secret-0123456789"
ALEX = TelegramUser(111_222_333, "Alex")  # Acme's traveller in most tests
ROBIN = TelegramUser(777_888_999, "Robin")  # Acme's admin
WEBHOOK_URL = "https://travel.example/telegram/webhook"


@dataclass
class TelegramBot:
    """The running bot: post Update JSON to /telegram/webhook, read what it sent from the fake Bot API."""

    api: FakeTelegramAPI
    client: httpx.AsyncClient
    product: Product
    model: ScriptedModel
    updates: Updates = field(default_factory=Updates)

    def __post_init__(self) -> None:
        self.updates.api = self.api

    @property
    def db(self) -> Database:
        return self.product.db

    @property
    def application(self) -> Application[Any, Any, Any, Any, Any, Any]:
        application: Application[Any, Any, Any, Any, Any, Any] = self.product.extras["telegram"]
        return application

    async def post(self, update: dict[str, Any], *, secret: str | None = SECRET) -> httpx.Response:
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        return await self.client.post("/telegram/webhook", json=update, headers=headers)

    async def settle(self, timeout: float = 20.0) -> None:
        """Wait until every update handed to the application has been handled."""
        await asyncio.wait_for(self.application.update_queue.join(), timeout)

    async def deliver(self, update: dict[str, Any]) -> None:
        response = await self.post(update)
        assert response.status_code == 200
        await self.settle()

    async def link(
        self, company: Company, person: TelegramUser, *, admin: bool = False, user_id: uuid.UUID | None = None
    ) -> None:
        """Link a Telegram account as an invite would (the invite flow itself is tested separately): to the
        company's admin, its traveller, or the colleague `user_id`."""
        user_id = user_id or (company.admin_id if admin else company.traveler_id)
        async with self.db.tenant(company.tenant_id) as session:
            await link_identity(
                session,
                actor=Actor.user(user_id),
                channel="telegram",
                workspace_id="",
                external_user_id=str(person.id),
                user_id=user_id,
                chat_id=str(person.id),
            )


def telegram_settings(
    api: FakeTelegramAPI, model: ScriptedModel, embedded: EmbeddedUrls, **extra: Any
) -> Settings:
    values: dict[str, Any] = {
        "DATABASE_URL": embedded.app_database_url,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TELEGRAM_WEBHOOK_URL": WEBHOOK_URL,
        "TELEGRAM_API_URL": api.base_url,
        "TRAVELMATE_MODEL": "scripted-model",
        "OPENAI_API_KEY": "test",
        "OPENAI_BASE_URL": model.base_url,
        "TRAVELMATE_MODEL_MAX_RETRIES": 0,
        "TRAVELMATE_MODEL_TIMEOUT": 15,
    }
    values.update(extra)
    return Settings(_env_file=None, **{k: v for k, v in values.items() if v is not None})  # type: ignore[call-arg]


@contextlib.asynccontextmanager
async def running_bot(
    settings: Settings, embedded: EmbeddedUrls, api: FakeTelegramAPI, model: ScriptedModel
) -> AsyncIterator[TelegramBot]:
    """open_product + build_app, with the app's lifespan (startup registers the webhook) running."""
    # No Redis URL: the worker's sweeper would enqueue reminders; these tests look at the chat only.
    endpoints = Endpoints(embedded.app_database_url, embedded.owner_database_url, "", embedded=True)
    async with open_product(settings, endpoints) as product:
        app = build_app(product)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://travelmate.test") as client:
                yield TelegramBot(api, client, product, model)


@pytest.fixture(scope="session")
def telegram_api() -> Iterator[FakeTelegramAPI]:
    with FakeTelegramAPI() as api:
        yield api


@pytest.fixture
async def telegram(
    db: Database, embedded: EmbeddedUrls, scripted_model: ScriptedModel, telegram_api: FakeTelegramAPI
) -> AsyncIterator[TelegramBot]:
    """The bot in webhook mode, its fake Bot API emptied first."""
    telegram_api.reset()
    settings = telegram_settings(telegram_api, scripted_model, embedded)
    async with running_bot(settings, embedded, telegram_api, scripted_model) as bot:
        yield bot
    telegram_api.reset()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
