"""The travel policy against everyday scenarios: the scripted model drafts each trip on the real database.

Each case sets the company's policy, has the model call `create_draft_itinerary` with one day of items, and
checks the verdict on the card the traveller is shown (or the sentence that refused the draft).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from rich.console import Console

from agent.conversation import ConversationService
from bot.console import card_table
from storage.audit import Actor
from storage.database import Database
from storage.preferences import set_tenant_preference
from tests.conftest import Company, traveller
from tests.fakes.scripted_model import ScriptedModel, call, say

DAY = "2027-01-11"  # seven weeks after the tests' clock (2026-11-25)


def hotel(cost: str | None, currency: str = "EUR", **extra: Any) -> dict[str, Any]:
    item = {"kind": "hotel", "description": extra.pop("description", "Hotel stay"), "currency": currency}
    if cost is not None:
        item["cost"] = cost
    return {"vendor": "Motel One", "city": "Berlin", "nights": 1, **item, **extra}


def flight(depart: str, arrive: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "flight",
        "description": "FRA → JFK",
        "cost": "900.00",
        "currency": "EUR",
        "origin": "FRA",
        "destination": "JFK",
        "carrier": "LH",
        "cabin": "business",
        "depart_at": f"{DAY}T{depart}" if "T" not in depart else depart,
        "arrive_at": f"{DAY}T{arrive}" if "T" not in arrive else arrive,
        **extra,
    }


def short_flight(**extra: Any) -> dict[str, Any]:
    return {
        "kind": "flight",
        "description": "MUC → BER",
        "cost": "189.00",
        "currency": "EUR",
        "origin": "MUC",
        "destination": "BER",
        "carrier": "LH",
        "cabin": "economy",
        **extra,
    }


EUR_CAP = {"policy.hotel.max_nightly_rate": {"amount": 180, "currency": "EUR"}}
LONDON = {
    "policy.hotel.max_nightly_rate": {"amount": 100, "currency": "EUR"},
    "policy.hotel.city_caps": {"London": {"amount": 250, "currency": "GBP"}},
}
JPY_CAP = {"policy.hotel.max_nightly_rate": {"amount": 20000, "currency": "JPY"}}
KWD_CAP = {"policy.hotel.max_nightly_rate": {"amount": "50.000", "currency": "KWD"}}
LH_ONLY = {"policy.preferred_airlines": ["LH"]}
IBIS = {"policy.preferred_hotels": ["Ibis"]}
BUDGET = {"policy.trip_budget": {"amount": 1000, "currency": "EUR"}}


@dataclass(frozen=True)
class Scenario:
    """A policy, the items the model drafts, and what the traveller must be told."""

    policy: dict[str, Any]
    items: list[dict[str, Any]]
    verdict: str  # "ok", "violation" or "refused" (the draft is not written)
    says: tuple[str, ...] = ()  # phrases of the reasons, the notes, the budget line or the refusal
    extra: dict[str, Any] = field(default_factory=dict)  # trip fields other than the single day


SCENARIOS: dict[str, Scenario] = {
    # Exactly at the cap and one minor unit over, in four currencies with 2, 2, 0 and 3 decimals.
    "EUR at the cap": Scenario(EUR_CAP, [hotel("180.00")], "ok"),
    "EUR one cent over": Scenario(
        EUR_CAP, [hotel("180.01")], "violation", ("this stay is 180.01 EUR a night, 0.01 EUR above the cap",)
    ),
    "GBP at the London cap": Scenario(LONDON, [hotel("250.00", "GBP", city="London")], "ok"),
    "GBP one penny over": Scenario(
        LONDON, [hotel("250.01", "GBP", city="London")], "violation", ("0.01 GBP above the cap", "in London")
    ),
    "JPY at the cap": Scenario(JPY_CAP, [hotel("20000", "JPY")], "ok"),
    "JPY one yen over": Scenario(
        JPY_CAP,
        [hotel("20001", "JPY")],
        "violation",
        ("this stay is 20,001 JPY a night, 1 JPY above the cap",),
    ),
    "KWD at the cap": Scenario(KWD_CAP, [hotel("50.000", "KWD")], "ok"),
    "KWD one fils over": Scenario(
        KWD_CAP, [hotel("50.001", "KWD")], "violation", ("50.001 KWD a night, 0.001 KWD above the cap",)
    ),
    "JPY with decimals is refused": Scenario(
        JPY_CAP, [hotel("20000.5", "JPY")], "refused", ("no decimal places",)
    ),
    "KWD with four decimals is refused": Scenario(
        KWD_CAP, [hotel("50.0001", "KWD")], "refused", ("at most three decimal places",)
    ),
    # Per night over several nights: the total against cap × nights, nothing rounded away.
    "three nights exactly at the cap": Scenario(EUR_CAP, [hotel("540.00", nights=3)], "ok"),
    "three nights one cent over": Scenario(
        EUR_CAP,
        [hotel("540.01", nights=3)],
        "violation",
        ("0.01 EUR above the 540.00 EUR allowed for 3 nights",),
    ),
    # Caps and prices in different currencies convert at the ECB rate, and say so.
    "EUR hotel under a GBP cap": Scenario(
        LONDON, [hotel("200.00", city="London")], "ok", ("GBP at the ECB rate of",)
    ),
    "EUR hotel over a GBP cap": Scenario(
        LONDON,
        [hotel("400.00", city="London")],
        "violation",
        ("GBP above the cap", "≈", "at the ECB rate of"),
    ),
    "USD hotel under an EUR cap": Scenario(
        EUR_CAP, [hotel("150.00", "USD")], "ok", ("EUR at the ECB rate of",)
    ),
    "USD hotel over an EUR cap": Scenario(
        EUR_CAP, [hotel("300.00", "USD")], "violation", ("EUR above the cap",)
    ),
    "KWD hotel against an EUR cap cannot be verified": Scenario(
        EUR_CAP,
        [hotel("40.000", "KWD")],
        "violation",
        ("cannot be verified", "no ECB reference rate from KWD"),
    ),
    "1,500,000 IDR hotel night accepted": Scenario(
        EUR_CAP, [hotel("1500000", "IDR")], "ok", ("1,500,000 IDR",)
    ),
    "2,000,000 EUR hotel night refused": Scenario(
        EUR_CAP, [hotel("2000000")], "refused", ("not plausible for one travel item",)
    ),
    # Durations from local timetable times without offsets, read in the airports' zones.
    "5 h 59 min in business": Scenario(
        {},
        [flight("10:00", "09:59")],
        "violation",
        ("business is allowed from 6 h; this flight is 5 h 59 min, 1 min short", "economy is in policy"),
    ),
    "6 h 01 min in business": Scenario({}, [flight("10:00", "10:01")], "ok"),
    "FRA to JFK is 8 h 50 min, not 2.8 hours": Scenario({}, [flight("10:00", "12:50")], "ok"),
    "an offset and a local time together": Scenario(
        {}, [flight(f"{DAY}T10:00:00+01:00", f"{DAY}T12:50:00")], "ok"
    ),
    "first class is never allowed": Scenario(
        {}, [flight("10:00", "12:50", cabin="first")], "violation", ("first is never allowed",)
    ),
    "unknown airports make the length unverifiable": Scenario(
        {},
        [flight("10:00", "12:50", origin="Somewhere", destination="Elsewhere")],
        "violation",
        ("cannot be verified: the flight's length is unknown",),
    ),
    # Airlines by name or IATA code.
    "Lufthansa against LH": Scenario(LH_ONLY, [short_flight(carrier="Lufthansa")], "ok"),
    "a flight number against LH": Scenario(LH_ONLY, [short_flight(carrier=None, number="LH 1234")], "ok"),
    "Ryanair against LH": Scenario(
        LH_ONLY,
        [short_flight(carrier="Ryanair")],
        "violation",
        (
            "preferred airlines: Lufthansa (LH); this flight is with Ryanair (FR)",
            "Lufthansa (LH) is in policy",
        ),
    ),
    "a flight without an airline": Scenario(
        LH_ONLY, [short_flight(carrier=None)], "violation", ("cannot be verified: the flight has no airline",)
    ),
    "a blocked airline by code": Scenario(
        {"policy.blocked_suppliers": ["FR"]},
        [short_flight(carrier="Ryanair")],
        "violation",
        ("blocked supplier",),
    ),
    # Hotels on whole words and brand lists.
    "Ibis against Hibiscus": Scenario(
        IBIS,
        [hotel("90.00", vendor="Hibiscus Boutique Hotel")],
        "violation",
        ("Hibiscus Boutique Hotel is none",),
    ),
    "Ibis against ibis Styles": Scenario(IBIS, [hotel("90.00", vendor="ibis Styles Berlin Mitte")], "ok"),
    "Marriott against Sheraton": Scenario(
        {"policy.preferred_hotels": ["Marriott"]}, [hotel("90.00", vendor="Sheraton Grand Munich")], "ok"
    ),
    "a hotel without a name": Scenario(
        IBIS, [hotel("90.00", vendor=None)], "violation", ("cannot be verified: the hotel has no name",)
    ),
    "a blocked hotel": Scenario(
        {"policy.blocked_suppliers": ["Hotel Zentral"]},
        [hotel("90.00", vendor="Hotel Zentral Berlin")],
        "violation",
        ("the company does not book Hotel Zentral",),
    ),
    # Cities normalised.
    "London, UK over the London cap": Scenario(
        LONDON, [hotel("300.00", "GBP", city="London, UK")], "violation", ("hotel cap in London",)
    ),
    "London (LHR) under the London cap": Scenario(
        LONDON, [hotel("240.00", "GBP", city="London (LHR)")], "ok"
    ),
    # Zero and missing prices.
    "a 0.00 flight": Scenario(
        {}, [short_flight(cost="0.00")], "violation", ("cannot be verified: the price is 0.00",)
    ),
    "a hotel without a price": Scenario(
        EUR_CAP, [hotel(None)], "violation", ("cannot be verified: the price is missing",)
    ),
    "a meeting needs no price": Scenario({}, [{"kind": "meeting", "description": "Board review"}], "ok"),
    # The budget and the running total while drafting.
    "a budget overrun shown while drafting": Scenario(
        BUDGET,
        [short_flight(cost="700.00"), hotel("500.00")],
        "violation",
        ("trip budget: 1,000.00 EUR; this trip is 1,200.00 EUR, 200.00 EUR above it", "200.00 EUR over"),
    ),
    "a GBP item within an EUR budget": Scenario(
        BUDGET, [hotel("300.00", "GBP", city="London")], "ok", ("Trip budget 1,000.00 EUR; running total ≈",)
    ),
    "a KWD item against an EUR budget": Scenario(
        BUDGET, [hotel("60.000", "KWD")], "violation", ("no ECB reference rate from KWD to EUR",)
    ),
    "the running total without a budget": Scenario(
        {}, [short_flight()], "ok", ("Running total: 189.00 EUR",)
    ),
    # Booking ahead.
    "booked far enough ahead": Scenario({"policy.advance_booking_days": 14}, [short_flight()], "ok"),
    "booked too late": Scenario(
        {"policy.advance_booking_days": 14},
        [short_flight()],
        "violation",
        ("advance booking: 14 days ahead; this is booked 5 days ahead, 9 too few",),
        {"start_date": "2026-11-30", "end_date": "2026-11-30", "date": "2026-11-30"},
    ),
}


async def set_policy(db: Database, company: Company, policy: dict[str, Any]) -> None:
    async with db.tenant(company.tenant_id) as session:
        for key, value in policy.items():
            await set_tenant_preference(session, actor=Actor.user(company.admin_id), key=key, value=value)


def trip(items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    day = extra.get("date", DAY)
    return {
        "start_date": extra.get("start_date", DAY),
        "end_date": extra.get("end_date", "2027-01-14"),
        "destinations": ["Berlin"],
        "days": [
            {
                "day_number": 1,
                "date": day,
                "items": [{k: v for k, v in i.items() if v is not None} for i in items],
            }
        ],
    }


def test_the_table_has_every_case_the_policy_must_meet() -> None:
    assert len(SCENARIOS) >= 40


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_scenario(
    name: str, db: Database, conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    scenario = SCENARIOS[name]
    await set_policy(db, acme, scenario.policy)
    scripted_model.script(
        call("create_draft_itinerary", trip(scenario.items, **scenario.extra)), say("Drafted.")
    )
    reply = await conversation.handle_message(traveller(acme), "policy", "Plan it")
    tool_result = str(scripted_model.messages()[-2]["content"])  # the facts come last
    if scenario.verdict == "refused":
        assert reply.cards == ()
        for phrase in scenario.says:
            assert phrase in tool_result
        return
    (card,) = reply.cards
    shown = " | ".join(
        [
            *card.violations,
            *(note for day in card.days for item in day.items for note in item.notes),
            *(option for day in card.days for item in day.items for option in item.alternatives),
            card.budget_line or "",
        ]
    )
    assert (card.violations == []) == (scenario.verdict == "ok"), shown
    for phrase in scenario.says:
        assert phrase in shown
        assert phrase in tool_result  # the model is told what the traveller is shown


async def test_the_console_card_shows_the_budget_the_conversion_and_the_compliant_option(
    db: Database, conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    await set_policy(db, acme, {**LONDON, **BUDGET})
    items = [hotel("400.00", city="London"), short_flight(cost="700.00")]
    scripted_model.script(call("create_draft_itinerary", trip(items)), say("Drafted."))
    (card,) = (await conversation.handle_message(traveller(acme), "policy", "Plan it")).cards
    screen = Console(record=True, width=400)
    screen.print(card_table(card))
    shown = " ".join(screen.export_text().split())
    assert "at the ECB rate of" in shown
    assert "a hotel in London at or under 250.00 GBP a night is in policy" in shown
    assert "Trip budget 1,000.00 EUR; running total 1,100.00 EUR, 100.00 EUR over." in shown


async def test_the_model_gets_the_verdict_as_structured_data(
    db: Database, conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    await set_policy(db, acme, LH_ONLY)
    scripted_model.script(
        call("create_draft_itinerary", trip([short_flight(carrier="Ryanair")])), say("Drafted.")
    )
    await conversation.handle_message(traveller(acme), "policy", "Plan it")
    result = str(scripted_model.messages()[-2]["content"])
    verdict = json.loads(result.split("Policy verdict: ", 1)[1])
    assert verdict["verdict"] == "out of policy"
    assert verdict["compliant_options"] == ["a flight with Lufthansa (LH) is in policy"]
    assert verdict["reasons"] == [
        {
            "item": "MUC → BER",
            "reason": "preferred airlines: Lufthansa (LH); this flight is with Ryanair (FR)",
        }
    ]
    assert verdict["budget"] == "Running total: 189.00 EUR."
