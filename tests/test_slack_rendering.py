"""Block Kit within Slack's limits, escaping, file uploads through the real client, and the Slack mode."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet
from redis.asyncio import Redis

from agent.commands import CommandRunner
from agent.conversation import ConversationService
from agent.replies import AgentReply, Attachment, CardDay, CardItem, ConfirmationRequest, ItineraryCard
from agent.tools import AgentServices
from bot.product import Product
from bot.runtime import Endpoints
from bot.slack.app import SlackSetupError, build_slack_app, web_client
from bot.slack.blocks import BLOCKS_PER_MESSAGE, escape, reply_messages, split_text
from bot.slack.delivery import SlackThread, ThreadReplier
from storage.database import Database
from storage.errors import InvalidInput
from storage.secrets import EncryptionKeyError
from storage.settings import Settings
from tests.fakes.slack_api import FakeSlack


def long_card(days: int) -> ItineraryCard:
    start = dt.date(2026, 12, 1)
    return ItineraryCard(
        itinerary_id=uuid.uuid4(),
        status="draft",
        destinations=("Lisbon <Portugal> & Porto",),
        start_date=start,
        end_date=start + dt.timedelta(days=days - 1),
        days=tuple(
            CardDay(
                n + 1,
                start + dt.timedelta(days=n),
                (
                    CardItem(
                        "hotel",
                        f"Hotel <@U0BOSS> night {n + 1} " + "x" * 120,
                        Decimal("210.00"),
                        "EUR",
                        ("above the cap",),
                    ),
                    CardItem("meeting", "Workshop & lunch", None, None),
                ),
            )
            for n in range(days)
        ),
        totals={"EUR": Decimal(210 * days)},
    )


def test_long_text_is_split_at_boundaries_within_the_section_limit_and_nothing_is_lost() -> None:
    text = "\n\n".join(f"Paragraph {n}: " + "word " * 150 for n in range(12))
    pieces = split_text(text)
    assert len(pieces) > 1 and all(len(p) <= 2900 for p in pieces)
    assert " ".join(" ".join(pieces).split()) == " ".join(text.split())
    assert all(p.startswith("Paragraph") for p in pieces)  # cut between paragraphs
    escaped = escape("a & b " * 1000)
    assert all(not p.rstrip().endswith("&amp") for p in split_text(escaped, 100))


def test_a_sixty_day_trip_with_a_confirmation_fits_slack_and_keeps_its_buttons_last() -> None:
    card = long_card(60)
    request = ConfirmationRequest(
        itinerary_id=card.itinerary_id,
        requested_by=uuid.uuid4(),
        summary="",
        totals=card.totals,
        violations=(),
        card=card,
    )
    long_answer = reply_messages(AgentReply(text="A **long** answer. " * 9000), conversation="")
    reply = AgentReply(text="Please confirm.", cards=(card,), confirmation=request)
    confirmation = reply_messages(reply, conversation="D0TOM:1763000000.000100:U0TOM")
    assert len(long_answer) == 2 and len(confirmation) == 1
    assert (
        sum(len(b["text"]["text"]) for m in long_answer for b in m.blocks)
        >= len("A *long* answer. " * 9000) - 200
    )
    messages = long_answer + confirmation
    for message in messages:
        assert len(message.blocks) <= BLOCKS_PER_MESSAGE and len(message.text) <= 3000
        for block in message.blocks:
            if block["type"] == "section":
                assert len(block["text"]["text"]) <= 3000
            if block["type"] == "header":
                assert len(block["text"]["text"]) <= 150
    assert [m.carries_buttons for m in messages][-1] is True
    assert [b["type"] for b in messages[-1].blocks][-1] == "actions"
    everything = json.dumps([m.blocks for m in messages])
    assert "<@U0BOSS>" not in everything and "&lt;@U0BOSS&gt;" in everything
    assert "Workshop &amp; lunch" in everything
    assert "Out of policy: above the cap" in everything
    assert "<Portugal>" not in confirmation[0].text and "&lt;Portugal&gt; &amp; Porto" in confirmation[0].text


def test_conversation_references_from_buttons_are_checked() -> None:
    thread = SlackThread("D0TOM", "1763000000.000100", "U0TOM")
    assert SlackThread.parse(thread.reference) == thread
    # In a DM every thread is the one DM conversation; in a channel each thread is its own.
    assert thread.conversation == SlackThread("D0TOM", "1763000999.000100", "U0TOM").conversation
    assert (
        SlackThread("C0OPS", "1.2", "U0TOM").conversation != SlackThread("C0OPS", "1.3", "U0TOM").conversation
    )
    for forged in ("D0TOM:1.2:U0TOM:extra", "tenant-b:D0TOM:1.2:U0TOM", "D0TOM:abc:U0TOM", ""):
        with pytest.raises(InvalidInput):
            SlackThread.parse(forged)


async def test_a_chart_is_uploaded_into_the_thread_with_files_upload_v2(fake_slack: FakeSlack) -> None:
    fake_slack.reset()
    fake_slack.add_workspace("T0ACME", "Acme")
    client = web_client(fake_slack.base_url, fake_slack.issue_token("T0ACME"))
    chart = Attachment(filename="spend.png", content=b"\x89PNG fake chart", title="Spend by category")
    await ThreadReplier(client, "D0TOM", "1763000000.000100").upload([chart])
    (requested,) = fake_slack.called("files.getUploadURLExternal")
    assert (requested.params["filename"], requested.params["length"]) == (
        "spend.png",
        str(len(chart.content)),
    )
    assert list(fake_slack.uploads.values()) == [chart.content]
    (completed,) = fake_slack.called("files.completeUploadExternal")
    assert (completed.params["channel_id"], completed.params["thread_ts"]) == ("D0TOM", "1763000000.000100")
    assert json.loads(completed.params["files"])[0]["title"] == "Spend by category"


def product_with(**settings: str) -> Product:
    """A product that is built but never connects: enough to build the Slack app from its settings."""
    db = Database("postgresql://travelmate_app@localhost/never")
    return Product(
        settings=Settings(_env_file=None, SLACK_SIGNING_SECRET="s", **settings),  # type: ignore[call-arg]
        endpoints=Endpoints(
            "postgresql://travelmate_app@localhost/never", None, "redis://localhost", embedded=False
        ),
        db=db,
        conversation=ConversationService(services=AgentServices(db=db), graph=None),
        commands=CommandRunner(db),
        redis=Redis.from_url("redis://localhost"),
    )


def test_the_slack_mode_is_chosen_explicitly_and_oauth_refuses_to_run_without_an_encryption_key() -> None:
    with pytest.raises(
        SlackSetupError, match=r"SLACK_CLIENT_ID and SLACK_CLIENT_SECRET .* or SLACK_BOT_TOKEN"
    ):
        build_slack_app(product_with())
    with pytest.raises(EncryptionKeyError, match="Slack installs need TRAVELMATE_ENCRYPTION_KEY"):
        build_slack_app(product_with(SLACK_CLIENT_ID="1.2", SLACK_CLIENT_SECRET="x"))
    key = Fernet.generate_key().decode()
    oauth = build_slack_app(
        product_with(SLACK_CLIENT_ID="1.2", SLACK_CLIENT_SECRET="x", TRAVELMATE_ENCRYPTION_KEY=key)
    )
    single = build_slack_app(product_with(SLACK_BOT_TOKEN="xoxb-1"))
    assert (oauth.oauth, single.oauth) == (True, False)
    assert oauth.app.oauth_flow is not None and single.app.oauth_flow is None
    assert oauth.app.client.base_url == single.app.client.base_url == "https://slack.com/api/"
    assert (oauth.socket_mode, single.socket_mode) == (None, None)
