"""A traveller's decision on a booking request in Slack: the paused conversation resumes with it, every
request message shows the outcome, and a trip sent for approval is put to its first approver at once."""

from __future__ import annotations

import uuid

from slack_sdk.web.async_client import AsyncWebClient

from agent.context import Context
from agent.replies import AgentReply
from agent.tools import Decision
from bot.slack.approval_requests import ask_waiting_approvers
from bot.slack.blocks import (
    SlackMessage,
    escape,
    mention,
    reply_messages,
    slack_date,
    text_blocks,
)
from bot.slack.channel import SlackChannel
from bot.slack.delivery import ButtonPress, SlackThread, ThreadReplier, record_request, settle_requests
from bot.slack.justifications import await_justification
from bot.slack.reporting_line import adopt_manager_from_profile

ALREADY_DECIDED = "This request is no longer waiting for a decision; nothing more was done."


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
    """Post a reply in the traveller's thread; a confirmation is recorded for its outcome."""
    request = reply.confirmation
    messages = reply_messages(reply, conversation=thread.reference)
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
) -> None:
    """Resume the traveller's paused conversation, show the outcome on every request, answer in the thread."""
    replier = ThreadReplier(client, thread.channel, thread.thread_ts)
    await replier.start()
    conversation = channel.product.conversation
    if decision.approved:  # the approval chain starts with the manager, from Slack when none is named
        await adopt_manager_from_profile(channel.product.db, client, traveller=traveller)
    reply = await conversation.resume(traveller, thread.conversation, decision, itinerary_id=itinerary_id)
    if reply.outcome is not None:
        # What happened, from the booking's own result, whatever the model went on to say (or failed to).
        outcome = f"{outcome} — {escape(reply.outcome.summary)}"
        if reply.outcome.summary not in reply.text and (
            reply.outcome.booked or reply.outcome.held or lead is None
        ):
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
    # A trip sent for approval, or booked now for approval later, is put to its first approver at once.
    await ask_waiting_approvers(
        channel.product.db,
        client,
        tenant_id=traveller.tenant_id,
        now=channel.now(),
        itinerary_id=itinerary_id,
    )
