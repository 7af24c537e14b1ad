"""One verdict per decision: the card, the gate, the stored verdict and /spend agree when policy moves.

The scripted model drafts and confirms through the real tools; an admin changes the policy in between.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from agent.checkpoints import checkpoint_saver
from agent.commands import CommandRunner
from agent.conversation import ConversationService
from agent.policy import TravelPolicy
from agent.replies import AgentReply, ItineraryCard
from agent.tools import Decision
from storage.database import Database
from storage.embedded import EmbeddedUrls
from storage.models import Booking, PolicyVerdictRow, UserTravelHistory
from storage.preferences import tenant_preferences
from storage.trip_completion import complete_trip
from tests.conftest import NOW, Company, traveller
from tests.fakes.scripted_model import ScriptedModel, call, say
from tests.test_policy_scenarios import set_policy


@pytest.fixture
async def commands(db: Database, embedded: EmbeddedUrls) -> AsyncIterator[CommandRunner]:
    async with checkpoint_saver(embedded.app_database_url, max_size=2) as saver:
        yield CommandRunner(db, clock=lambda: NOW, saver=saver)


def munich_trip(
    start: str = "2027-01-11", *, hotel_cost: str = "190.00", currency: str = "EUR"
) -> dict[str, Any]:
    return {
        "start_date": start,
        "end_date": (dt.date.fromisoformat(start) + dt.timedelta(days=1)).isoformat(),
        "destinations": ["Munich"],
        "days": [
            {
                "day_number": 1,
                "date": start,
                "items": [
                    {
                        "kind": "flight",
                        "description": "BER → MUC LH 2040",
                        "cost": "200000" if currency == "JPY" else "120.00",
                        "currency": currency,
                        "origin": "BER",
                        "destination": "MUC",
                        "carrier": "Lufthansa",
                        "depart_at": f"{start}T07:00:00",
                        "arrive_at": f"{start}T08:05:00",
                        "cabin": "economy",
                    },
                    {
                        "kind": "hotel",
                        "description": "Motel One München-City",
                        "cost": hotel_cost,
                        "currency": currency,
                        "city": "Munich",
                        "nights": 1,
                        "vendor": "Motel One",
                    },
                ],
            }
        ],
    }


async def cap(db: Database, company: Company, amount: int) -> None:
    await set_policy(db, company, {"policy.hotel.max_nightly_rate": {"amount": amount, "currency": "EUR"}})


async def draft(
    conversation: ConversationService, model: ScriptedModel, company: Company, plan: dict[str, Any]
) -> ItineraryCard:
    model.script(call("create_draft_itinerary", plan), say("Drafted."))
    (card,) = (await conversation.handle_message(traveller(company), "trip", "Plan Munich")).cards
    return card


async def ask_to_book(
    conversation: ConversationService, model: ScriptedModel, company: Company, itinerary_id: uuid.UUID
) -> AgentReply:
    model.script(call("confirm_booking", itinerary_id=str(itinerary_id)))
    return await conversation.handle_message(traveller(company), "trip", "Book it")


async def stored(db: Database, company: Company) -> list[tuple[Booking, PolicyVerdictRow]]:
    async with db.tenant(company.tenant_id) as session:
        rows = await session.execute(
            select(Booking, PolicyVerdictRow)
            .join(PolicyVerdictRow, PolicyVerdictRow.booking_id == Booking.booking_id)
            .order_by(Booking.booking_type)
        )
        return [(booking, verdict) for booking, verdict in rows]


async def policy_version(db: Database, company: Company) -> str:
    async with db.tenant(company.tenant_id) as session:
        return TravelPolicy.from_preferences(await tenant_preferences(session)).version


async def test_policy_tightened_before_confirmation_is_the_one_shown_gated_stored_and_reported(
    db: Database,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    commands: CommandRunner,
    acme: Company,
) -> None:
    await cap(db, acme, 200)
    card = await draft(conversation, scripted_model, acme, munich_trip())
    assert card.violations == []  # in policy while drafting
    await cap(db, acme, 150)

    asked = await ask_to_book(conversation, scripted_model, acme, card.itinerary_id)
    assert asked.confirmation is not None
    expected = "hotel cap: 150.00 EUR a night; this stay is 190.00 EUR a night, 40.00 EUR above the cap"
    assert asked.confirmation.violations == (f"Motel One München-City: {expected}",)
    (hotel,) = [i for day in asked.confirmation.card.days for i in day.items if i.kind == "hotel"]
    assert hotel.violations == (expected,)  # the card shows the verdict that gates

    scripted_model.script(say("A reason is needed."))
    await conversation.resume(traveller(acme), "trip", Decision(approved=True))
    assert "A justification is needed" in str(scripted_model.messages()[-2]["content"])
    assert await stored(db, acme) == []

    await ask_to_book(conversation, scripted_model, acme, card.itinerary_id)
    scripted_model.script(say("Booked."))
    await conversation.resume(
        traveller(acme), "trip", Decision(approved=True, justification="The client pays the hotel")
    )
    rows = await stored(db, acme)
    version = await policy_version(db, acme)
    assert [(b.booking_type, v.status, v.policy_version) for b, v in rows] == [
        ("flight", "ok", version),
        ("hotel", "violation", version),
    ]
    booking, verdict = rows[1]
    assert verdict.reasons == [expected] and verdict.justification == "The client pays the hotel"
    assert booking.booking_details["policy"]["status"] == "violation"

    report = (await commands.run(traveller(acme, role="admin"), "/spend company 2027")).text
    assert "Out-of-policy bookings: 190.00 EUR (1 booking)" in report
    assert "40.00 EUR above" in report
    assert (
        f"Out of policy: Motel One München-City, 190.00 EUR: {expected} (justified: The client pays the hotel)."
        in report
    )


async def test_policy_loosened_before_confirmation_books_without_a_justification_and_reports_none(
    db: Database,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    commands: CommandRunner,
    acme: Company,
) -> None:
    await cap(db, acme, 150)
    card = await draft(conversation, scripted_model, acme, munich_trip())
    assert len(card.violations) == 1  # out of policy while drafting
    await cap(db, acme, 200)

    asked = await ask_to_book(conversation, scripted_model, acme, card.itinerary_id)
    assert asked.confirmation is not None and asked.confirmation.violations == ()
    assert asked.confirmation.card.violations == []
    scripted_model.script(say("Booked."))
    await conversation.resume(traveller(acme), "trip", Decision(approved=True))
    rows = await stored(db, acme)
    assert [(b.booking_type, v.status) for b, v in rows] == [("flight", "ok"), ("hotel", "ok")]
    assert all(b.booking_details["policy"]["status"] == "ok" for b, _ in rows)
    report = (await commands.run(traveller(acme, role="admin"), "/spend company 2027")).text
    assert "Out-of-policy" not in report and "10.00 EUR saved below" in report


async def test_a_trip_that_has_started_cannot_be_booked_but_can_be_recorded(
    db: Database, conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    card = await draft(conversation, scripted_model, acme, munich_trip("2026-11-21"))
    asked = await ask_to_book(conversation, scripted_model, acme, card.itinerary_id)
    assert asked.confirmation is None
    assert "started on 21 Nov 2026, in the past, so it cannot be booked" in str(
        scripted_model.messages()[-2]["content"]
    )
    scripted_model.script(
        call(
            "record_booking",
            booking_type="hotel",
            service_date="2026-11-21",
            amount="190.00",
            currency="EUR",
            vendor="Motel One",
            reference="MO4711",
        ),
        say("Recorded."),
    )
    await conversation.handle_message(traveller(acme), "trip", "I booked the hotel myself: MO4711")
    async with db.tenant(acme.tenant_id) as session:
        (booking,) = (await session.scalars(select(Booking))).all()
    assert (
        booking.booking_details["source"] == "recorded" and booking.booking_details["reference"] == "MO4711"
    )


async def test_a_trip_over_a_million_yen_is_completed_into_history(
    db: Database, conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    await set_policy(db, acme, {"currency": "JPY"})
    card = await draft(
        conversation, scripted_model, acme, munich_trip("2026-12-14", hotel_cost="1000000", currency="JPY")
    )
    await ask_to_book(conversation, scripted_model, acme, card.itinerary_id)
    scripted_model.script(say("Booked."))
    await conversation.resume(traveller(acme), "trip", Decision(approved=True))
    async with db.tenant(acme.tenant_id) as session:
        done = await complete_trip(
            session, itinerary_id=card.itinerary_id, now=dt.datetime(2026, 12, 20, tzinfo=dt.UTC)
        )
        history = (await session.scalars(select(UserTravelHistory))).all()
    assert done and [h.total_spend for h in history] == [Decimal("1200000.00")]


async def test_a_booking_made_elsewhere_is_checked_like_the_rest_and_spend_reads_its_verdict(
    db: Database,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    commands: CommandRunner,
    acme: Company,
) -> None:
    await set_policy(
        db,
        acme,
        {
            "policy.hotel.city_caps": {"London": {"amount": 200, "currency": "EUR"}},
            "policy.advance_booking_days": 14,  # when it was booked elsewhere is not known: not applied
        },
    )
    await draft(conversation, scripted_model, acme, munich_trip("2026-12-10"))
    scripted_model.script(
        call(
            "record_booking",
            booking_type="hotel",
            service_date="2026-12-10",
            end_date="2026-12-12",
            amount="520.00",
            currency="GBP",
            vendor="Hilton Paddington",
            destination="London, UK",
            reference="HP2210",
        ),
        say("Recorded."),
    )
    await conversation.handle_message(traveller(acme), "trip", "I booked the Hilton myself: HP2210")
    async with db.tenant(acme.tenant_id) as session:
        (booking,) = (await session.scalars(select(Booking))).all()
        verdict = await session.get(PolicyVerdictRow, (acme.tenant_id, booking.booking_id))
    assert verdict is not None and verdict.status == "violation" and verdict.cap_currency == "EUR"
    (reason,) = verdict.reasons
    assert reason.startswith("hotel cap in London: 200.00 EUR a night; this stay is ")  # "London, UK"
    assert "(520.00 GBP ≈ " in reason and "EUR above the 400.00 EUR allowed for 2 nights" in reason
    assert verdict.cap_difference is not None and verdict.cap_difference > 0
    report = (await commands.run(traveller(acme), "/spend december 2026")).text
    assert "Hilton Paddington" in report and "hotel cap in London: 200.00 EUR a night" in report
