"""What a Telegram user sees: valid HTML within 4096 characters, typing, flood control, commands, errors."""

from __future__ import annotations

import html
import logging
import re
from html.parser import HTMLParser

import pytest
from telegram import MessageEntity
from telegram.error import BadRequest

from agent.conversation import MAX_MESSAGE_CHARS
from agent.replies import AgentReply, Attachment
from bot.redaction import REDACTED
from bot.telegram.delivery import ChatTarget, send_reply
from bot.telegram.rendering import MESSAGE_LIMIT, pack_messages, text_lines
from storage.embedded import EmbeddedUrls
from storage.preferences import tenant_preferences
from tests.conftest import Company
from tests.fakes.scripted_model import ScriptedModel, say
from tests.fakes.telegram_api import TOKEN, FakeTelegramAPI
from tests.fakes.telegram_rules import utf16_length
from tests.test_telegram_harness import (
    ALEX,
    ROBIN,
    TelegramBot,
    running_bot,
    telegram,
    telegram_api,
    telegram_settings,
)

__all__ = ["telegram", "telegram_api"]  # fixtures used by name

TELEGRAM_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-spoiler",
}


class TelegramHTML(HTMLParser):
    """Checks one message as Telegram's parser would: known tags only, every tag closed, in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in TELEGRAM_TAGS, f"<{tag}> is not Telegram HTML"
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open.pop() == tag, f"</{tag}> closes nothing"

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def visible_text(message: str) -> str:
    parser = TelegramHTML()
    parser.feed(message)
    parser.close()
    assert parser.open == [], f"unclosed tags {parser.open}"
    assert not re.search(r"&(?!amp;|lt;|gt;|quot;|#\d+;)", message), "a bare & in HTML"
    return "".join(parser.text)


def long_answer() -> str:
    """About 10,000 characters with lines, a very long line, and characters HTML must escape."""
    lines = [f'Option {n}: hotel <{n}> & breakfast for "guests" at 1{n}0 EUR' for n in range(150)]
    return "\n".join(lines[:100]) + "\n" + "x&y<z> " * 400 + "\n" + "\n".join(lines[100:])


def test_a_long_text_packs_into_valid_messages_that_keep_every_character() -> None:
    answer = long_answer()
    assert 10_000 <= len(answer) <= 14_000
    messages = pack_messages(text_lines(answer))
    assert len(messages) >= 3 and all(len(m) <= MESSAGE_LIMIT for m in messages)
    shown = [visible_text(m) for m in messages]
    assert re.sub(r"\s+", "", "".join(shown)) == re.sub(r"\s+", "", answer)
    assert html.unescape(messages[0]).startswith("Option 0: hotel <0> & breakfast")


def test_a_single_word_longer_than_a_message_is_cut_without_breaking_entities() -> None:
    word = "&" * 5000  # each & becomes the five characters &amp;
    messages = pack_messages(text_lines(word))
    assert all(len(m) <= MESSAGE_LIMIT for m in messages)
    assert "".join(visible_text(m) for m in messages) == word


async def test_a_10000_character_answer_arrives_as_several_valid_messages(
    telegram: TelegramBot,
    acme: Company,
) -> None:
    await telegram.link(acme, ALEX)
    answer = long_answer()
    telegram.model.script(say(answer))
    await telegram.deliver(telegram.updates.message(ALEX, "Compare all hotel options"))
    sent = telegram.api.calls_to("sendMessage", chat_id=ALEX.id)
    # The model's text goes with entities (no parse mode); the strict fake accepted every message.
    assert len(sent) >= 3 and {c.status for c in sent} == {200}
    assert {c.params.get("parse_mode") for c in sent} == {None}
    assert all(utf16_length(c.params["text"]) <= MESSAGE_LIMIT for c in sent)
    shown = "".join(c.params["text"] for c in sent)
    assert re.sub(r"\s+", "", shown) == re.sub(r"\s+", "", answer)
    typing = telegram.api.calls_to("sendChatAction", chat_id=ALEX.id)
    assert typing and typing[0].params["action"] == "typing"


async def test_typing_repeats_while_a_slow_turn_runs(
    telegram: TelegramBot,
    acme: Company,
) -> None:
    await telegram.link(acme, ALEX)
    telegram.model.script(say("Thought about it.", delay=4.6))
    await telegram.deliver(telegram.updates.message(ALEX, "Think hard about Berlin"))
    assert len(telegram.api.calls_to("sendChatAction", chat_id=ALEX.id)) >= 2
    assert telegram.api.texts(ALEX.id) == ["Thought about it."]


async def test_a_429_with_retry_after_is_retried_and_the_message_arrives(
    telegram: TelegramBot, acme: Company
) -> None:
    await telegram.link(acme, ALEX)
    telegram.api.fail_next("sendMessage", status=429, retry_after=1)
    await telegram.deliver(telegram.updates.message(ALEX, "/help"))
    limited, delivered = telegram.api.calls_to("sendMessage", chat_id=ALEX.id)
    assert limited.status == 429 and delivered.status == 200
    assert delivered.params["text"] == limited.params["text"] and "/trips" in delivered.params["text"]
    assert delivered.at - limited.at >= 1.0


async def test_admins_set_company_preferences_and_travellers_are_refused(
    telegram: TelegramBot, acme: Company
) -> None:
    await telegram.link(acme, ALEX)
    await telegram.link(acme, ROBIN, admin=True)
    await telegram.deliver(telegram.updates.message(ALEX, "/prefs set currency USD"))
    assert telegram.api.texts(ALEX.id) == ["Only an admin of your company can change travel policy."]
    async with telegram.db.tenant(acme.tenant_id) as session:
        assert (await tenant_preferences(session))["currency"] == "EUR"

    await telegram.deliver(telegram.updates.message(ROBIN, "/prefs set currency USD"))
    assert telegram.api.texts(ROBIN.id) == ['currency is now "USD".']
    async with telegram.db.tenant(acme.tenant_id) as session:
        assert (await tenant_preferences(session))["currency"] == "USD"

    await telegram.deliver(telegram.updates.message(ROBIN, "/help"))
    await telegram.deliver(telegram.updates.message(ALEX, "/help"))
    assert "/prefs set KEY VALUE" in telegram.api.texts(ROBIN.id)[-1]
    assert "/prefs set" not in telegram.api.texts(ALEX.id)[-1]


async def test_commands_answer_in_html_and_unknown_ones_are_explained(
    telegram: TelegramBot,
    acme: Company,
) -> None:
    await telegram.link(acme, ALEX)
    for text in ("/trips", "/drafts", "/bookings", "/fly_me_now"):
        await telegram.deliver(telegram.updates.message(ALEX, text))
    assert telegram.api.texts(ALEX.id) == [
        "You have no upcoming trips.",
        "You have no draft itineraries.",
        "You have no bookings.",
        "I don't know the command /fly_me_now. Try /help.",
    ]
    assert telegram.model.requests == []


async def test_a_message_over_the_length_limit_is_answered_and_not_sent_to_the_model(
    telegram: TelegramBot,
    acme: Company,
) -> None:
    await telegram.link(acme, ALEX)
    await telegram.deliver(telegram.updates.message(ALEX, "a" * (MAX_MESSAGE_CHARS + 50)))
    (answer,) = telegram.api.texts(ALEX.id)
    assert f"the limit is {MAX_MESSAGE_CHARS:,}" in answer and telegram.model.requests == []


async def test_photos_get_a_clear_answer(
    telegram: TelegramBot,
    acme: Company,
) -> None:
    await telegram.link(acme, ALEX)
    await telegram.deliver(telegram.updates.photo(ALEX))
    (answer,) = telegram.api.texts(ALEX.id)
    assert "I cannot read text from pictures yet" in answer and "as a PDF" in answer
    assert telegram.model.requests == []


async def test_an_unexpected_failure_is_logged_first_then_the_user_gets_its_error_id(
    telegram: TelegramBot,
    acme: Company,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await telegram.link(acme, ALEX)
    telegram.api.fail_next("sendMessage", status=400, description="Bad Request: can't parse entities")
    with caplog.at_level(logging.ERROR, logger="bot.telegram.handlers"):
        await telegram.deliver(telegram.updates.message(ALEX, "/help"))
    (told,) = telegram.api.texts(ALEX.id)
    error_id = re.search(r"error id ([0-9a-f]{12})", told)
    assert error_id is not None and told.startswith("Sorry, something went wrong")
    (logged,) = [r for r in caplog.records if error_id.group(1) in r.getMessage()]
    assert logged.exc_info is not None  # the traceback is in the log, not in the chat


async def test_polling_mode_answers_updates_from_get_updates(
    embedded: EmbeddedUrls,
    scripted_model: ScriptedModel,
    telegram_api: FakeTelegramAPI,
    acme: Company,
) -> None:
    telegram_api.reset()
    settings = telegram_settings(telegram_api, scripted_model, embedded, TELEGRAM_WEBHOOK_URL=None)
    async with running_bot(settings, embedded, telegram_api, scripted_model) as bot:
        await bot.link(acme, ALEX)
        telegram_api.queue_update(bot.updates.message(ALEX, "/drafts"))
        await telegram_api.wait_for_async("sendMessage")
        assert telegram_api.texts(ALEX.id) == ["You have no draft itineraries."]
    assert telegram_api.calls_to("deleteWebhook") and not telegram_api.calls_to("setWebhook")
    assert telegram_api.calls_to("setMyCommands")


async def test_in_groups_only_mentions_and_replies_reach_the_model(
    telegram: TelegramBot, acme: Company
) -> None:
    await telegram.link(acme, ALEX)
    group = -100_222_333_444
    telegram.model.script(say("Berlin noted."), say("And Hamburg."))
    await telegram.deliver(telegram.updates.message(ALEX, "lunch anyone?", chat_id=group))
    await telegram.deliver(telegram.updates.mention(ALEX, "plan Berlin in May", chat_id=group))
    answer = telegram.api.calls_to("sendMessage", chat_id=group)[-1]
    await telegram.deliver(
        telegram.updates.message(ALEX, "add Hamburg", chat_id=group, reply_to=answer.result)
    )
    asked = [r["messages"] for r in telegram.model.requests]
    assert [next(m["content"] for m in reversed(ms) if m["role"] == "user") for ms in asked] == [
        "plan Berlin in May",
        "add Hamburg",
    ]
    # The answers go to Alex privately; the group sees a note, quoting the message it answers.
    assert telegram.api.texts(ALEX.id) == ["Berlin noted.", "And Hamburg."]
    assert telegram.api.texts(group) == ["Alex, I answered you in our private chat."] * 2
    assert answer.params["reply_parameters"]["message_id"] > 0


async def test_the_webhook_answers_before_a_slow_turn_finishes(telegram: TelegramBot, acme: Company) -> None:
    await telegram.link(acme, ALEX)
    telegram.model.script(say("Done thinking.", delay=2.0))
    response = await telegram.post(telegram.updates.message(ALEX, "Plan my year"))
    assert response.status_code == 200 and telegram.api.texts(ALEX.id) == []  # acknowledged, still working
    await telegram.settle()
    assert telegram.api.texts(ALEX.id) == ["Done thinking."]


async def test_a_chart_attachment_goes_out_as_a_photo_with_its_title(telegram: TelegramBot) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    reply = AgentReply(
        text="Hotels cost you 1,240.00 EUR this year.",
        attachments=(Attachment("spend.png", png, "Spend by category & month"),),
    )
    await send_reply(telegram.application.bot, ChatTarget(ALEX.id), reply, requester_telegram_id=ALEX.id)
    assert telegram.api.texts(ALEX.id) == ["Hotels cost you 1,240.00 EUR this year."]
    (photo,) = telegram.api.calls_to("sendPhoto", chat_id=ALEX.id)
    assert photo.files["photo"] == png and photo.params["caption"] == "Spend by category &amp; month"


async def test_the_bot_token_never_reaches_the_logs(
    telegram: TelegramBot, acme: Company, caplog: pytest.LogCaptureFixture
) -> None:
    await telegram.link(acme, ALEX)
    with caplog.at_level(logging.DEBUG):
        await telegram.deliver(telegram.updates.message(ALEX, "/help"))
    logged = [record.getMessage() for record in caplog.records]
    assert any(f"/bot{REDACTED}/sendMessage" in line for line in logged)  # httpx logged the call...
    assert not [
        line for line in logged if TOKEN in line or TOKEN.split(":")[1] in line
    ]  # ...without the token


async def test_model_markdown_renders_as_telegram_entities(telegram: TelegramBot, acme: Company) -> None:
    await telegram.link(acme, ALEX)
    telegram.model.script(
        say(
            "**Berlin** is booked: flight `LH 1234`, details at [Lufthansa](https://www.lufthansa.com).\n\n"
            "- Hotel <Mitte> & Spa\n- Train ICE 599"
        )
    )
    await telegram.deliver(telegram.updates.message(ALEX, "What is booked?"))
    (sent,) = telegram.api.calls_to("sendMessage", chat_id=ALEX.id)
    text, entities = sent.params["text"], sent.params["entities"]
    assert "**" not in text and "`" not in text and "](" not in text
    assert "Hotel <Mitte> & Spa" in text and "Train ICE 599" in text
    shown = {(e["type"], text[e["offset"] : e["offset"] + e["length"]]) for e in entities}
    assert {("bold", "Berlin"), ("code", "LH 1234"), ("text_link", "Lufthansa")} <= shown
    assert next(e["url"] for e in entities if e["type"] == "text_link") == "https://www.lufthansa.com"


async def test_the_fake_refuses_what_telegram_refuses(telegram: TelegramBot) -> None:
    bot = telegram.application.bot
    refused = [
        ("<b>unclosed", {"parse_mode": "HTML"}),
        ("a <blink>tag</blink>", {"parse_mode": "HTML"}),
        ("fish & chips", {"parse_mode": "HTML"}),
        ("short", {"entities": [MessageEntity("bold", 2, 10)]}),
        ("x" * (MESSAGE_LIMIT + 1), {}),
    ]
    for text, options in refused:
        with pytest.raises(BadRequest):
            await bot.send_message(ALEX.id, text, **options)
    await bot.send_message(ALEX.id, "fish &amp; <b>chips</b>", parse_mode="HTML")
