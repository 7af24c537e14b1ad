"""Itinerary cards: the platform-neutral view of an itinerary, and its plain-text form for the model."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal

from agent.replies import CardDay, CardItem, ItineraryCard
from agent.trip_verdict import TripVerdict
from storage.itineraries import ItineraryView
from storage.money import amount_text
from storage.plans import DayPlan, PlannedItem, TravelItem


def trip_totals(items: list[TravelItem] | list[PlannedItem]) -> dict[str, Decimal]:
    """Estimated cost per currency as priced; the running total in one currency is the verdict's."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for item in items:
        if item.cost is not None and item.currency:
            totals[item.currency] += item.cost
    return dict(totals)


def _card_item(item: TravelItem) -> CardItem:
    return CardItem(
        item.kind.value,
        item.description,
        item.cost,
        item.currency,
        tuple(item.policy.reasons),
        tuple(item.policy.notes),
        tuple(item.policy.alternatives),
    )


def itinerary_card(view: ItineraryView, verdict: TripVerdict | None = None) -> ItineraryCard:
    """The card of an itinerary; with a verdict, its items carry that verdict rather than the stored one."""
    days: list[DayPlan] = verdict.days if verdict is not None else view.days
    items = [item for day in days for item in day.items]
    return ItineraryCard(
        itinerary_id=view.id,
        status=view.itinerary.status,
        destinations=tuple(view.itinerary.places),
        start_date=view.itinerary.start_date,
        end_date=view.itinerary.end_date,
        days=tuple(
            CardDay(day.day_number, day.date, tuple(_card_item(i) for i in day.items)) for day in days
        ),
        totals=trip_totals(items),
        budget_line=verdict.budget_line() if verdict is not None else None,
        trip_violations=tuple(verdict.reasons) if verdict is not None else (),
    )


def money_text(totals: dict[str, Decimal]) -> str:
    return (
        " + ".join(amount_text(amount, currency) for currency, amount in sorted(totals.items()))
        or "no costs yet"
    )


def card_text(card: ItineraryCard) -> str:
    """The card as compact text, for tool results and plain-text channels."""
    lines = [f"Itinerary {card.itinerary_id} ({card.status}): {card.title}"]
    for day in card.days:
        lines.append(f"Day {day.day_number} ({day.date:%a %d %b}):")
        for item in day.items:
            cost = (
                f" — {amount_text(item.cost, item.currency)}"
                if item.cost is not None and item.currency
                else ""
            )
            flag = f" [OUT OF POLICY: {'; '.join(item.violations)}]" if item.violations else ""
            notes = f" ({'; '.join(item.notes)})" if item.notes else ""
            lines.append(f"  - {item.kind}: {item.description}{cost}{notes}{flag}")
            if item.alternatives:
                lines.append(f"    compliant option: {'; '.join(item.alternatives)}")
    lines.append(f"Estimated total: {money_text(card.totals)}")
    if card.budget_line:
        lines.append(card.budget_line)
    lines += [f"OUT OF POLICY (trip): {reason}" for reason in card.trip_violations]
    return "\n".join(lines)


def verdict_json(card: ItineraryCard) -> str:
    """The card's verdict as structured data for the model: reasons, compliant options, the budget line."""
    return json.dumps(
        {
            "verdict": "out of policy" if card.violations else "in policy",
            "reasons": [
                {"item": item.description, "reason": reason}
                for day in card.days
                for item in day.items
                for reason in item.violations
            ]
            + [{"item": "the whole trip", "reason": reason} for reason in card.trip_violations],
            "compliant_options": sorted(
                {a for day in card.days for item in day.items for a in item.alternatives}
            ),
            "conversions": [n for day in card.days for item in day.items for n in item.notes],
            "budget": card.budget_line,
        },
        ensure_ascii=False,
    )
