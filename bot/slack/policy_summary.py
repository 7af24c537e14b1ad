"""The tenant's travel policy as a few readable lines (for /travelmate policy and the admins' App Home)."""

from __future__ import annotations

from typing import Any

from agent.policy import TravelPolicy


def _label(cabin: str) -> str:
    return cabin.replace("_", " ")


def policy_lines(preferences: dict[str, Any]) -> list[str]:
    """One sentence per rule, in the order a traveller thinks about a trip."""
    policy = TravelPolicy.from_preferences(preferences)
    cabin = policy.cabin
    lines = [
        f"Flights: {_label(cabin.default.value)}; {_label(cabin.long_haul.value)} for flights of "
        f"{cabin.long_haul_hours:g} hours or more."
    ]
    if policy.preferred_airlines:
        lines.append(f"Preferred airlines: {', '.join(sorted(policy.preferred_airlines))}.")
    lines.append(
        f"Hotels: up to {policy.hotel_cap} a night." if policy.hotel_cap else "Hotels: no nightly cap."
    )
    if policy.city_caps:
        caps = ", ".join(f"{city.title()} {cap}" for city, cap in sorted(policy.city_caps.items()))
        lines.append(f"City caps per night: {caps}.")
    if policy.preferred_hotels:
        lines.append(f"Preferred hotels: {', '.join(policy.preferred_hotels)}.")
    if policy.advance_booking_days:
        lines.append(f"Book at least {policy.advance_booking_days} days ahead.")
    if policy.trip_budget:
        lines.append(f"Budget per trip: {policy.trip_budget}.")
    lines.append(f"Currency: {preferences.get('currency', 'EUR')}.")
    days = preferences.get("reminders.days_before") or []
    if days:
        lines.append(f"Reminders: {', '.join(str(d) for d in days)} days before travel.")
    return lines
