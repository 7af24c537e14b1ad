"""Approval-chain requests in Slack: a DM with Approve / Reject to whoever must answer the trip's step now.

A press decides through the same function as `/approvals approve|reject`, so a double click acts once and a
stale button (the step was answered, or moved on after an escalation) answers with a sentence and changes
nothing. The answered messages are edited to show the decision; the traveller is told in their Slack DM;
whoever approves next is asked in turn.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import uuid
from collections.abc import Sequence
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import ActionsBlock, ButtonElement
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from agent.approval_steps import STALE, StepOutcome, StepRequest, answer_button, step_requests
from agent.context import Context
from agent.replies import ItineraryCard
from bot.slack.blocks import APPROVE, REJECT, Block, decided_blocks, escape, itinerary_blocks, mrkdwn
from bot.slack.channel import SlackChannel
from bot.slack.delivery import ButtonPress, current_card, record_request, settle_requests
from bot.slack.faults import reported_errors
from bot.slack.identity import CALLER
from storage.approval_chain import ApprovalChain
from storage.database import Database
from storage.identities import identities_of
from storage.models import SlackRequestMessage
from storage.preferences import tenant_preferences
from storage.trip_approvals import no_longer_waiting, step_waits

log = logging.getLogger(__name__)

CHAIN_APPROVE, CHAIN_REJECT = "chain_approve", "chain_reject"
ACTIONS = re.compile(f"^({CHAIN_APPROVE}|{CHAIN_REJECT})$")
RETIRED = re.compile(f"^({APPROVE}|{REJECT})$")
CLOSED = (
    ":heavy_minus_sign: This trip no longer waits for an answer here: it was changed, cancelled or "
    "answered elsewhere."
)


def request_blocks(request: StepRequest, card: ItineraryCard | None) -> list[Block]:
    """What an approver reads: whose trip, the trip itself (items, costs, total), why it needs approval, and
    the two buttons."""
    trip = request.trip
    value = json.dumps({"i": str(trip.itinerary_id), "s": trip.step}, separators=(",", ":"))
    reasons = "\n".join(f"• {escape(reason)}" for reason in trip.reasons) or "• (no reason recorded)"
    return [
        mrkdwn(f":raising_hand: {escape(request.sentence())}"),
        *(itinerary_blocks(card) if card is not None else []),
        mrkdwn(f":warning: *Out of policy:*\n{reasons}"),
        ActionsBlock(
            elements=[
                ButtonElement(text="Approve", action_id=CHAIN_APPROVE, value=value, style="primary"),
                ButtonElement(text="Reject", action_id=CHAIN_REJECT, value=value, style="danger"),
            ]
        ).to_dict(),
    ]


async def ask_waiting_approvers(
    db: Database,
    client: AsyncWebClient,
    *,
    tenant_id: uuid.UUID,
    now: dt.datetime,
    workspace_id: str | None = None,
    itinerary_id: uuid.UUID | None = None,
) -> int:
    """DM everyone who may answer an open step (of the one trip `itinerary_id`, or of every trip) and holds no
    live request for it; returns how many were asked.

    A decision settles every live request of the trip, so the next step's approvers are asked afresh.

    Run for the trip after it is sent for approval or booked for later approval and after each answer, and by
    the clock for every trip: a step past the timeout is then also put to the company's admins.
    """
    await retire_closed_requests(db, client, tenant_id=tenant_id)
    asked = 0
    async with db.tenant(tenant_id) as session:
        chain = ApprovalChain.from_preferences(await tenant_preferences(session))
        for request in await step_requests(session, chain=chain, now=now, itinerary_id=itinerary_id):
            trip = request.trip
            blocks = request_blocks(request, await current_card(session, itinerary_id=trip.itinerary_id))
            for approver in request.approvers:
                for identity in await identities_of(session, user_id=approver.user_id):
                    if identity.channel != "slack" or workspace_id not in (None, identity.workspace_id):
                        continue
                    try:
                        dm = (await client.conversations_open(users=identity.external_user_id))["channel"][
                            "id"
                        ]
                        if await session.scalar(
                            select(SlackRequestMessage.message_ts).where(
                                SlackRequestMessage.itinerary_id == trip.itinerary_id,
                                SlackRequestMessage.channel_id == dm,
                                SlackRequestMessage.decided.is_(False),
                            )
                        ):
                            continue
                        posted = await client.chat_postMessage(
                            channel=dm,
                            text=f"A trip waits for your approval ({str(trip.itinerary_id)[:8]}).",
                            blocks=blocks,
                        )
                    except SlackApiError as error:
                        log.warning("could not ask an approver: %s", error.response.get("error"))
                        continue
                    await record_request(
                        session,
                        channel_id=str(posted["channel"]),
                        message_ts=str(posted["ts"]),
                        itinerary_id=trip.itinerary_id,
                        purpose="approval",
                    )
                    asked += 1
    return asked


async def retire_closed_requests(db: Database, client: AsyncWebClient, *, tenant_id: uuid.UUID) -> None:
    """Approvers' requests whose trip waits for no approval any more lose their buttons: the traveller changed
    or cancelled the trip, or it was answered in another channel. A changed trip sent again is asked afresh."""
    async with db.tenant(tenant_id) as session:
        live = set(
            await session.scalars(
                select(SlackRequestMessage.itinerary_id).where(
                    SlackRequestMessage.purpose == "approval", SlackRequestMessage.decided.is_(False)
                )
            )
        )
        retired = await no_longer_waiting(session, itinerary_ids=live)
    for itinerary_id in retired:
        await settle_requests(
            db, client, tenant_id=tenant_id, itinerary_id=itinerary_id, outcome=CLOSED, purpose="approval"
        )


async def tell_traveller(
    db: Database,
    client: AsyncWebClient,
    *,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    text: str,
    workspace_id: str | None = None,
) -> None:
    """The outcome in the traveller's Slack DM, when they have a Slack account (the console has it anyway)."""
    async with db.tenant(tenant_id) as session:
        accounts = [
            i
            for i in await identities_of(session, user_id=user_id)
            if i.channel == "slack" and workspace_id in (None, i.workspace_id)
        ]
    for account in accounts:
        try:
            dm = (await client.conversations_open(users=account.external_user_id))["channel"]["id"]
            await client.chat_postMessage(channel=dm, text=escape(text))
        except SlackApiError as error:
            log.warning("could not tell the traveller: %s", error.response.get("error"))


async def show_decision(
    db: Database,
    client: AsyncWebClient,
    *,
    tenant_id: uuid.UUID,
    outcome: StepOutcome,
    now: dt.datetime,
    also: Sequence[tuple[str, str]] = (),
) -> None:
    """After an answer decided a step: every Slack request of the trip (and `also`) shows the decision, the
    traveller is told in their DM, and whoever approves next is asked."""
    itinerary_id = outcome.trip.itinerary_id
    icon = ":white_check_mark:" if outcome.approved else ":no_entry:"
    await settle_requests(
        db,
        client,
        tenant_id=tenant_id,
        itinerary_id=itinerary_id,
        outcome=f"{icon} {escape(outcome.decided_line())}",
        also=also,
    )
    if outcome.trip.user_id is not None:
        await tell_traveller(
            db, client, tenant_id=tenant_id, user_id=outcome.trip.user_id, text=outcome.notice()
        )
    await ask_waiting_approvers(db, client, tenant_id=tenant_id, now=now, itinerary_id=itinerary_id)


async def close_if_moved_on(
    channel: SlackChannel,
    client: AsyncWebClient,
    press: ButtonPress,
    *,
    caller: Context,
    itinerary_id: uuid.UUID,
    step: str,
) -> None:
    """A stale press on a request whose step no longer waits (it was answered in another channel, say, or
    Slack failed to show the answer): the request, if still live, loses its buttons, and whoever must answer
    the trip now, if anyone, is asked in Slack."""
    db = channel.product.db
    async with db.tenant(caller.tenant_id) as session:
        waits = await step_waits(session, itinerary_id=itinerary_id, step=step)
    if waits or not press.message_ts:
        return  # still that step's: its approver may answer it
    await settle_requests(
        db,
        client,
        tenant_id=caller.tenant_id,
        itinerary_id=itinerary_id,
        outcome=CLOSED,
        only=(press.channel, press.message_ts),
    )
    await ask_waiting_approvers(
        db, client, tenant_id=caller.tenant_id, now=channel.now(), itinerary_id=itinerary_id
    )


def answer_chain_press(channel: SlackChannel) -> Any:
    """The lazy listener of the chain's Approve / Reject."""

    async def decide_chain_step(
        body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        caller: Context | None = context.get(CALLER)
        press = ButtonPress.of(body, client)
        async with reported_errors(press.tell, what="approval", caller=caller):
            if caller is None:
                await press.tell(STALE)
                return
            value = json.loads(press.value)
            itinerary_id, step = uuid.UUID(str(value["i"])), str(value["s"])
            outcome = await answer_button(
                channel.product.db,
                caller=caller,
                itinerary_id=itinerary_id,
                step=step,
                approved=press.action_id == CHAIN_APPROVE,
                now=channel.now(),
                reminders_scheduled=channel.product.commands.reminders_scheduled,
            )
            if outcome is None:
                await press.tell(STALE)
                await close_if_moved_on(
                    channel, client, press, caller=caller, itinerary_id=itinerary_id, step=step
                )
                return
            pressed = [(press.channel, press.message_ts)] if press.message_ts else []
            await show_decision(
                channel.product.db,
                client,
                tenant_id=caller.tenant_id,
                outcome=outcome,
                now=channel.now(),
                also=pressed,
            )
            await channel.product.follow_approval(caller.tenant_id, outcome, skip="slack")

    return decide_chain_step


def answer_retired_press(channel: SlackChannel) -> Any:
    """Approve / Reject on a request sent to admins before trips went to the approval chain: nothing waits
    for it any more, so the press is answered as stale and the message shows it."""

    async def retired(body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient) -> None:
        caller: Context | None = context.get(CALLER)
        press = ButtonPress.of(body, client)
        async with reported_errors(press.tell, what="approval", caller=caller):
            await press.tell(STALE)
            if press.message_ts:
                await client.chat_update(
                    channel=press.channel, ts=press.message_ts, text=STALE, blocks=decided_blocks(None, STALE)
                )

    return retired


def register_chain_requests(app: AsyncApp, channel: SlackChannel, acknowledge: Any) -> None:
    """Approve / Reject of the chain, acknowledged at once and decided lazily."""
    app.action(ACTIONS)(ack=acknowledge, lazy=[answer_chain_press(channel)])
    app.action(RETIRED)(ack=acknowledge, lazy=[answer_retired_press(channel)])


__all__ = [
    "CLOSED",
    "ask_waiting_approvers",
    "register_chain_requests",
    "request_blocks",
    "retire_closed_requests",
    "show_decision",
]
