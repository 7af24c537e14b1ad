"""Trip plans the tests share: the Berlin workshop trip, as the model would send it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def berlin_days(hotel_rate: str = "150.00") -> dict[str, Any]:
    return {
        "start_date": "2026-12-03",
        "end_date": "2026-12-05",
        "destinations": ["Berlin"],
        "days": [
            {
                "day_number": 1,
                "date": "2026-12-03",
                "items": [
                    {
                        "kind": "flight",
                        "description": "MUC → BER LH 1234",
                        "cost": "189.00",
                        "currency": "EUR",
                        "origin": "MUC",
                        "destination": "BER",
                        "carrier": "LH",
                        "number": "LH1234",
                        "depart_at": "2026-12-03T07:00:00",
                        "arrive_at": "2026-12-03T08:10:00",
                        "cabin": "economy",
                    },
                    {
                        "kind": "hotel",
                        "description": "Motel One Berlin-Mitte",
                        "cost": str(2 * Decimal(hotel_rate)),
                        "currency": "EUR",
                        "city": "Berlin",
                        "nights": 2,
                        "vendor": "Motel One",
                    },
                ],
            },
            {
                "day_number": 2,
                "date": "2026-12-04",
                "items": [{"kind": "meeting", "description": "Client workshop"}],
            },
            {
                "day_number": 3,
                "date": "2026-12-05",
                "items": [
                    {
                        "kind": "train",
                        "description": "ICE Berlin → Munich",
                        "cost": "139.90",
                        "currency": "EUR",
                        "origin": "Berlin",
                        "destination": "Munich",
                    }
                ],
            },
        ],
    }
