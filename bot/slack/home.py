"""The App Home tab: upcoming trips, drafts and this year's spend; admins also see the travel policy."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.models.blocks import DividerBlock, HeaderBlock, PlainTextObject
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession

from agent.cards import itinerary_card, money_text
from agent.context import Context
from agent.spend_report import spend_report
from bot.slack.blocks import Block, context_block, escape, mrkdwn, slack_date, text_blocks
from bot.slack.channel import SlackChannel
from bot.slack.faults import reported_errors
from bot.slack.handlers import NOT_CONNECTED, acknowledge
from bot.slack.identity import CALLER
from bot.slack.policy_summary import policy_lines
from storage.itineraries import get_itinerary, list_itineraries
from storage.preferences import tenant_preferences

log = logging.getLogger(__name__)

SHOWN_TRIPS = 10


async def _trip_lines(session: AsyncSession, caller: Context, *, status: str, channel: SlackChannel) -> str:
    trips = await list_itineraries(
        session, user_id=caller.user_id, status=status, upcoming_from=channel.now().date(), limit=SHOWN_TRIPS
    )
    lines = []
    for trip in trips:
        card = itinerary_card(await get_itinerary(session, itinerary_id=trip.itinerary_id))
        flag = " :warning:" if card.violations else ""
        lines.append(f"• {escape(card.title)} — {escape(money_text(card.totals))}{flag}")
    return "\n".join(lines)


async def _spend_text(session: AsyncSession, caller: Context) -> str:
    """This year's own spend, as the spend report words it."""
    report = await spend_report(
        session,
        user_id=caller.user_id,
        role=caller.role,
        scope="mine",
        period="this year",
        group_by="category",
    )
    return report.text


async def home_blocks(channel: SlackChannel, caller: Context) -> list[Block]:
    """The tab's content for one person, read inside their tenant."""
    async with channel.product.db.tenant(caller.tenant_id) as session:
        upcoming = await _trip_lines(session, caller, status="confirmed", channel=channel)
        drafts = await _trip_lines(session, caller, status="draft", channel=channel)
        spend = await _spend_text(session, caller)
        preferences = await tenant_preferences(session) if caller.is_admin else None
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=f"{caller.display_name[:120]}'s travel")).to_dict(),
        *text_blocks(f"*Upcoming trips*\n{upcoming or '_None booked yet. Send me a DM to plan one._'}"),
        *text_blocks(f"*Drafts*\n{drafts or '_No drafts._'}"),
    ]
    blocks += text_blocks(f"*This year's spend*\n{escape(spend)}")
    if preferences is not None:
        lines = "\n".join(f"• {escape(line)}" for line in policy_lines(preferences))
        blocks += [DividerBlock().to_dict(), *text_blocks(f"*Company travel policy* _(admins)_\n{lines}")]
    blocks.append(
        context_block(f"Updated {slack_date(channel.now())} · `/travelmate help` lists every command")
    )
    return blocks


def register_home(app: AsyncApp, channel: SlackChannel) -> None:
    async def publish_home(event: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        caller: Context | None = context.get(CALLER)
        user = event["user"]

        async def show(text: str) -> None:
            await client.views_publish(user_id=user, view={"type": "home", "blocks": [mrkdwn(text)]})

        async with reported_errors(show, what="home", caller=caller):
            if caller is None:
                await show(NOT_CONNECTED)
                return
            await client.views_publish(
                user_id=user, view={"type": "home", "blocks": await home_blocks(channel, caller)}
            )

    app.event("app_home_opened")(ack=acknowledge, lazy=[publish_home])
