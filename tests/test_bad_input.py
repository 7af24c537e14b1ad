"""Bad input gets a typed error with a sentence a person understands, and leaves the database unchanged."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from storage.audit import Actor
from storage.bookings import create_booking
from storage.database import Database
from storage.errors import InvalidInput
from storage.itineraries import create_draft
from storage.models import AuditEntry, Booking, Itinerary, TenantPreference, TenantUser
from storage.preferences import set_personal_preference, set_tenant_preference
from storage.tenants import add_user
from storage.validation import parse_json_text
from tests.conftest import Company
from tests.plans import berlin_days


async def row_counts(db: Database, company: Company) -> dict[str, int]:
    async with db.tenant(company.tenant_id) as session:
        return {
            model.__tablename__: await session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Itinerary, Booking, TenantPreference, TenantUser, AuditEntry)
        }


async def test_an_end_date_before_the_start_date_is_refused(db: Database, acme: Company) -> None:
    before = await row_counts(db, acme)
    plan: dict[str, Any] = {**berlin_days(), "end_date": "2026-12-01", "days": []}
    with pytest.raises(InvalidInput) as refused:
        async with db.tenant(acme.tenant_id) as session:
            await create_draft(
                session, actor=Actor.user(acme.traveler_id), user_id=acme.traveler_id, plan=plan
            )
    assert "the end date 2026-12-01 is before the start date 2026-12-03" in str(refused.value)
    assert await row_counts(db, acme) == before


async def test_a_date_that_does_not_exist_is_refused(db: Database, acme: Company) -> None:
    with pytest.raises(InvalidInput, match="start_date"):
        async with db.tenant(acme.tenant_id) as session:
            await create_draft(
                session,
                actor=Actor.user(acme.traveler_id),
                user_id=acme.traveler_id,
                plan={**berlin_days(), "start_date": "2026-02-30"},
            )


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        (
            "policy.hotel.max_rate",
            180,
            "'policy.hotel.max_rate' is not a known tenant preference. Known keys: currency",
        ),
        (
            "policy.hotel.max_nightly_rate",
            {"amount": 180},
            'expected a nightly hotel cap, e.g. {"amount":180,"currency":"EUR"}',
        ),
        ("currency", "EURO", "'EURO' is not an ISO 4217 currency code"),
        ("reminders.days_before", [7, 7], "each number of days may appear once"),
        ("policy.advance_booking_days", -3, "greater than or equal to 0"),
    ],
)
async def test_an_unknown_key_or_a_wrong_shape_names_what_is_expected(
    db: Database, acme: Company, key: str, value: Any, expected: str
) -> None:
    before = await row_counts(db, acme)
    with pytest.raises(InvalidInput) as refused:
        async with db.tenant(acme.tenant_id) as session:
            await set_tenant_preference(session, actor=Actor.user(acme.admin_id), key=key, value=value)
    assert expected in str(refused.value)
    assert await row_counts(db, acme) == before


async def test_malformed_json_is_refused_with_its_position(db: Database, acme: Company) -> None:
    with pytest.raises(InvalidInput, match=r"is not valid JSON \(Expecting .* at character 15\)"):
        parse_json_text('{"amount":180,', subject="The value")
    # A bare word is a string, and numbers and lists are JSON, as an admin types them.
    assert parse_json_text("EUR") == "EUR"
    assert parse_json_text("[7, 1]") == [7, 1]
    async with db.tenant(acme.tenant_id) as session:
        stored = await set_tenant_preference(
            session,
            actor=Actor.user(acme.admin_id),
            key="policy.hotel.max_nightly_rate",
            value=parse_json_text('{"amount":180,"currency":"eur"}'),
        )
    assert stored == {"amount": "180.00", "currency": "EUR"}


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("-245", "an amount cannot be negative"),
        ("99999999", "not plausible for one travel item, which costs at most 1,000,000 EUR"),
        ("12.345", "EUR amounts have 2 decimal places"),
        ("NaN", "an amount must be a finite number"),
        ("lots", "is not an amount"),
    ],
)
async def test_a_negative_or_absurd_amount_is_refused(
    db: Database, acme: Company, amount: str, expected: str
) -> None:
    async with db.tenant(acme.tenant_id) as session:
        draft = await create_draft(
            session, actor=Actor.user(acme.traveler_id), user_id=acme.traveler_id, plan=berlin_days()
        )
    before = await row_counts(db, acme)
    with pytest.raises(InvalidInput, match=expected):
        async with db.tenant(acme.tenant_id) as session:
            await create_booking(
                session,
                actor=Actor.user(acme.traveler_id),
                user_id=acme.traveler_id,
                itinerary_id=draft.id,
                booking_type="flight",
                details={
                    "amount": amount,
                    "currency": "EUR",
                    "description": "LH 1234",
                    "service_date": "2026-12-03",
                },
            )
    assert await row_counts(db, acme) == before


async def test_an_over_long_string_is_refused(db: Database, acme: Company) -> None:
    before = await row_counts(db, acme)
    with pytest.raises(InvalidInput, match="at most 200 characters"):
        async with db.tenant(acme.tenant_id) as session:
            await add_user(session, actor=Actor.user(acme.admin_id), display_name="N" * 5000)
    with pytest.raises(InvalidInput, match="at most 100 characters"):
        async with db.tenant(acme.tenant_id) as session:
            await create_draft(
                session,
                actor=Actor.user(acme.traveler_id),
                user_id=acme.traveler_id,
                plan={**berlin_days(), "destinations": ["B" * 10_000]},
            )
    with pytest.raises(InvalidInput, match="at most 100 characters"):
        async with db.tenant(acme.tenant_id) as session:
            await set_personal_preference(
                session,
                actor=Actor.user(acme.traveler_id),
                user_id=acme.traveler_id,
                key="meal",
                value="v" * 101,
            )
    assert await row_counts(db, acme) == before


async def test_a_valid_write_is_audited_with_who_and_what(db: Database, acme: Company) -> None:
    async with db.tenant(acme.tenant_id) as session:
        await set_tenant_preference(session, actor=Actor.user(acme.admin_id), key="currency", value="usd")
    async with db.tenant(acme.tenant_id) as session:
        entry = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "preference.set"))).one()
    assert (entry.actor, entry.actor_user_id, entry.entity_id, entry.details) == (
        "user",
        acme.admin_id,
        "currency",
        {"value": "USD"},
    )
    assert entry.occurred_at.tzinfo is not None and entry.tenant_id == acme.tenant_id
    assert dt.datetime.now(dt.UTC) - entry.occurred_at < dt.timedelta(minutes=1)
