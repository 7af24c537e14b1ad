"""Itinerary cards: the platform-neutral view of an itinerary, and its plain-text form for the model."""

from __future__ import annotations

from decimal import Decimal

from agent.policy import trip_totals
from agent.replies import CardDay, CardItem, ItineraryCard
from storage.itineraries import ItineraryView


def itinerary_card(view: ItineraryView) -> ItineraryCard:
    items = [item for day in view.days for item in day.items]
    return ItineraryCard(
        itinerary_id=view.id,
        status=view.itinerary.status,
        destinations=tuple(view.itinerary.places),
        start_date=view.itinerary.start_date,
        end_date=view.itinerary.end_date,
        days=tuple(
            CardDay(
                day.day_number,
                day.date,
                tuple(
                    CardItem(i.kind.value, i.description, i.cost, i.currency, tuple(i.policy.reasons))
                    for i in day.items
                ),
            )
            for day in view.days
        ),
        totals=trip_totals(items),
    )


def money_text(totals: dict[str, Decimal]) -> str:
    return (
        " + ".join(f"{amount:,.2f} {currency}" for currency, amount in sorted(totals.items()))
        or "no costs yet"
    )


def card_text(card: ItineraryCard) -> str:
    """The card as compact text, for tool results and plain-text channels."""
    lines = [f"Itinerary {card.itinerary_id} ({card.status}): {card.title}"]
    for day in card.days:
        lines.append(f"Day {day.day_number} ({day.date:%a %d %b}):")
        for item in day.items:
            cost = f" — {item.cost:,.2f} {item.currency}" if item.cost is not None else ""
            flag = f" [OUT OF POLICY: {'; '.join(item.violations)}]" if item.violations else ""
            lines.append(f"  - {item.kind}: {item.description}{cost}{flag}")
    lines.append(f"Estimated total: {money_text(card.totals)}")
    return "\n".join(lines)
