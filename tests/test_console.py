"""`travelmate chat` driven as a subprocess with piped stdin, against the scripted model server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from typing import Any

from sqlalchemy import func, select

from storage.database import Database
from storage.models import Booking, Itinerary, Tenant, TenantUser
from storage.reminder_runs import ConsoleMessage
from tests.fakes.scripted_model import Reply, ScriptedModel, call, say
from tests.test_agent_booking import berlin_days

ITINERARY = re.compile(r"Itinerary ([0-9a-f-]{36})")


def travel_agent(request: dict[str, Any]) -> Reply:
    """A stand-in model that plans on the first message, books on "book it", and then reports."""
    messages = request["messages"]
    last_human = next(m for m in reversed(messages) if m["role"] == "user")["content"]
    tool_results = [m for m in messages if m["role"] == "tool"]
    if messages[-2]["role"] == "tool":  # the facts come last; a tool has just answered
        return say(
            "Draft ready." if "Draft created" in messages[-2]["content"] else "Booked, have a good trip."
        )
    if "book it" in last_human.lower():
        itinerary_id = ITINERARY.search(tool_results[-1]["content"]).group(1)  # type: ignore[union-attr]
        return call("confirm_booking", itinerary_id=itinerary_id)
    return call("create_draft_itinerary", berlin_days())


def chat(stdin: str, model: ScriptedModel) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TRAVELMATE_MODEL": "scripted-model",
        "OPENAI_API_KEY": "test",
        "OPENAI_BASE_URL": model.base_url,
        "COLUMNS": "160",
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", "chat"],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


async def test_chat_plans_and_books_and_runs_every_offline_command(
    db: Database, owner_db: Database, scripted_model: ScriptedModel
) -> None:
    scripted_model.responder = travel_agent
    result = chat(
        "Plan Berlin 3-5 Dec for a workshop\nBook it\ny\n/help\n/trips\n/drafts\n/bookings\n/prefs\n/spend\n"
        '/prefs set currency USD\n/prefs set policy.hotel.max_nightly_rate {"amount":\n/frobnicate\n/quit\n',
        scripted_model,
    )
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "Draft ready." in out and "Book this trip? [y/n]" in out and "Booked, have a good trip." in out
    assert "Motel One Berlin-Mitte" in out and "628.90 EUR" in out
    assert "/prefs set KEY VALUE" in out  # /help shows admin commands to the demo admin
    assert "1 trip:" in out and "You have no draft itineraries." in out
    assert "[confirmed] flight: MUC → BER LH 1234, 2026-12-03, 189.00 EUR" in out  # /bookings
    assert "No completed travel spend is recorded for you in 2026" in out
    assert 'currency is now "USD".' in out
    assert "is not valid JSON" in out
    assert "I don't know the command /frobnicate. Try /help." in out
    assert out.rstrip().endswith("Goodbye.")
    async with owner_db.unscoped() as session:
        tenant = (await session.scalars(select(Tenant).where(Tenant.name == "Demo Company"))).one()
        assert (
            await session.scalars(select(Itinerary.status).where(Itinerary.tenant_id == tenant.id))
        ).one() == "confirmed"
        assert await session.scalar(select(func.count()).select_from(Booking)) == 3


async def test_chat_without_a_model_explains_how_to_configure_one(db: Database) -> None:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("OPENAI", "TRAVELMATE_MODEL"))
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", "chat"],
        input="Plan Berlin\n/drafts\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "No chat model is configured" in result.stdout and "TRAVELMATE_MODEL" in result.stdout
    assert "You have no draft itineraries." in result.stdout


async def test_chat_shows_reminders_that_arrived_while_it_was_closed(
    db: Database, owner_db: Database, scripted_model: ScriptedModel
) -> None:

    assert chat("/quit\n", scripted_model).returncode == 0  # first run creates the demo company
    async with owner_db.unscoped() as session:
        admin = (
            await session.scalars(select(TenantUser).where(TenantUser.display_name == "Demo Admin"))
        ).one()
    async with db.tenant(admin.tenant_id) as session:
        session.add(
            ConsoleMessage(
                tenant_id=admin.tenant_id,
                message_id=uuid.uuid4(),
                user_id=admin.user_id,
                reminder_id=None,
                body="Your flight LH 1234 leaves tomorrow at 07:00.",
            )
        )
    shown = chat("/quit\n", scripted_model)
    assert "Your flight LH 1234 leaves tomorrow at 07:00." in shown.stdout
    again = chat("/quit\n", scripted_model)
    assert "LH 1234" not in again.stdout  # read once, then gone from the outbox
