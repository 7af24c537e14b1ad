"""Deterministic travel-policy checks: the code decides each verdict, the model only explains it.

Every comparison with a cap converts first, at the ECB's reference rate, and compares in the cap's
currency. Every reason names the rule, the limit, the actual value and the difference, and the compliant
option where there is one. What the policy cannot check (no price, no supplier, no rate, an unknown flight
length) is "cannot be verified", which needs the same justification as a violation.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from decimal import ROUND_UP, Decimal
from typing import Any

from storage.exchange_rates import ReferenceRates
from storage.money import Money, amount_text, minor_unit
from storage.places import city_name
from storage.plans import ItemKind, PlannedItem, PolicyVerdict
from storage.preferences import Cabin, CabinRules
from storage.suppliers import airline_code, airline_name, hotel_matches, supplier_matches

UNVERIFIED = "cannot be verified"
UNVERIFIED_RULE = "unverified"
# What the company asks when a rule is broken, least to most severe; by default a justification, and a
# blocked supplier is never booked.
ACTIONS = ("warn", "justify", "approve", "block")
DEFAULT_ACTIONS = {"blocked_supplier": "block"}


@dataclass(frozen=True)
class TravelPolicy:
    """The tenant's policy, read from its preferences; `version` changes whenever a rule does."""

    cabin: CabinRules
    hotel_cap: Money | None
    city_caps: dict[str, Money]
    advance_booking_days: int
    trip_budget: Money | None
    preferred_airlines: frozenset[str]
    preferred_hotels: tuple[str, ...]
    blocked_suppliers: tuple[str, ...] = ()
    currency: str = "EUR"
    version: str = ""
    actions: dict[str, str] = field(default_factory=dict)
    approve_later: bool = False  # a trip that needs approval may be booked now and approved afterwards

    def action_for(self, rules: list[str]) -> str | None:
        """The most severe action the broken rules ask for; None when no rule is broken."""
        asked = [self.actions.get(rule) or DEFAULT_ACTIONS.get(rule, "justify") for rule in rules]
        return max(asked, key=ACTIONS.index, default=None)

    @classmethod
    def from_preferences(cls, preferences: dict[str, Any]) -> TravelPolicy:
        def money(value: Any) -> Money | None:
            return Money.model_validate(value) if value else None

        rules = {k: v for k, v in preferences.items() if k.startswith("policy.") or k == "currency"}
        version = hashlib.sha256(json.dumps(rules, sort_keys=True, default=str).encode()).hexdigest()[:12]
        return cls(
            cabin=CabinRules.model_validate(preferences.get("policy.cabin") or {}),
            hotel_cap=money(preferences.get("policy.hotel.max_nightly_rate")),
            city_caps={
                city_name(city): Money.model_validate(cap)
                for city, cap in (preferences.get("policy.hotel.city_caps") or {}).items()
            },
            advance_booking_days=int(preferences.get("policy.advance_booking_days") or 0),
            trip_budget=money(preferences.get("policy.trip_budget")),
            preferred_airlines=frozenset(
                airline_code(a) or a.upper() for a in preferences.get("policy.preferred_airlines") or []
            ),
            preferred_hotels=tuple(preferences.get("policy.preferred_hotels") or []),
            blocked_suppliers=tuple(preferences.get("policy.blocked_suppliers") or []),
            currency=str(preferences.get("currency") or "EUR"),
            version=version,
            actions=dict(preferences.get("policy.actions") or {}),
            approve_later=bool(preferences.get("policy.approve_later")),
        )


@dataclass
class _Findings:
    reasons: list[str]
    notes: list[str]
    alternatives: list[str]
    cap: tuple[str, Decimal] | None = None
    rules: list[str] = field(default_factory=list)

    def add(self, rule: str, reason: str) -> None:
        self.rules.append(rule)
        self.reasons.append(reason)

    def verdict(self) -> PolicyVerdict:
        return PolicyVerdict(
            status="violation" if self.reasons else "ok",
            reasons=self.reasons,
            rules=self.rules,
            notes=self.notes,
            alternatives=self.alternatives,
            cap_currency=self.cap[0] if self.cap else None,
            cap_difference=self.cap[1].quantize(Decimal("0.001"), ROUND_UP) if self.cap else None,
        )


def duration_text(minutes: int) -> str:
    """Hours and minutes as a traveller reads them: 5 h 59 min, 6 h, 1 min."""
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def _cabin(cabin: Cabin) -> str:
    return cabin.value.replace("_", " ")


def _difference(amount: Decimal, currency: str) -> str:
    """An amount rounded up to the currency's minor unit, so 0.004 above a cap never reads "0.00 above"."""
    return amount_text(amount.quantize(minor_unit(currency), ROUND_UP), currency)


def _hotel(item: PlannedItem, policy: TravelPolicy, rates: ReferenceRates, found: _Findings) -> None:
    city = city_name(item.city or item.destination)
    cap = policy.city_caps.get(city) or policy.hotel_cap
    if cap and item.cost and item.currency:
        nights = item.nights or 1
        converted = rates.convert(item.cost, item.currency, cap.currency)
        where = f" in {city.title()}" if city in policy.city_caps else ""
        if converted is None:
            found.add(
                UNVERIFIED_RULE,
                f"{UNVERIFIED}: there is no ECB reference rate from {item.currency} to {cap.currency} "
                f"for the hotel cap{where} of {cap} a night",
            )
        else:
            if item.currency != cap.currency:
                found.notes.append(f"{amount_text(item.cost, item.currency)} {converted.note()}")
            allowed = cap.amount * nights
            found.cap = (cap.currency, converted.amount - allowed)
            if converted.amount > allowed:
                nightly = _difference(converted.amount / nights, cap.currency)
                paid = (
                    f" ({amount_text(item.cost, item.currency)} {converted.note()})"
                    if item.currency != cap.currency
                    else ""
                )
                over = _difference(converted.amount - allowed, cap.currency)
                limit = (
                    f"the {amount_text(allowed, cap.currency)} allowed for {nights} nights"
                    if nights > 1
                    else "the cap"
                )
                found.add(
                    "hotel_cap",
                    f"hotel cap{where}: {cap} a night; this stay is {nightly} a night{paid}, {over} above {limit}",
                )
                found.alternatives.append(f"a hotel{where} at or under {cap} a night is in policy")
    vendor = item.vendor
    if not vendor:
        if policy.preferred_hotels or policy.blocked_suppliers:
            found.add(UNVERIFIED_RULE, f"{UNVERIFIED}: the hotel has no name, so its chain cannot be checked")
    elif policy.preferred_hotels and hotel_matches(vendor, policy.preferred_hotels) is None:
        preferred = ", ".join(policy.preferred_hotels)
        found.add("preferred_hotel", f"preferred hotels: {preferred}; {vendor} is none of them")
        found.alternatives.append(f"a hotel of {preferred} is in policy")


def _flight(item: PlannedItem, policy: TravelPolicy, found: _Findings) -> None:
    rules = policy.cabin
    minutes = item.duration_minutes
    if item.depart_at and item.arrive_at and minutes is None:
        found.add(
            UNVERIFIED_RULE,
            f"{UNVERIFIED}: the flight's length is unknown, because the time zone of "
            f"{item.origin or 'its origin'} or {item.destination or 'its destination'} is unknown; "
            "give the airports' IATA codes or times with their offsets",
        )
    if item.cabin is not None:
        allowed = rules.allowed_for(minutes / 60 if minutes is not None else 0.0)
        if item.cabin.rank > allowed.rank:
            threshold = f"{rules.long_haul_hours:g} h"
            length = (
                f"this flight is {duration_text(minutes)}" if minutes is not None else "its length is unknown"
            )
            if item.cabin.rank <= rules.long_haul.rank:
                shortfall = (
                    f", {duration_text(round(rules.long_haul_hours * 60) - minutes)} short"
                    if minutes is not None
                    else ""
                )
                found.add("cabin", f"{_cabin(item.cabin)} is allowed from {threshold}; {length}{shortfall}")
            else:
                found.add(
                    "cabin",
                    f"{_cabin(item.cabin)} is never allowed; {_cabin(rules.long_haul)} is the highest, "
                    f"from {threshold}; {length}",
                )
            found.alternatives.append(f"{_cabin(allowed)} is in policy")
    code = airline_code(item.carrier) or airline_code(item.number)
    if code is None:
        if not (policy.preferred_airlines or policy.blocked_suppliers):
            pass
        elif not item.carrier and not item.number:
            found.add(UNVERIFIED_RULE, f"{UNVERIFIED}: the flight has no airline")
        else:
            found.add(
                UNVERIFIED_RULE,
                f"{UNVERIFIED}: the airline {item.carrier or item.number} is unknown; give its IATA code",
            )
    elif policy.preferred_airlines and code not in policy.preferred_airlines:
        preferred = ", ".join(airline_name(c) for c in sorted(policy.preferred_airlines))
        found.add(
            "preferred_airline", f"preferred airlines: {preferred}; this flight is with {airline_name(code)}"
        )
        found.alternatives.append(f"a flight with {preferred} is in policy")


def check_item(
    item: PlannedItem,
    *,
    day: dt.date,
    policy: TravelPolicy,
    today: dt.date,
    rates: ReferenceRates,
) -> PolicyVerdict:
    """The verdict on one planned item.

    A missing supplier matters only where the company names suppliers (preferred or blocked ones).
    """
    found = _Findings([], [], [])
    if item.bookable and not item.cost:
        found.add(
            UNVERIFIED_RULE,
            f"{UNVERIFIED}: the price is "
            + (
                "missing"
                if item.cost is None
                else f"{amount_text(item.cost, item.currency or policy.currency)}"
            ),
        )
    if item.kind == ItemKind.HOTEL:
        _hotel(item, policy, rates, found)
    if item.kind == ItemKind.FLIGHT:
        _flight(item, policy, found)
    supplier = item.vendor or item.carrier or item.number
    blocked = supplier_matches(supplier, policy.blocked_suppliers) if item.bookable else None
    if blocked:
        found.add("blocked_supplier", f"blocked supplier: the company does not book {blocked}")
        found.alternatives.append(f"any supplier but {blocked}")
    if item.bookable and policy.advance_booking_days:
        notice = (day - today).days
        if notice < policy.advance_booking_days:
            found.add(
                "advance_booking",
                f"advance booking: {policy.advance_booking_days} days ahead; this is booked {notice} days "
                f"ahead, {policy.advance_booking_days - notice} too few",
            )
    return found.verdict()


__all__ = ["UNVERIFIED", "Cabin", "TravelPolicy", "check_item", "duration_text"]
