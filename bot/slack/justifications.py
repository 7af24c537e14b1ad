"""Out-of-policy trips the company lets a traveller justify: in Slack, the reason is a reply in the thread.

The same rule as the console and Telegram: the traveller's own justification books the trip (and is
audited); no admin is asked. The awaited reply is kept in PostgreSQL, so any replica can take it, once.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from slack_sdk.web.async_client import AsyncWebClient

from agent.context import Context
from agent.conversation import thread_id
from agent.justifications import ASK_AGAIN, justification_decision
from bot.slack.blocks import mention, slack_date
from bot.slack.channel import SlackChannel
from bot.slack.delivery import SlackThread, ThreadReplier
from storage.awaited_justifications import ask_justification, awaited_justification, take_justification

SLACK_PROMPT = 0  # Slack messages have no integer id; in Slack any reply in the thread is the answer


async def await_justification(
    channel: SlackChannel, *, caller: Context, thread: SlackThread, itinerary_id: uuid.UUID
) -> None:
    async with channel.product.db.tenant(caller.tenant_id) as session:
        await ask_justification(
            session,
            thread_id=thread_id(caller, thread.conversation),
            user_id=caller.user_id,
            itinerary_id=itinerary_id,
            prompt_message_id=SLACK_PROMPT,
        )


async def take_justification_reply(
    channel: SlackChannel,
    client: AsyncWebClient,
    *,
    caller: Context,
    thread: SlackThread,
    text: str,
    decide: Callable[..., Awaitable[None]],
) -> bool:
    """If this reply answers a request for a justification, carry it to the booking with `decide`
    (bot.slack.decisions.decide, passed in because that module asks for justifications); True when it did."""
    db, thread_key = channel.product.db, thread_id(caller, thread.conversation)
    async with db.tenant(caller.tenant_id) as session:
        awaited = await awaited_justification(session, thread_id=thread_key, user_id=caller.user_id)
    if awaited is None:
        return False
    decision = justification_decision(text)
    if decision is None:
        await ThreadReplier(client, thread.channel, thread.thread_ts).say(ASK_AGAIN)
        return True
    async with channel.turn(caller, thread.conversation):
        async with db.tenant(caller.tenant_id) as session:
            taken = await take_justification(
                session, thread_id=thread_key, user_id=caller.user_id, itinerary_id=awaited.itinerary_id
            )
        if not taken:
            return True  # answered a moment ago by another reply
        verb = "Confirmed with a justification" if decision.approved else "Cancelled"
        icon = ":white_check_mark:" if decision.approved else ":x:"
        await decide(
            channel,
            client,
            traveller=caller,
            thread=thread,
            itinerary_id=awaited.itinerary_id,
            decision=decision,
            outcome=f"{icon} {verb} by {mention(thread.user)} · {slack_date(channel.now())}",
        )
    return True
