"""Benchmark of the policy engine: one 20-item trip evaluated, currency conversion included.

The trip mixes EUR, GBP, USD and JPY items against EUR and GBP caps and an EUR budget, with flights given
in local airport times, carriers by name and hotels matched against chain brands, so every evaluation
converts, looks up airports and suppliers, and writes reasons. Two measurements in the same process:
  * B0: validating the same 20 items as the draft tool's arguments (what every draft pays anyway);
  * product: `evaluate_trip` on them, under the policy, at the ECB reference rates.
Prints p50 and p95 of each and their ratio; the goal is a p50 under 1 ms for the product.

    python -m bench.policy [--iterations 5000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from collections.abc import Callable
from typing import Any

from agent.policy import TravelPolicy
from agent.trip_verdict import evaluate_trip
from bench.latency import percentile
from storage.exchange_rates import reference_rates
from storage.plans import PlannedItem

TODAY = dt.date(2026, 11, 25)
START = dt.date(2027, 1, 11)
POLICY = {
    "currency": "EUR",
    "policy.hotel.max_nightly_rate": {"amount": 180, "currency": "EUR"},
    "policy.hotel.city_caps": {"London": {"amount": 250, "currency": "GBP"}},
    "policy.trip_budget": {"amount": 6000, "currency": "EUR"},
    "policy.preferred_airlines": ["LH", "LX", "BA"],
    "policy.preferred_hotels": ["Marriott", "Accor", "Motel One"],
    "policy.blocked_suppliers": ["FR"],
    "policy.advance_booking_days": 14,
}


def trip_items() -> list[dict[str, Any]]:
    """Twenty items over five days: flights, hotels, trains, cars and meetings in four currencies."""
    items: list[dict[str, Any]] = []
    legs = [
        ("FRA", "JFK", "Lufthansa", "EUR", "2027-01-11T10:00:00", "2027-01-11T12:50:00"),
        ("JFK", "LHR", "British Airways", "USD", "2027-01-12T18:00:00", "2027-01-13T06:10:00"),
        ("LHR", "ZRH", "LX", "GBP", "2027-01-14T09:00:00", "2027-01-14T11:45:00"),
    ]
    for origin, destination, carrier, currency, departs, arrives in legs:
        items.append(
            {
                "kind": "flight",
                "description": f"{origin} → {destination}",
                "cost": "640.00",
                "currency": currency,
                "origin": origin,
                "destination": destination,
                "carrier": carrier,
                "cabin": "business",
                "depart_at": departs,
                "arrive_at": arrives,
            }
        )
    hotels = [
        ("Courtyard by Marriott New York", "New York", "230.00", "USD"),
        ("ibis Styles London", "London, UK", "260.00", "GBP"),
        ("Novotel Zurich", "Zurich", "210.00", "EUR"),
        ("Hotel Okura", "Tokyo", "32000", "JPY"),
    ]
    for vendor, city, cost, currency in hotels:
        items.append(
            {
                "kind": "hotel",
                "description": vendor,
                "cost": cost,
                "currency": currency,
                "city": city,
                "nights": 1,
                "vendor": vendor,
            }
        )
    for number in range(5):
        items.append(
            {
                "kind": "train",
                "description": f"Train {number}",
                "cost": "49.90",
                "currency": "EUR",
                "vendor": "DB",
            }
        )
    for number in range(4):
        items.append(
            {
                "kind": "car",
                "description": f"Car {number}",
                "cost": "75.00",
                "currency": "USD",
                "vendor": "Sixt",
            }
        )
    for number in range(4):
        items.append({"kind": "meeting", "description": f"Meeting {number}"})
    assert len(items) == 20
    return items


def timings(work: Callable[[], object], iterations: int) -> list[float]:
    for _ in range(min(200, iterations)):  # warm caches (airports, suppliers, rates) as a serving process has
        work()
    measured = []
    for _ in range(iterations):
        started = time.perf_counter()
        work()
        measured.append(time.perf_counter() - started)
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5000)
    args = parser.parse_args()
    raw = trip_items()
    items = [PlannedItem.model_validate(item) for item in raw]
    days = [(1 + i // 4, START + dt.timedelta(days=i // 4), items[i : i + 4]) for i in range(0, 20, 4)]
    policy = TravelPolicy.from_preferences(POLICY)
    rates = reference_rates()

    def validate() -> object:
        return [PlannedItem.model_validate(item) for item in raw]

    def evaluate() -> object:
        return evaluate_trip(days, start_date=START, policy=policy, today=TODAY, rates=rates)

    verdict = evaluate_trip(days, start_date=START, policy=policy, today=TODAY, rates=rates)
    results = {
        "B0 validate 20 items": timings(validate, args.iterations),
        "product evaluate_trip": timings(evaluate, args.iterations),
    }
    print(
        f"20-item trip, {args.iterations} iterations; {len(verdict.violations)} reasons; {verdict.budget_line()}"
    )
    for label, measured in results.items():
        print(
            f"{label:24} p50 {percentile(measured, 0.5) * 1000:7.3f} ms   p95 {percentile(measured, 0.95) * 1000:7.3f} ms"
            f"   mean {statistics.fmean(measured) * 1000:7.3f} ms"
        )
    base, product = (percentile(m, 0.5) for m in results.values())
    print(f"ratio product/B0 at p50: {product / base:.2f}")
    print(f"p50 under 1 ms: {'yes' if product < 0.001 else 'NO'}")


if __name__ == "__main__":
    main()
