"""No secret, code or message body reaches the log, at DEBUG or INFO, and no query string an access line."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from bot.redaction import configure_logging, redact
from storage.database import Database
from storage.embedded import EmbeddedUrls
from storage.identities import create_invite, resolve_identity
from storage.models import Booking, Itinerary
from tests.conftest import Company
from tests.fakes.scripted_model import ScriptedModel, call, say
from tests.fakes.slack_api import CLIENT_SECRET, SIGNING_SECRET, FakeSlack, SlackHarness, slack_harness
from tests.fakes.telegram_api import TOKEN, FakeTelegramAPI
from tests.test_agent_booking import berlin_days
from tests.test_telegram_booking import ask_for_confirmation, button
from tests.test_telegram_harness import ALEX, SECRET, TelegramBot, running_bot, telegram_settings, utcnow
from tests.test_telegram_harness import telegram_api as telegram_api  # a fixture used by name

TEAM, INSTALLER = "T0LOGS", "U0LOGADM"
PLAN, BOOK = "plan Berlin 3-5 Dec for the Zebra workshop", "book the Zebra trip"
DRAFT_REPLY, BOOKED_REPLY = "Here is your Zebra draft.", "Booked the Zebra trip, enjoy."


def leaks(captured: str, secrets: list[str]) -> list[str]:
    return [secret for secret in secrets if secret and secret in captured]


@contextlib.contextmanager
def logging_at(level: str, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(level)
    for name in (
        "httpx",
        "slack_sdk",
        "slack_bolt",
        "telegram",
        "uvicorn",
        "uvicorn.access",
        "uvicorn.error",
    ):
        logging.getLogger(name).setLevel(level)
    yield


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def served(app: object, level: str) -> AsyncIterator[str]:
    """The app behind a real uvicorn server, configured as `travelmate serve` configures it."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level=level.lower(), lifespan="off")  # type: ignore[arg-type]
    )
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def slack(
    db: Database, embedded: EmbeddedUrls, scripted_model: ScriptedModel, fake_slack: FakeSlack
) -> AsyncIterator[SlackHarness]:
    fake_slack.reset()
    fake_slack.add_workspace(TEAM, "Logs Ltd")
    fake_slack.add_user(TEAM, INSTALLER, "Lou Logs", email="lou@logs.test")
    async with slack_harness(
        db=db, embedded=embedded, model=scripted_model, fake=fake_slack, oauth=True
    ) as harness:
        yield harness


@pytest.mark.parametrize("level", ["DEBUG", "INFO"])
async def test_slack_install_rotation_dm_and_booking_log_no_secret_and_no_query_string(
    slack: SlackHarness,
    db: Database,
    scripted_model: ScriptedModel,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    level: str,
) -> None:
    configure_logging(slack.product.settings)
    issued: set[str] = set()
    with logging_at(level, caplog):
        # The OAuth install goes through a real uvicorn server, as a browser would.
        code = "oauth-code-7f3a9c"
        slack.fake.add_oauth_code(code, TEAM, INSTALLER, rotating=True)
        async with served(slack.app, level) as base, httpx.AsyncClient(base_url=base) as browser:
            start = await browser.get("/slack/install")
            found = re.search(r"slack-app-oauth-state=([^;]+);", start.headers["set-cookie"])
            assert found is not None
            state = found.group(1)
            done = await browser.get(
                "/slack/oauth_redirect",
                params={"code": code, "state": state},
                headers={"Cookie": f"slack-app-oauth-state={state}"},
            )
            assert done.status_code == 200, done.text
        issued |= {*slack.fake.tokens, *slack.fake.refresh_tokens}

        # The first DM rotates the expiring token, then plans; the traveller books and confirms.
        scripted_model.script(call("create_draft_itinerary", berlin_days("150.00")), say(DRAFT_REPLY))
        _, first = await slack.send.dm(TEAM, INSTALLER, PLAN)
        await slack.settle()
        issued |= {*slack.fake.tokens, *slack.fake.refresh_tokens}
        assert slack.fake.called("oauth.v2.access")[-1].params["grant_type"] == "refresh_token"
        identity = await resolve_identity(db, channel="slack", workspace_id=TEAM, external_user_id=INSTALLER)
        assert identity is not None
        async with db.tenant(identity.tenant_id) as session:
            itinerary_id = str((await session.scalars(select(Itinerary.itinerary_id))).one())
        scripted_model.script(call("confirm_booking", itinerary_id=itinerary_id))
        await slack.send.dm(TEAM, INSTALLER, BOOK, thread_ts=first["ts"])
        await slack.settle()
        request = next(m for m in slack.fake.thread("D" + INSTALLER, first["ts"]) if m.buttons())
        confirm = next(b for b in request.buttons() if b["text"]["text"] == "Confirm booking")
        scripted_model.script(say(BOOKED_REPLY))
        await slack.send.action(TEAM, INSTALLER, request, confirm)
        await slack.settle()
        async with db.tenant(identity.tenant_id) as session:
            assert len((await session.scalars(select(Booking))).all()) == 3

    assert len(issued) == 4  # the first bot and refresh tokens, and the rotated pair
    key = slack.product.settings.encryption_key.get_secret_value()
    secrets = [
        code,
        state,
        CLIENT_SECRET,
        SIGNING_SECRET,
        key,
        *issued,
        PLAN,
        BOOK,
        DRAFT_REPLY,
        BOOKED_REPLY,
    ]
    streams = capsys.readouterr()
    captured = "\n".join([caplog.text, streams.out, streams.err])
    assert "GET /slack/oauth_redirect" in captured  # the access line is there ...
    assert leaks(captured, secrets) == []
    access_lines = [line for line in captured.splitlines() if '"GET /' in line or '"POST /' in line]
    assert access_lines and not any("?" in line for line in access_lines)  # ... without its query string


@pytest.mark.parametrize("level", ["DEBUG", "INFO"])
async def test_telegram_invite_dm_and_booking_log_no_secret_code_or_message(
    db: Database,
    embedded: EmbeddedUrls,
    scripted_model: ScriptedModel,
    telegram_api: FakeTelegramAPI,
    acme: Company,
    caplog: pytest.LogCaptureFixture,
    level: str,
) -> None:
    telegram_api.reset()
    settings = telegram_settings(telegram_api, scripted_model, embedded)
    configure_logging(settings)
    with logging_at(level, caplog):
        async with running_bot(settings, embedded, telegram_api, scripted_model) as telegram:
            code = await invite_code(telegram, acme)
            await telegram.deliver(telegram.updates.message(ALEX, f"/start {code}"))
            linked = await resolve_identity(
                db, channel="telegram", workspace_id="", external_user_id=str(ALEX.id)
            )
            assert linked is not None
            scripted_model.script(say("Zebra crossings ahead."))
            await telegram.deliver(telegram.updates.message(ALEX, "any Zebra news for me"))
            asked = await ask_for_confirmation(telegram, acme, chat_id=ALEX.id)
            telegram.model.script(say(BOOKED_REPLY))
            await telegram.deliver(telegram.updates.press(ALEX, asked, button(asked, "Confirm")))
            async with db.tenant(acme.tenant_id) as session:
                assert len((await session.scalars(select(Booking))).all()) == 3

    secrets = [TOKEN, SECRET, code, "any Zebra news for me", "Zebra crossings ahead.", BOOKED_REPLY]
    secrets += ["Berlin next month, please", "Here is your Berlin draft.", "Book it"]
    assert "sendMessage" in caplog.text  # the Bot API calls were logged, with the token taken out
    assert level == "INFO" or "Processing update" in caplog.text
    assert leaks(caplog.text, secrets) == []


async def invite_code(telegram: TelegramBot, company: Company) -> str:
    from storage.audit import Actor

    async with telegram.db.tenant(company.tenant_id) as session:
        return await create_invite(
            session, actor=Actor.user(company.admin_id), user_id=company.traveler_id, now=utcnow()
        )


def test_redaction_recognises_tokens_by_shape_and_keeps_ordinary_words() -> None:
    line = (
        "sent xoxb-1-2-abc and 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw to "
        "postgresql://app:hunter22@db/x with {'text': 'it\\'s me', 'channel': 'D1'} ?code=abc&state=def"
    )
    cleaned = redact(line)
    for secret in (
        "xoxb-1-2-abc",
        "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
        "hunter22",
        "it\\'s me",
        "abc&",
        "def",
    ):
        assert secret not in cleaned
    assert cleaned.startswith("sent ") and "'channel': 'D1'" in cleaned
