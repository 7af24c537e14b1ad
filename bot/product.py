"""The running product in one process: database, conversation service, commands and Redis, built once."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from agent.approval_steps import ApprovalDecided, StepOutcome
from agent.checkpoints import shared_checkpoint_saver
from agent.commands import CommandRunner
from agent.conversation import ConversationService
from agent.embeddings import build_embedder
from agent.graph import build_graph
from agent.model import build_chat_model
from agent.tools import AgentServices
from agent.travel_info.service import TravelInfo
from agent.travel_info.settings import TravelInfoSettings
from bot.runtime import Endpoints
from storage.database import Database
from storage.quotas import MessageLimits, Quotas
from storage.reminders import ScheduledReminder
from storage.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Product:
    """Everything a channel needs; channels stay thin on top of it."""

    settings: Settings
    endpoints: Endpoints
    db: Database
    conversation: ConversationService
    commands: CommandRunner
    redis: Redis | None
    extras: dict[str, Any] = field(default_factory=dict)
    # Each channel of this process shows a decided approval step where its people are (see follow_approval).
    approval_followers: dict[str, ApprovalDecided] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.commands.approval_decided = self.follow_approval

    async def follow_approval(
        self, tenant_id: uuid.UUID, outcome: StepOutcome, *, skip: str | None = None
    ) -> None:
        """A step was decided (a press in one channel, or /approvals anywhere): every other channel of this
        process rewrites its requests of the trip, tells the traveller and asks whoever approves next.

        A channel that fails is logged and the others still run: the decision stands, and the worker asks
        whoever was missed within its next run.
        """
        for name, follow in self.approval_followers.items():
            if name == skip:
                continue
            try:
                await follow(tenant_id, outcome)
            except Exception as error:  # one channel's outage must not hide the answer from the others
                log.warning("%s could not show an approval decision: %s", name, type(error).__name__)


REDIS_RETRIES = 2  # a command that meets a dead connection (Redis restarted) reconnects and tries again


def redis_client(url: str) -> Redis:
    """The process's Redis client. After a Redis restart its pooled connections are dead: a command retries
    on a fresh one. While Redis is away, commands fail within about a second instead of hanging."""
    return Redis.from_url(
        url,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), REDIS_RETRIES),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        socket_connect_timeout=2.0,
        socket_timeout=5.0,
    )


@asynccontextmanager
async def open_product(settings: Settings, endpoints: Endpoints) -> AsyncIterator[Product]:
    """Open the database pools, the checkpointer and Redis for one process, and close them after."""
    # One connection budget for the whole process: sessions, turns and checkpoints share it.
    db = Database.budgeted(endpoints.database_url, settings.db_connections)
    redis = redis_client(endpoints.redis_url) if endpoints.redis_url else None

    async def reminders_scheduled(reminders: Sequence[ScheduledReminder]) -> None:
        if redis is None:
            return  # the worker's sweeper enqueues due reminders from the database anyway
        from bot.reminder_queue import enqueue_reminders

        try:
            await enqueue_reminders(endpoints.redis_url, reminders)
        except (RedisError, OSError) as error:
            # The booking is committed; the worker's sweeper finds these reminders within a minute.
            log.warning(
                "reminders not enqueued now (%s); the sweeper will pick them up", type(error).__name__
            )

    async with AsyncExitStack() as stack:
        stack.push_async_callback(db.dispose)
        if redis is not None:
            stack.push_async_callback(redis.aclose)
        travel_info = await stack.enter_async_context(
            TravelInfo.open(TravelInfoSettings(), redis_url=endpoints.redis_url or None)
        )
        embedder = build_embedder(settings)
        services = AgentServices(
            db=db,
            embedder=embedder,
            reminders_scheduled=reminders_scheduled,
            quotas=Quotas(redis, MessageLimits.of(settings)) if redis is not None else None,
            travel_info=travel_info,
        )
        key = settings.encryption_key.get_secret_value() if settings.encryption_key else None
        saver = shared_checkpoint_saver(db.statements, encryption_key=key)
        model = build_chat_model(settings)
        graph = build_graph(model=model, services=services, checkpointer=saver) if model else None
        yield Product(
            settings=settings,
            endpoints=endpoints,
            db=db,
            conversation=ConversationService(services=services, graph=graph),
            commands=CommandRunner(
                db,
                clock=services.clock,
                saver=saver,
                reminders_scheduled=reminders_scheduled,
                redis=redis,
                embedder=embedder,
            ),
            redis=redis,
        )
