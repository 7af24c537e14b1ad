"""Deterministic travel-policy checks: the code decides each verdict, the model only explains it."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from storage.money import Money
from storage.plans import DayPlan, ItemKind, PlannedItem, PolicyVerdict, TravelItem
from storage.preferences import Cabin, CabinRules


@dataclass(frozen=True)
class TravelPolicy:
    """The tenant's policy, read from its preferences."""

    cabin: CabinRules
    hotel_cap: Money | None
    city_caps: dict[str, Money]
    advance_booking_days: int
    trip_budget: Money | None
    preferred_airlines: frozenset[str]
    preferred_hotels: tuple[str, ...]

    @classmethod
    def from_preferences(cls, preferences: dict[str, Any]) -> TravelPolicy:
        def money(value: Any) -> Money | None:
            return Money.model_validate(value) if value else None

        return cls(
            cabin=CabinRules.model_validate(preferences.get("policy.cabin") or {}),
            hotel_cap=money(preferences.get("policy.hotel.max_nightly_rate")),
            city_caps={
                city.casefold(): Money.model_validate(cap)
                for city, cap in (preferences.get("policy.hotel.city_caps") or {}).items()
            },
            advance_booking_days=int(preferences.get("policy.advance_booking_days") or 0),
            trip_budget=money(preferences.get("policy.trip_budget")),
            preferred_airlines=frozenset(preferences.get("policy.preferred_airlines") or []),
            preferred_hotels=tuple(preferences.get("policy.preferred_hotels") or []),
        )


def _hotel_reasons(item: PlannedItem, policy: TravelPolicy) -> list[str]:
    reasons = []
    city = (item.city or item.destination or "").casefold()
    cap = policy.city_caps.get(city) or policy.hotel_cap
    if cap and item.cost is not None:
        nightly = (item.cost / (item.nights or 1)).quantize(Decimal("0.01"))
        if item.currency != cap.currency:
            reasons.append(
                f"the hotel is priced in {item.currency}, so it cannot be checked against the {cap} cap"
            )
        elif nightly > cap.amount:
            where = f" in {item.city}" if city in policy.city_caps else ""
            reasons.append(f"{nightly:,.2f} {item.currency} a night is above the {cap} cap{where}")
    vendor = item.vendor or ""
    if (
        policy.preferred_hotels
        and vendor
        and not any(n.casefold() in vendor.casefold() for n in policy.preferred_hotels)
    ):
        reasons.append(f"{item.vendor} is not a preferred hotel ({', '.join(policy.preferred_hotels)})")
    return reasons


def _flight_reasons(item: PlannedItem, policy: TravelPolicy) -> list[str]:
    reasons = []
    hours = item.flight_hours
    if item.cabin is not None:
        allowed = policy.cabin.allowed_for(hours if hours is not None else 0.0)
        if item.cabin.rank > allowed.rank:
            length = f"a {hours:.1f}-hour flight" if hours is not None else "a flight of unknown length"
            reasons.append(
                f"{item.cabin.value.replace('_', ' ')} is above the {allowed.value.replace('_', ' ')} "
                f"allowed for {length}"
            )
    carrier = (item.carrier or (item.number or "")[:2]).upper()
    if policy.preferred_airlines and carrier and carrier not in policy.preferred_airlines:
        reasons.append(
            f"{carrier} is not a preferred airline ({', '.join(sorted(policy.preferred_airlines))})"
        )
    return reasons


def check_item(item: PlannedItem, *, day: dt.date, policy: TravelPolicy, today: dt.date) -> PolicyVerdict:
    """The verdict on one planned item."""
    reasons: list[str] = []
    if item.kind == ItemKind.HOTEL:
        reasons += _hotel_reasons(item, policy)
    if item.kind == ItemKind.FLIGHT:
        reasons += _flight_reasons(item, policy)
    if item.bookable and policy.advance_booking_days:
        notice = (day - today).days
        if notice < policy.advance_booking_days:
            reasons.append(f"booked {notice} days ahead; the policy asks for {policy.advance_booking_days}")
    return PolicyVerdict(status="violation" if reasons else "ok", reasons=reasons)


def trip_totals(items: list[TravelItem] | list[PlannedItem]) -> dict[str, Decimal]:
    """Estimated cost per currency; currencies are never added together."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for item in items:
        if item.cost is not None and item.currency:
            totals[item.currency] += item.cost
    return dict(totals)


def check_budget(totals: dict[str, Decimal], policy: TravelPolicy) -> list[str]:
    """Trip-level reasons: the trip budget, compared in its own currency only."""
    budget = policy.trip_budget
    if budget is None:
        return []
    spent = totals.get(budget.currency, Decimal(0))
    reasons = []
    if spent > budget.amount:
        reasons.append(f"the trip's {spent:,.2f} {budget.currency} is above the {budget} trip budget")
    others = sorted(set(totals) - {budget.currency})
    if others:
        reasons.append(f"costs in {', '.join(others)} cannot be checked against the {budget} trip budget")
    return reasons


def apply_policy(
    days: list[tuple[int, dt.date, list[PlannedItem]]], *, policy: TravelPolicy, today: dt.date
) -> list[DayPlan]:
    """Attach a verdict to every item of a plan."""
    return [
        DayPlan(
            day_number=number,
            date=date,
            items=[
                TravelItem(**item.model_dump(), policy=check_item(item, day=date, policy=policy, today=today))
                for item in items
            ],
        )
        for number, date, items in days
    ]


__all__ = ["Cabin", "TravelPolicy", "apply_policy", "check_budget", "check_item", "trip_totals"]
