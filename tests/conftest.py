"""Test fixtures: the embedded PostgreSQL and Redis started once, migrations once, data cleaned per test."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.data_dirs import PRODUCT_SETTINGS

# The environment is set before anything of the product is imported (settings are read once).
_DATA_DIR = Path(os.environ.get("TRAVELMATE_TEST_DATA_DIR") or tempfile.mkdtemp(prefix="travelmate-tests-"))
_DATA_DIR.chmod(0o755)  # the embedded PostgreSQL runs as its own system user when tests run as root
if not os.environ.get("TRAVELMATE_TEST_DATA_DIR"):
    # Exit handlers run last-registered first, so this runs after the embedded servers have stopped.
    atexit.register(shutil.rmtree, _DATA_DIR, ignore_errors=True)
os.environ["TRAVELMATE_DATA_DIR"] = str(_DATA_DIR)
for name in PRODUCT_SETTINGS:
    os.environ.pop(name, None)

import pytest  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bot.runtime import Endpoints, migrate  # noqa: E402
from storage.audit import OPERATOR  # noqa: E402
from storage.database import Database  # noqa: E402
from storage.embedded import EmbeddedUrls, start_embedded  # noqa: E402
from storage.tenants import add_user, create_tenant  # noqa: E402


@pytest.fixture(scope="session")
def embedded() -> Iterator[EmbeddedUrls]:
    """Real PostgreSQL (pgvector) and Redis from the pip wheels, migrated once for the session."""
    urls = start_embedded(_DATA_DIR)
    migrate(Endpoints(urls.app_database_url, urls.owner_database_url, urls.redis_url, embedded=True))
    os.environ.update(
        DATABASE_URL=urls.app_database_url,
        DATABASE_OWNER_URL=urls.owner_database_url,
        DATABASE_WORKER_URL=urls.worker_database_url,
        REDIS_URL=urls.redis_url,
    )
    yield urls


@pytest.fixture(scope="session")
async def app_database(embedded: EmbeddedUrls) -> AsyncIterator[Database]:
    """The application role: RLS applies, as in production."""
    database = Database(embedded.app_database_url, pool_size=5)
    yield database
    await database.dispose()


@pytest.fixture(scope="session")
async def worker_db(embedded: EmbeddedUrls) -> AsyncIterator[Database]:
    """The worker's role: the application role plus the functions that walk every tenant."""
    database = Database(embedded.worker_database_url, pool_size=2)
    yield database
    await database.dispose()


@pytest.fixture(scope="session")
async def owner_db(embedded: EmbeddedUrls) -> AsyncIterator[Database]:
    """The owner role, for catalog checks and cleaning only; tests of behaviour use `db`."""
    database = Database(embedded.owner_database_url, pool_size=2)
    yield database
    await database.dispose()


@pytest.fixture
async def db(app_database: Database, owner_db: Database) -> AsyncIterator[Database]:
    """The application-role database; every tenant row is removed after the test."""
    yield app_database
    await wipe_tenant_data(owner_db)


async def wipe_tenant_data(owner: Database) -> None:
    async with owner.unscoped() as session:
        tables = (
            await session.execute(
                text(
                    "SELECT string_agg(format('%I.%I', schemaname, tablename), ', ') FROM pg_tables "
                    "WHERE schemaname IN ('public', 'users') AND tablename NOT IN ('alembic_version', 'checkpoint_migrations')"
                )
            )
        ).scalar_one()
        await session.execute(text(f"TRUNCATE {tables} CASCADE"))


@dataclass(frozen=True)
class Company:
    """A tenant with one admin and one traveller, as most tests need."""

    tenant_id: uuid.UUID
    admin_id: uuid.UUID
    traveler_id: uuid.UUID
    name: str


async def make_company(db: Database, name: str, *, timezone: str = "Europe/Berlin") -> Company:
    tenant_id = uuid.uuid4()
    async with db.tenant(tenant_id) as session:
        await create_tenant(session, name=name, actor=OPERATOR)
        admin = await add_user(
            session,
            actor=OPERATOR,
            display_name=f"{name} Admin",
            email=f"admin@{name.lower()}.test",
            role="admin",
            timezone=timezone,
        )
        traveler = await add_user(
            session,
            actor=OPERATOR,
            display_name=f"{name} Traveller",
            email=f"traveller@{name.lower()}.test",
            timezone=timezone,
        )
    return Company(tenant_id, admin.user_id, traveler.user_id, name)


@pytest.fixture
async def acme(db: Database) -> Company:
    return await make_company(db, "Acme")


@pytest.fixture
async def globex(db: Database) -> Company:
    return await make_company(db, "Globex")


# --- The agent against the scripted model server and real Postgres checkpoints -------------------------

import datetime as dt  # noqa: E402

from langchain_openai import ChatOpenAI  # noqa: E402

from agent.checkpoints import checkpoint_saver  # noqa: E402
from agent.context import Context  # noqa: E402
from agent.conversation import ConversationService  # noqa: E402
from agent.graph import build_graph  # noqa: E402
from agent.tools import AgentServices  # noqa: E402
from tests.fakes.scripted_model import ScriptedModel  # noqa: E402
from tests.fakes.slack_api import FakeSlack, SlackHarness, acme_slack  # noqa: E402

NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="session")
def scripted_model_server() -> Iterator[ScriptedModel]:
    with ScriptedModel() as server:
        yield server


@pytest.fixture(scope="module")
def fake_slack() -> Iterator[FakeSlack]:
    """Slack's Web API, faked over HTTP for the real slack_sdk client; each test resets what it needs."""
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
async def acme_on_slack(
    db: Database, embedded: EmbeddedUrls, scripted_model: ScriptedModel, fake_slack: FakeSlack
) -> AsyncIterator[SlackHarness]:
    """The product serving Acme's Slack workspace, nobody introduced yet."""
    async with acme_slack(db=db, embedded=embedded, model=scripted_model, fake=fake_slack) as harness:
        yield harness


@pytest.fixture
def scripted_model(scripted_model_server: ScriptedModel) -> Iterator[ScriptedModel]:
    """The stand-in for the LLM: each test scripts exactly which tool calls "the model" makes."""
    scripted_model_server.reset()
    yield scripted_model_server
    scripted_model_server.reset()


def chat_model(server: ScriptedModel, *, timeout: float = 5.0, max_retries: int = 0) -> ChatOpenAI:
    return ChatOpenAI(
        model="scripted-model",
        api_key="test-key",
        base_url=server.base_url,  # type: ignore[arg-type]
        timeout=timeout,
        max_retries=max_retries,
        temperature=0,
        use_responses_api=False,
    )


@pytest.fixture
async def conversation(
    db: Database, embedded: EmbeddedUrls, scripted_model: ScriptedModel
) -> AsyncIterator[ConversationService]:
    """The conversation service with the real graph, tools, checkpoints and a fixed clock."""
    services = AgentServices(db=db, clock=lambda: NOW)
    async with checkpoint_saver(embedded.app_database_url, max_size=4) as saver:
        yield ConversationService(
            services=services,
            graph=build_graph(model=chat_model(scripted_model), services=services, checkpointer=saver),
        )


def traveller(company: Company, *, role: str = "traveler", channel: str = "console") -> Context:
    return Context(
        tenant_id=company.tenant_id,
        user_id=company.traveler_id if role == "traveler" else company.admin_id,
        role=role,
        channel=channel,
        timezone="Europe/Berlin",
        locale="en",  # type: ignore[arg-type]
        display_name=f"{company.name} {role}",
    )
