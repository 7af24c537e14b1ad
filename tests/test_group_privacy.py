"""Group chats: personal data is never posted in a Telegram group or a Slack channel; it goes privately."""

from __future__ import annotations

import json

from tests.conftest import Company
from tests.fakes.scripted_model import ScriptedModel, call, say
from tests.fakes.slack_api import ACME, TRAVELLER, FakeSlack, SlackHarness, new_ts
from tests.test_telegram_booking import trip
from tests.test_telegram_harness import ALEX, TelegramBot, telegram, telegram_api

__all__ = ["telegram", "telegram_api"]  # fixtures used by name

GROUP = -100_444_000_222
CHANNEL = "C0TRIPS"


def itinerary_fields(plan: dict[str, object]) -> list[str]:
    """What a trip shows that belongs to its traveller: destination, dates, items and prices."""
    days = plan["days"]
    assert isinstance(days, list)
    items = [item for day in days for item in day["items"]]
    return [
        "Berlin",
        *(str(day["date"]) for day in days),
        *(item["description"] for item in items),
        *(str(item["cost"]) for item in items if "cost" in item),
        "EUR",
    ]


async def test_trips_and_a_mention_in_a_telegram_group_post_nothing_personal(
    telegram: TelegramBot, acme: Company
) -> None:
    await telegram.link(acme, ALEX)
    plan = trip()
    telegram.model.script(call("create_draft_itinerary", plan), say("Here is your Berlin draft, 628.90 EUR."))

    await telegram.deliver(telegram.updates.mention(ALEX, "Berlin next month, please", chat_id=GROUP))
    await telegram.deliver(telegram.updates.message(ALEX, "/trips@TravelMateTestBot", chat_id=GROUP))

    group = [c for c in telegram.api.calls if c.chat_id == GROUP and c.method.startswith("send")]
    posted = " ".join(str(c.params.get("text") or c.params.get("caption") or "") for c in group)
    assert [field for field in itinerary_fields(plan) if field in posted] == []
    assert [c.params["text"] for c in group] == ["Alex, I answered you in our private chat."] * 2
    button = group[0].params["reply_markup"]["inline_keyboard"][0][0]
    assert button["url"] == "https://t.me/TravelMateTestBot"
    # The traveller got both answers privately: the agent's, and the trips.
    private = "\n".join(telegram.api.texts(ALEX.id))
    assert (
        "Here is your Berlin draft, 628.90 EUR." in private and "Berlin" in private.split("628.90 EUR.", 1)[1]
    )


async def test_help_is_answered_in_the_group(telegram: TelegramBot, acme: Company) -> None:
    await telegram.link(acme, ALEX)
    await telegram.deliver(telegram.updates.message(ALEX, "/help@TravelMateTestBot", chat_id=GROUP))
    (answer,) = telegram.api.texts(GROUP)
    assert "/trips" in answer


async def test_a_member_without_a_private_chat_is_told_how_to_open_one(
    telegram: TelegramBot, acme: Company
) -> None:
    await telegram.link(acme, ALEX)
    telegram.api.never_started(ALEX.id)
    telegram.model.script(say("I should not be asked."))

    await telegram.deliver(telegram.updates.message(ALEX, "/bookings@TravelMateTestBot", chat_id=GROUP))
    await telegram.deliver(telegram.updates.mention(ALEX, "what are my trips?", chat_id=GROUP))

    notes = telegram.api.texts(GROUP)
    assert len(notes) == 2 and all("private chat only" in note and "press Start" in note for note in notes)
    assert telegram.model.requests == []


# -- Slack -------------------------------------------------------------------------------------------


async def test_a_mention_and_trips_in_a_slack_channel_post_nothing_personal(
    acme_on_slack: SlackHarness, scripted_model: ScriptedModel, fake_slack: FakeSlack
) -> None:
    plan = trip()
    scripted_model.script(call("create_draft_itinerary", plan), say("Here is your Berlin draft, 628.90 EUR."))

    mention = {
        "type": "app_mention",
        "channel": CHANNEL,
        "user": TRAVELLER,
        "text": "<@UBT0ACME> plan Berlin next month",
        "ts": new_ts(),
    }
    await acme_on_slack.send.event(ACME, mention)
    await acme_on_slack.settle()
    await acme_on_slack.send.command(ACME, TRAVELLER, "trips")  # typed in #general
    await acme_on_slack.settle()

    in_channel = " ".join(m.all_text() for m in fake_slack.posted if m.channel.startswith("C"))
    assert [field for field in itinerary_fields(plan) if field in in_channel] == []
    assert "I answered <@U0TRAVEL> in a direct message" in in_channel
    in_dm = " ".join(m.all_text() for m in fake_slack.posted if m.channel == "D" + TRAVELLER)
    assert "Here is your Berlin draft, 628.90 EUR." in in_dm and "Hotel" in in_dm
    # The command's answer went to the traveller alone (ephemeral), never into the channel.
    (answer,) = fake_slack.responses
    assert answer["response_type"] == "ephemeral" and "Berlin" in json.dumps(answer)
