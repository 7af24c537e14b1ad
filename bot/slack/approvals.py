"""Out-of-policy bookings: the tenant's admins get a DM with Approve / Reject, and the decision resumes
the traveller's paused conversation. Both sides are told, and every request message shows the outcome.

The approver's role is checked here, from the database. The conversation is resumed as the traveller
(whose booking it is) with `approved_by` set to the approver, because ConversationService.resume only
accepts an answer from the requester.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from agent.context import Context
from agent.replies import AgentReply, ConfirmationRequest
from agent.tools import Decision
from bot.slack.approval_requests import ask_waiting_approvers
from bot.slack.blocks import (
    APPROVE,
    SlackMessage,
    approval_blocks,
    button_value,
    escape,
    mention,
    reply_messages,
    slack_date,
    text_blocks,
)
from bot.slack.channel import SlackChannel
from bot.slack.delivery import ButtonPress, SlackThread, ThreadReplier, record_request, settle_requests
from bot.slack.faults import reported_errors
from bot.slack.identity import CALLER, load_caller
from bot.slack.justifications import await_justification
from bot.slack.reporting_line import adopt_manager_from_profile
from storage.identities import identities_of
from storage.tenants import list_users

log = logging.getLogger(__name__)

NOT_AN_APPROVER = "Only an admin of your company can approve or reject out-of-policy trips."
ALREADY_DECIDED = "This request is no longer waiting for a decision; nothing more was done."


@dataclass(frozen=True)
class Approver:
    """An admin who can be reached in Slack."""

    user_id: uuid.UUID
    name: str
    slack_user: str


async def approvers_for(channel: SlackChannel, caller: Context) -> list[Approver]:
    """The tenant's admins with a Slack account; the traveller too only when they are the sole admin."""
    async with channel.product.db.tenant(caller.tenant_id) as session:
        admins = await list_users(session, role="admin")
        others = [admin for admin in admins if admin.user_id != caller.user_id] or admins
        found = []
        for admin in others:
            for identity in await identities_of(session, user_id=admin.user_id):
                if identity.channel == "slack":
                    found.append(Approver(admin.user_id, admin.display_name, identity.external_user_id))
    return found


async def ask_approvers(
    channel: SlackChannel,
    client: AsyncWebClient,
    *,
    caller: Context,
    thread: SlackThread,
    request: ConfirmationRequest,
    approvers: list[Approver],
) -> None:
    """DM every approver the request with Approve / Reject, recording each message for the outcome."""
    blocks = approval_blocks(
        request, traveller=caller.display_name, traveller_id=caller.user_id, conversation=thread.reference
    )
    text = f"{caller.display_name} asks to book an out-of-policy trip: {request.card.title}"
    for approver in approvers:
        try:
            dm = await client.conversations_open(users=approver.slack_user)
            posted = await client.chat_postMessage(
                channel=dm["channel"]["id"], text=escape(text), blocks=blocks
            )
        except SlackApiError as error:
            log.warning("could not ask an approver: %s", error.response.get("error"))
            continue
        async with channel.product.db.tenant(caller.tenant_id) as session:
            await record_request(
                session,
                channel_id=posted["channel"],
                message_ts=posted["ts"],
                itinerary_id=request.itinerary_id,
                purpose="approval",
            )


async def deliver_reply(
    channel: SlackChannel,
    client: AsyncWebClient,
    *,
    caller: Context,
    thread: SlackThread,
    reply: AgentReply,
    replier: ThreadReplier,
    lead: str | None = None,
) -> None:
    """Post a reply in the traveller's thread; a confirmation is recorded, and approvers asked when needed."""
    request = reply.confirmation
    # Booked now and approved later, or only a warning: the traveller confirms, the chain follows.
    needs_admin = request is not None and request.needs_approval
    approvers = await approvers_for(channel, caller) if needs_admin else []
    messages = reply_messages(
        reply,
        conversation=thread.reference,
        approvers=", ".join(mention(a.slack_user) for a in approvers) or None,
    )
    if lead:
        messages.insert(0, SlackMessage(text=lead, blocks=text_blocks(lead)))
    posted = await replier.deliver(messages)
    await replier.upload(reply.attachments)
    if request is None:
        return
    with_buttons = [ts for ts, message in posted if message.carries_buttons]
    async with channel.product.db.tenant(caller.tenant_id) as session:
        await record_request(
            session,
            channel_id=thread.channel,
            message_ts=with_buttons[-1],
            itinerary_id=request.itinerary_id,
            purpose="confirm",
        )
    if request.needs_justification:
        await await_justification(channel, caller=caller, thread=thread, itinerary_id=request.itinerary_id)
    if request.violations and approvers:
        await ask_approvers(
            channel, client, caller=caller, thread=thread, request=request, approvers=approvers
        )


def outcome_line(icon: str, verb: str, press: ButtonPress, channel: SlackChannel) -> str:
    """What replaces the buttons: what was decided, by whom, and when."""
    return f"{icon} {verb} by {mention(press.clicker)} · {slack_date(channel.now())}"


async def decide(
    channel: SlackChannel,
    client: AsyncWebClient,
    *,
    traveller: Context,
    thread: SlackThread,
    itinerary_id: uuid.UUID,
    decision: Decision,
    outcome: str,
    lead: str | None = None,
    approver: Context | None = None,
) -> None:
    """Resume the traveller's paused conversation, show the outcome on every request, answer in the thread.

    With an `approver`, the answer is an admin's approval of an out-of-policy trip (checked by the service).
    """
    replier = ThreadReplier(client, thread.channel, thread.thread_ts)
    await replier.start()
    conversation = channel.product.conversation
    if approver is None:
        if decision.approved:  # the approval chain starts with the manager, from Slack when none is named
            await adopt_manager_from_profile(channel.product.db, client, traveller=traveller)
        reply = await conversation.resume(traveller, thread.conversation, decision, itinerary_id=itinerary_id)
    else:
        reply = await conversation.approve(
            approver, traveller, thread.conversation, decision, itinerary_id=itinerary_id
        )
    if reply.outcome is not None:
        # What happened, from the booking's own result, whatever the model went on to say (or failed to).
        outcome = f"{outcome} — {escape(reply.outcome.summary)}"
        if reply.outcome.summary not in reply.text and (reply.outcome.booked or lead is None):
            lead = " ".join(part for part in (lead, escape(reply.outcome.summary)) if part)
    still_open = reply.confirmation is not None and reply.confirmation.itinerary_id == itinerary_id
    if not still_open:  # a booking that failed leaves the request open, asked again in the reply
        await settle_requests(
            channel.product.db,
            client,
            tenant_id=traveller.tenant_id,
            itinerary_id=itinerary_id,
            outcome=outcome,
        )
    await deliver_reply(
        channel, client, caller=traveller, thread=thread, reply=reply, replier=replier, lead=lead
    )
    # A trip booked now for approval later is put to its first approver at once.
    await ask_waiting_approvers(channel.product.db, client, tenant_id=traveller.tenant_id, now=channel.now())


def answer_as_approver(channel: SlackChannel) -> Any:
    """The lazy listener of Approve / Reject."""

    async def decide_approval(
        body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        approver: Context | None = context.get(CALLER)
        press = ButtonPress.of(body, client)
        async with reported_errors(press.tell, what="approval", caller=approver):
            if approver is None or not approver.is_admin:
                await press.tell(NOT_AN_APPROVER)
                return
            value = button_value(press.value)
            thread = SlackThread.parse(value["c"])
            itinerary_id = uuid.UUID(value["i"])
            traveller = await load_caller(
                channel.product.db, tenant_id=approver.tenant_id, user_id=uuid.UUID(value["t"])
            )
            approved = press.action_id == APPROVE
            async with channel.turn(traveller, thread.conversation):
                pending = await channel.product.conversation.pending_confirmation(
                    traveller, thread.conversation
                )
                if pending is None or pending.itinerary_id != itinerary_id or not pending.violations:
                    await press.tell(ALREADY_DECIDED)
                    await settle_requests(
                        channel.product.db,
                        client,
                        tenant_id=approver.tenant_id,
                        itinerary_id=itinerary_id,
                        outcome=ALREADY_DECIDED,
                        also=[(press.channel, press.message_ts)] if press.message_ts else [],
                    )
                    return
                verb = "approved" if approved else "rejected"
                await decide(
                    channel,
                    client,
                    traveller=traveller,
                    thread=thread,
                    itinerary_id=itinerary_id,
                    decision=Decision(approved=approved, approved_by=approver.user_id),
                    approver=approver,
                    outcome=outcome_line(
                        ":white_check_mark:" if approved else ":no_entry:",
                        f"{verb.capitalize()}",
                        press,
                        channel,
                    ),
                    lead=f"{escape(approver.display_name)} {verb} your out-of-policy trip.",
                )

    return decide_approval
