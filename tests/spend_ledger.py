"""An independent ledger for the spend tests: every raw row read as the owner, the figures in plain Python.

Nothing here uses storage.spend. Periods are checked as inclusive ranges of days, categories are read
from the JSON as Python sees it, and tenants are told apart by comparing ids, so a leak between tenants
or an off-by-one at a period's edge shows up as a difference.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from bot.demo_data import DemoShape, demo_tenant_id, demo_user_id, generate_demo_data
from storage.audit import Actor
from storage.database import Database
from storage.periods import Period
from storage.preferences import set_tenant_preference
from storage.trips import record_trip

PLAIN = re.compile(r"-?[0-9]+(\.[0-9]+)?")
TODAY = dt.date(2026, 11, 25)
SHAPE = DemoShape(tenants=3, users=4, trips=30, seed=11, until=dt.date(2026, 11, 26), years=3)
FIRST, SECOND, THIRD = (demo_tenant_id(SHAPE.seed, n) for n in (1, 2, 3))
TRAVELLER = demo_user_id(SHAPE.seed, 1, 2)
Row = dict[str, Any]


@dataclass(frozen=True)
class Trip:
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    trip_id: uuid.UUID
    destination: str
    start_date: dt.date
    end_date: dt.date
    spend: Decimal
    categories: dict[str, Decimal]


@dataclass(frozen=True)
class Ledger:
    trips: list[Trip]
    names: dict[tuple[uuid.UUID, uuid.UUID], str]
    preferences: dict[uuid.UUID, dict[str, Any]]
    bookings: list[Row]

    def currency(self, tenant: uuid.UUID) -> str:
        return str(self.preferences.get(tenant, {}).get("currency", "EUR"))


async def _all(owner: Database, sql: str) -> list[Row]:
    async with owner.unscoped() as session:
        return [dict(row) for row in (await session.execute(text(sql))).mappings()]


def _categories(raw: Any) -> dict[str, Decimal]:
    if not isinstance(raw, dict):
        return {}
    return {key: Decimal(str(value)) for key, value in raw.items() if PLAIN.fullmatch(str(value))}


async def read_ledger(owner: Database) -> Ledger:
    """Every tenant's rows, as the owner (no row-level security).

    Spend is travel_analytics; the trip behind a row (destination, last day) is found through
    completed_trips where the product recorded it, and is unknown for rows written elsewhere.
    """
    links = {
        (row["tenant_id"], row["analytics_id"]): row
        for row in await _all(owner, "SELECT * FROM completed_trips")
    }
    history = {
        (row["tenant_id"], row["history_id"]): row
        for row in await _all(owner, "SELECT * FROM user_travel_history")
    }
    trips = []
    for a in await _all(owner, "SELECT * FROM travel_analytics"):
        link = links.get((a["tenant_id"], a["analytics_id"]))
        h = history.get((a["tenant_id"], link["history_id"])) if link else None
        trips.append(
            Trip(
                a["tenant_id"],
                a["user_id"],
                link["itinerary_id"] if link else a["analytics_id"],
                h["destination"] if h else "unknown",
                a["travel_date"],
                max(link["end_date"], a["travel_date"]) if link else a["travel_date"],
                Decimal(a["total_spend"]),
                _categories(a["categories_spend"]),
            )
        )
    names = {
        (row["tenant_id"], row["user_id"]): row["display_name"]
        for row in await _all(owner, "SELECT * FROM users.tenant_users")
    }
    preferences: dict[uuid.UUID, dict[str, Any]] = defaultdict(dict)
    for row in await _all(owner, "SELECT * FROM tenant_preferences"):
        preferences[row["tenant_id"]][row["preference_key"]] = row["preference_value"]
    bookings = await _all(
        owner,
        "SELECT b.*, i.start_date AS trip_start FROM bookings b "
        "JOIN itineraries i USING (tenant_id, itinerary_id)",
    )
    return Ledger(trips, names, dict(preferences), bookings)


def trips_of(ledger: Ledger, tenant: uuid.UUID, period: Period, user: uuid.UUID | None) -> list[Trip]:
    return [
        trip
        for trip in ledger.trips
        if trip.tenant_id == tenant
        and period.start <= trip.start_date <= period.end
        and (user is None or trip.user_id == user)
    ]


def total(
    ledger: Ledger, tenant: uuid.UUID, period: Period, user: uuid.UUID | None
) -> tuple[int, int, Decimal]:
    """(trips, nights, spend)."""
    trips = trips_of(ledger, tenant, period, user)
    return (
        len(trips),
        sum((t.end_date - t.start_date).days for t in trips),
        sum((t.spend for t in trips), Decimal(0)),
    )


def _months(first: dt.date, last: dt.date, step: int) -> list[dt.date]:
    months, day = [], first
    while day <= last:
        months.append(day)
        index = day.year * 12 + day.month - 1 + step
        day = dt.date(index // 12, index % 12 + 1, 1)
    return months


def breakdown(
    ledger: Ledger, tenant: uuid.UUID, period: Period, group_by: str, user: uuid.UUID | None
) -> list[tuple[str, str, Decimal, int | None]]:
    """(key, label, amount, trips) as the product should list them."""
    trips = trips_of(ledger, tenant, period, user)
    amounts: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    if group_by == "category":
        for trip in trips:
            for name, value in (trip.categories or {}).items():
                amounts[(name, name)] += value
                counts[(name, name)] += 1
        lines: list[tuple[str, str, Decimal, int | None]] = [
            (k, lb, amounts[(k, lb)], counts[(k, lb)]) for k, lb in amounts
        ]
        rest = sum((t.spend for t in trips), Decimal(0)) - sum(amounts.values(), Decimal(0))
        if rest:
            lines.append(("uncategorised", "uncategorised", rest, None))
        return sorted(lines, key=lambda line: (-line[2], line[1], line[0]))
    for trip in trips:
        day = trip.start_date
        if group_by == "month":
            group = (f"{day.year}-{day.month:02d}", f"{day:%b %Y}")
        elif group_by == "quarter":
            quarter = (day.month - 1) // 3 + 1
            group = (f"{day.year}-Q{quarter}", f"Q{quarter} {day.year}")
        elif group_by == "destination":
            group = (trip.destination, trip.destination)
        else:
            group = (str(trip.user_id), ledger.names[(tenant, trip.user_id)])
        amounts[group] += trip.spend
        counts[group] += 1
    if group_by in ("month", "quarter") and trips:
        step = 1 if group_by == "month" else 3
        firsts = [dt.date(t.start_date.year, (t.start_date.month - 1) // step * step + 1, 1) for t in trips]
        lines = []
        for first in _months(min(firsts), max(firsts), step):
            if group_by == "month":
                group = (f"{first.year}-{first.month:02d}", f"{first:%b %Y}")
            else:
                group = (
                    f"{first.year}-Q{(first.month - 1) // 3 + 1}",
                    f"Q{(first.month - 1) // 3 + 1} {first.year}",
                )
            lines.append((*group, amounts.get(group, Decimal(0)), counts.get(group, 0)))
        return lines
    lines = [(key, label, amounts[(key, label)], counts[(key, label)]) for key, label in amounts]
    return sorted(lines, key=lambda line: (-line[2], line[1], line[0]))


def budget(
    ledger: Ledger, tenant: uuid.UUID, period: Period, user: uuid.UUID | None
) -> tuple[int, Decimal, Decimal]:
    """(trips over the budget, spend above it, spend left under it), or zeros when it is not comparable."""
    limit = ledger.preferences.get(tenant, {}).get("policy.trip_budget")
    if not limit or limit["currency"] != ledger.currency(tenant):
        return 0, Decimal(0), Decimal(0)
    cap = Decimal(str(limit["amount"]))
    spends = [t.spend for t in trips_of(ledger, tenant, period, user)]
    over = [s - cap for s in spends if s > cap]
    return len(over), sum(over, Decimal(0)), sum((cap - s for s in spends if s <= cap), Decimal(0))


def booked(
    ledger: Ledger, tenant: uuid.UUID, period: Period, user: uuid.UUID | None
) -> dict[str, dict[str, Any]]:
    """Per currency: bookings, amount, out-of-policy count and amount, hotels above cap and unchecked, above, below."""
    preferences = ledger.preferences.get(tenant, {})
    default = preferences.get("policy.hotel.max_nightly_rate")
    caps = {city.casefold(): cap for city, cap in (preferences.get("policy.hotel.city_caps") or {}).items()}
    figures: dict[str, dict[str, Any]] = {}
    for row in ledger.bookings:
        details = row["booking_details"]
        if (
            row["tenant_id"] != tenant
            or row["status"] != "confirmed"
            or not period.start <= row["trip_start"] <= period.end
            or (user is not None and row["user_id"] != user)
        ):
            continue
        currency, amount = details["currency"].upper(), Decimal(details["amount"])
        spent = figures.setdefault(
            currency,
            {
                "bookings": 0,
                "amount": Decimal(0),
                "out": 0,
                "out_amount": Decimal(0),
                "hotels": 0,
                "above_n": 0,
                "unchecked": 0,
                "above": Decimal(0),
                "below": Decimal(0),
            },
        )
        spent["bookings"] += 1
        spent["amount"] += amount
        if details.get("policy", {}).get("status") == "violation":
            spent["out"] += 1
            spent["out_amount"] += amount
        if row["booking_type"] != "hotel":
            continue
        spent["hotels"] += 1
        city = (details.get("city") or details.get("destination") or "").casefold()
        cap = caps.get(city) or default
        if not cap:
            continue
        if cap["currency"].upper() != currency:
            spent["unchecked"] += 1
            continue
        allowed = Decimal(str(cap["amount"])) * max(int(details.get("nights") or 1), 1)
        spent["above_n"] += amount > allowed
        spent["above"] += max(amount - allowed, Decimal(0))
        spent["below"] += max(allowed - amount, Decimal(0))
    return figures


# Trips that start on the edges of the periods above, with amounts no generated trip has.
EDGE_STARTS = (
    "2025-12-31",
    "2026-01-01",
    "2026-03-31",
    "2026-04-01",
    "2026-06-30",
    "2026-07-01",
    "2026-09-30",
    "2026-10-01",
    "2026-10-26",
    "2026-10-27",
    "2026-11-25",
    "2024-02-29",
)


async def edge_trips(db: Database) -> None:
    """Edge-dated trips of one traveller, and rows the spend queries must treat with care."""
    async with db.tenant(FIRST) as session:
        for n, start in enumerate(EDGE_STARTS):
            day = dt.date.fromisoformat(start)
            await record_trip(
                session,
                actor=Actor.user(TRAVELLER),
                user_id=TRAVELLER,
                trip={
                    "trip_id": uuid.uuid4(),
                    "destination": "Edgeville",
                    "start_date": day,
                    "end_date": day + dt.timedelta(days=n % 3),
                    "total_spend": f"{1000 + n}.{n:02d}",
                    # one trip without categories: its spend is uncategorised
                    "spend_by_category": {} if n == 4 else {"hotel": f"{1000 + n}.{n:02d}"},
                },
            )
        # Rows another system wrote through the specified columns alone: spend with no trip behind it (it counts,
        # destination unknown), a history row with no spend (it is no spend), and a category value that is not
        # an amount (ignored; the rest of the trip is uncategorised).
        rows = [
            ("2026-05-05", '{"flight": "310.00"}', "310.00"),
            ("2026-05-07", '{"flight": "120.00", "fees": "n/a", "taxes": 1.5}', "150.00"),
        ]
        for travel_date, categories, amount in rows:
            await session.execute(
                text(
                    "INSERT INTO travel_analytics (tenant_id, user_id, travel_date, total_spend, categories_spend) "
                    "VALUES (:t, :u, :d, :total, CAST(:categories AS jsonb))"
                ),
                {
                    "t": FIRST,
                    "u": TRAVELLER,
                    "d": dt.date.fromisoformat(travel_date),
                    "total": amount,
                    "categories": categories,
                },
            )
        await session.execute(
            text(
                "INSERT INTO user_travel_history (tenant_id, user_id, travel_date, destination, total_spend) "
                "VALUES (:t, :u, :d, 'Oddtown', 99.00)"
            ),
            {"t": FIRST, "u": TRAVELLER, "d": dt.date(2026, 5, 6)},
        )


async def spend_data(db: Database, owner: Database) -> Ledger:
    """Three generated tenants, the edge trips of one traveller, a budget in a foreign currency; and their ledger."""
    await generate_demo_data(db, SHAPE, workers=2)
    await edge_trips(db)
    async with db.tenant(THIRD) as session:  # a budget in another currency is never compared
        await set_tenant_preference(
            session,
            actor=Actor("operator"),
            key="policy.trip_budget",
            value={"amount": 900, "currency": "JPY"},
        )
    return await read_ledger(owner)
