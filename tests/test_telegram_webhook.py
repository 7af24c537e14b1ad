"""The Telegram webhook: secret header, start-up registration, invite linking, unlinked users, duplicates."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from storage.audit import Actor
from storage.database import Database
from storage.identities import create_invite, resolve_identity
from storage.models import AuditEntry
from tests.conftest import Company
from tests.fakes.scripted_model import say
from tests.fakes.telegram_api import BOT_USERNAME, TelegramUser
from tests.test_telegram_harness import ALEX, SECRET, WEBHOOK_URL, TelegramBot, telegram, telegram_api, utcnow

__all__ = ["telegram", "telegram_api"]  # fixtures used by name

SAM = TelegramUser(444_555_666, "Sam")
GROUP = -100_987_654_321


async def processed_events(db: Database) -> int:
    return int(await db.scalar("SELECT count(*) FROM processed_events"))


async def invite(db: Database, company: Company, *, now: dt.datetime | None = None) -> str:
    async with db.tenant(company.tenant_id) as session:
        return await create_invite(
            session, actor=Actor.user(company.admin_id), user_id=company.traveler_id, now=now or utcnow()
        )


async def linked_user(db: Database, person: TelegramUser) -> object:
    return await resolve_identity(db, channel="telegram", workspace_id="", external_user_id=str(person.id))


async def test_startup_registers_the_webhook_with_its_secret_and_the_command_menu(
    telegram: TelegramBot,
) -> None:
    (webhook,) = telegram.api.calls_to("setWebhook")
    assert webhook.params["url"] == WEBHOOK_URL and webhook.params["secret_token"] == SECRET
    assert webhook.params["allowed_updates"] == ["message", "callback_query"]
    (menu,) = telegram.api.calls_to("setMyCommands")
    # Every command the bot answers is in the menu, /reminders, /me, /privacy, /policy and /approvals included.
    assert [c["command"] for c in menu.params["commands"]] == [
        "start", "help", "trips", "drafts", "bookings", "spend", "prefs", "me", "policy", "reminders", "privacy",
        "audit", "approvals", "unlink",
    ]  # fmt: skip
    assert telegram.api.calls_to("getUpdates") == []  # webhook mode does not poll


async def test_a_missing_or_wrong_secret_gets_403_and_nothing_is_processed(
    telegram: TelegramBot, acme: Company
) -> None:
    await telegram.link(acme, ALEX)
    update = telegram.updates.message(ALEX, "/help")
    for secret in (None, "", "wrong", SECRET[:-1] + "X", SECRET + " "):
        response = await telegram.post(update, secret=secret)
        assert response.status_code == 403
    await telegram.settle()
    assert telegram.api.calls_to("sendMessage") == [] and await processed_events(telegram.db) == 0

    # The very same update with the right secret is answered: it was the header that was refused.
    assert (await telegram.post(update)).status_code == 200
    await telegram.settle()
    (answer,) = telegram.api.texts(ALEX.id)
    assert "/trips" in answer and await processed_events(telegram.db) == 1


async def test_unreadable_bodies_are_rejected(telegram: TelegramBot) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    assert (await telegram.client.post("/telegram/webhook", content=b"{", headers=headers)).status_code == 400
    assert (await telegram.client.post("/telegram/webhook", json=[1], headers=headers)).status_code == 400
    assert (await telegram.client.get("/telegram/webhook", headers=headers)).status_code == 405


async def test_start_with_a_valid_code_links_the_user_and_the_code_works_once(
    telegram: TelegramBot, acme: Company
) -> None:
    code = await invite(telegram.db, acme)
    await telegram.deliver(telegram.updates.message(ALEX, f"/start {code}"))
    identity = await linked_user(telegram.db, ALEX)
    assert identity is not None and (identity.tenant_id, identity.user_id) == (
        acme.tenant_id,
        acme.traveler_id,
    )
    (welcome,) = telegram.api.texts(ALEX.id)
    assert welcome.startswith("Welcome, <b>Acme Traveller</b>!") and "linked to Acme" in welcome

    # The same code again, from someone else: refused, and Sam stays unlinked.
    await telegram.deliver(telegram.updates.message(SAM, f"/start {code}"))
    (refusal,) = telegram.api.texts(SAM.id)
    assert "not valid, has expired or was already used" in refusal
    assert await linked_user(telegram.db, SAM) is None

    async with telegram.db.tenant(acme.tenant_id) as session:
        actions = (await session.scalars(select(AuditEntry.action))).all()
    assert actions.count("identity.link") == 1


async def test_an_expired_or_unknown_code_links_nothing(telegram: TelegramBot, acme: Company) -> None:
    expired = await invite(telegram.db, acme, now=utcnow() - dt.timedelta(days=8))
    await telegram.deliver(telegram.updates.message(ALEX, f"/start {expired}"))
    await telegram.deliver(telegram.updates.message(ALEX, "/start not-a-real-code"))
    assert [("not valid, has expired" in text) for text in telegram.api.texts(ALEX.id)] == [True, True]
    assert await linked_user(telegram.db, ALEX) is None


async def test_an_unlinked_users_text_never_reaches_the_model(telegram: TelegramBot, acme: Company) -> None:
    telegram.model.script(say("I should never be asked."))
    await telegram.deliver(telegram.updates.message(ALEX, "Book me a flight to Berlin on Friday"))
    await telegram.deliver(telegram.updates.message(ALEX, "/trips"))
    await telegram.deliver(telegram.updates.mention(ALEX, "plan Berlin", chat_id=GROUP))
    await telegram.deliver(telegram.updates.message(ALEX, "just chatting with colleagues", chat_id=GROUP))
    assert telegram.model.requests == [] and telegram.model.pending == 1
    private, group = telegram.api.texts(ALEX.id), telegram.api.texts(GROUP)
    assert len(private) == 2 and all("/start CODE" in text for text in private)
    assert f"t.me/{BOT_USERNAME}?start=CODE" in private[0]
    assert len(group) == 1  # the mention gets the instructions; the chatter gets nothing


async def test_the_same_update_delivered_three_times_has_one_effect(
    telegram: TelegramBot,
    acme: Company,
) -> None:
    await telegram.link(acme, ALEX)
    telegram.model.script(say("Berlin it is. Which dates?"))
    update = telegram.updates.message(ALEX, "I need to go to Berlin")
    for _ in range(3):
        assert (await telegram.post(update)).status_code == 200
    await telegram.settle()
    assert len(telegram.model.requests) == 1 and telegram.model.unscripted == 0
    assert telegram.api.texts(ALEX.id) == ["Berlin it is. Which dates?"]
    assert await processed_events(telegram.db) == 1


async def test_unlink_removes_the_link_and_the_account_is_a_stranger_again(
    telegram: TelegramBot, acme: Company
) -> None:
    await telegram.link(acme, ALEX)
    await telegram.deliver(telegram.updates.message(ALEX, "/unlink"))
    assert await linked_user(telegram.db, ALEX) is None
    await telegram.deliver(telegram.updates.message(ALEX, "/trips"))
    unlinked, after = telegram.api.texts(ALEX.id)
    assert "no longer linked" in unlinked and "/start CODE" in after
    async with telegram.db.tenant(acme.tenant_id) as session:
        assert "identity.unlink" in (await session.scalars(select(AuditEntry.action))).all()


async def test_a_linked_user_cannot_redeem_a_second_code(
    telegram: TelegramBot, acme: Company, globex: Company
) -> None:
    await telegram.link(acme, ALEX)
    code = await invite(telegram.db, globex)
    await telegram.deliver(telegram.updates.message(ALEX, f"/start {code}"))
    (answer,) = telegram.api.texts(ALEX.id)
    assert "already linked" in answer
    identity = await linked_user(telegram.db, ALEX)
    assert identity is not None and identity.tenant_id == acme.tenant_id
