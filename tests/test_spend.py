"""Spend figures on generated data equal a plain-Python computation over the raw rows, tenant by tenant."""

from __future__ import annotations

import uuid
from decimal import ROUND_HALF_UP, Decimal

import pytest
from sqlalchemy import text

from bot.demo_data import demo_user_id
from storage.database import Database
from storage.periods import Period, parse_period
from storage.spend import GROUPINGS, spend_breakdown, spend_total, year_over_year
from storage.spend_policy import policy_comparison
from tests import spend_ledger
from tests.spend_ledger import FIRST, SECOND, SHAPE, THIRD, TODAY, TRAVELLER

PERIODS = (
    "this year",
    "last year",
    "this quarter",
    "last quarter",
    "2026-Q1",
    "2026-Q2",
    "2026-11",
    "last 30 days",
    "ytd",
    "2026-03-31..2026-04-01",
    "2026-06-30..2026-06-30",
    "2024-02-29..2024-02-29",
    "2019",  # nothing was travelled then
)


@pytest.fixture
async def ledger(db: Database, owner_db: Database) -> spend_ledger.Ledger:
    return await spend_ledger.spend_data(db, owner_db)


def period(words: str) -> Period:
    return parse_period(words, today=TODAY)


@pytest.mark.parametrize("words", PERIODS)
async def test_every_breakdown_equals_the_plain_computation_for_the_tenant_and_a_traveller(
    db: Database, ledger: spend_ledger.Ledger, words: str
) -> None:
    when = period(words)
    for tenant, user in (
        (FIRST, None),
        (FIRST, TRAVELLER),
        (SECOND, None),
        (SECOND, demo_user_id(SHAPE.seed, 2, 3)),
    ):
        async with db.tenant(tenant) as session:
            total = await spend_total(session, period=when, user_id=user)
            assert (total.trips, total.nights, total.amount) == spend_ledger.total(ledger, tenant, when, user)
            assert total.currency == ledger.currency(tenant)
            for group_by in GROUPINGS:
                lines = await spend_breakdown(session, period=when, group_by=group_by, user_id=user)
                expected = spend_ledger.breakdown(ledger, tenant, when, group_by, user)
                assert [(x.key, x.label, x.amount, x.trips) for x in lines] == expected, (words, group_by)
                assert sum((x.amount for x in lines), Decimal(0)) == total.amount


async def test_the_edges_of_a_period_belong_to_it_and_the_next_day_does_not(
    db: Database, ledger: spend_ledger.Ledger
) -> None:
    async with db.tenant(FIRST) as session:
        edges = {}
        for words in ("2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4", "2025", "last 30 days"):
            lines = await spend_breakdown(
                session, period=period(words), group_by="destination", user_id=TRAVELLER
            )
            edges[words] = next((x.trips for x in lines if x.key == "Edgeville"), 0)
    # Q1: 1 Jan, 31 Mar; Q2: 1 Apr, 30 Jun; Q3: 1 Jul, 30 Sep; Q4: 1 Oct, 26 Oct, 27 Oct, 25 Nov;
    # 2025: 31 Dec (ending in 2026); last 30 days (27 Oct - 25 Nov): 27 Oct, 25 Nov.
    assert edges == {"2026-Q1": 2, "2026-Q2": 2, "2026-Q3": 2, "2026-Q4": 4, "2025": 1, "last 30 days": 2}


async def test_an_empty_period_has_no_trips_and_no_lines(db: Database, ledger: spend_ledger.Ledger) -> None:
    async with db.tenant(FIRST) as session:
        total = await spend_total(session, period=period("2019"), user_id=None)
        assert (total.trips, total.amount, total.average_trip, total.per_night) == (0, Decimal(0), None, None)
        for group_by in GROUPINGS:
            assert (
                await spend_breakdown(session, period=period("2019"), group_by=group_by, user_id=None) == []
            )


async def test_no_other_tenants_row_ever_counts(db: Database, ledger: spend_ledger.Ledger) -> None:
    when = period("last year")
    everyone = sum((t.spend for t in ledger.trips if when.contains(t.start_date)), Decimal(0))
    per_tenant = []
    for tenant in (FIRST, SECOND, THIRD):
        async with db.tenant(tenant) as session:
            per_tenant.append((await spend_total(session, period=when, user_id=None)).amount)
            travellers = await spend_breakdown(session, period=when, group_by="traveller", user_id=None)
        assert {uuid.UUID(x.key) for x in travellers} <= {u for (t, u) in ledger.names if t == tenant}
    assert all(per_tenant) and sum(per_tenant) == everyone  # each tenant sees only its share
    async with db.tenant(FIRST) as session:  # another tenant's traveller has no spend here at all
        other = demo_user_id(SHAPE.seed, 2, 2)
        assert (await spend_total(session, period=when, user_id=other)).trips == 0


async def test_averages_year_over_year_and_policy_equal_the_plain_computation(
    db: Database, ledger: spend_ledger.Ledger
) -> None:
    for words, tenant, user in (
        ("2026", FIRST, None),
        ("last quarter", FIRST, TRAVELLER),
        ("2025", THIRD, None),
    ):
        when = period(words)
        async with db.tenant(tenant) as session:
            change = await year_over_year(session, period=when, user_id=user)
            policy = await policy_comparison(session, period=when, user_id=user)
        trips, nights, amount = spend_ledger.total(ledger, tenant, when, user)
        _, _, before = spend_ledger.total(ledger, tenant, when.year_before(), user)
        assert change.current.average_trip == (amount / trips).quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert change.current.per_night == (amount / nights).quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert (change.previous.amount, change.change) == (before, amount - before)
        assert change.percent == ((amount - before) * 100 / before).quantize(Decimal("0.1"), ROUND_HALF_UP)
        assert (policy.trips_over_budget, policy.over_budget, policy.under_budget) == spend_ledger.budget(
            ledger, tenant, when, user
        )
        expected = spend_ledger.booked(ledger, tenant, when, user)
        assert {
            code: {
                "bookings": b.bookings,
                "amount": b.amount,
                "out": b.out_of_policy_bookings,
                "out_amount": b.out_of_policy,
                "hotels": b.hotels,
                "above_n": b.hotels_above_cap,
                "unchecked": b.hotels_unchecked,
                "above": b.above_cap,
                "below": b.below_cap,
            }
            for code, b in policy.booked.items()
        } == expected
    assert policy.budget is not None and not policy.budget_comparable  # the JPY budget of the third tenant


async def test_booked_amounts_stay_per_currency_and_are_never_added_together(
    db: Database, ledger: spend_ledger.Ledger
) -> None:
    async with db.tenant(FIRST) as session:
        policy = await policy_comparison(session, period=period("last year"), user_id=None)
    assert len(policy.booked) >= 2  # London hotels are in GBP, US ones in USD, the rest in the tenant's
    for code, spent in policy.booked.items():
        assert spent.currency == code
        assert spent.amount == sum(
            (
                Decimal(b["booking_details"]["amount"])
                for b in ledger.bookings
                if b["tenant_id"] == FIRST
                and b["booking_details"]["currency"] == code
                and period("last year").contains(b["trip_start"])
            ),
            Decimal(0),
        )


async def test_a_destination_corrected_in_the_history_table_moves_the_spend_with_it(
    db: Database, ledger: spend_ledger.Ledger
) -> None:
    """Another system fixes a trip's destination in `user_travel_history` with plain SQL: spend follows."""
    when = period("2026-Q1")
    async with db.tenant(FIRST) as session:
        before = await spend_breakdown(session, period=when, group_by="destination", user_id=TRAVELLER)
        edgeville = next(x for x in before if x.key == "Edgeville")
        await session.execute(
            text(
                "UPDATE user_travel_history h SET destination = 'Corrected City' FROM completed_trips c, "
                "travel_analytics a WHERE c.history_id = h.history_id AND a.analytics_id = c.analytics_id "
                "AND h.destination = 'Edgeville' AND a.travel_date >= :start AND a.travel_date < :stop"
            ),
            {"start": when.start, "stop": when.stop},
        )
        after = await spend_breakdown(session, period=when, group_by="destination", user_id=TRAVELLER)
        await session.rollback()
    moved = next(x for x in after if x.key == "Corrected City")
    assert (moved.amount, moved.trips) == (edgeville.amount, edgeville.trips)
    assert "Edgeville" not in {x.key for x in after}
    assert sum((x.amount for x in after), Decimal(0)) == sum((x.amount for x in before), Decimal(0))
