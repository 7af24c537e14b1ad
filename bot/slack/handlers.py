"""Conversations in Slack: DMs, @mentions, thread replies, AI-assistant threads and Confirm / Cancel.

Every listener acknowledges at once and does its work lazily (Bolt lazy listeners), so Slack gets its
HTTP 200 well inside 3 seconds however long the model takes. The conversation is the traveller's DM: a
top-level message and a reply in any thread of it (the assistant pane's threads too) continue one
conversation, each answered in its own thread. A mention in a channel is answered in the asker's DM, with a
short note in the channel, because the agent's answers use the asker's own trips and preferences.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any, cast

from slack_bolt.async_app import AsyncApp, AsyncAssistant, AsyncSetSuggestedPrompts
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.say.async_say import AsyncSay
from slack_sdk.web.async_client import AsyncWebClient

from agent.context import Context
from agent.reminder_presses import press_reminder_button
from agent.tools import Decision
from bot.reminder_buttons import SLACK_ACTION, slack_press
from bot.slack.approval_requests import retire_closed_requests
from bot.slack.blocks import ASK_REASON, CONFIRM, button_value, escape, mention
from bot.slack.channel import SlackChannel
from bot.slack.decisions import ALREADY_DECIDED, decide, deliver_reply, outcome_line
from bot.slack.dedupe import DELIVERY, TAKEN_OVER, DeliveryKey
from bot.slack.delivery import ButtonPress, SlackThread, ThreadReplier, post_note, settle_requests
from bot.slack.faults import reported_errors
from bot.slack.files import forwarded_text
from bot.slack.identity import CALLER
from bot.slack.justifications import take_justification_reply

NOT_CONNECTED = (
    "This Slack workspace is not connected to a TravelMate company yet. "
    "Ask your Slack admin to install TravelMate again."
)
MOVED_TO_DM = "I answered {} in a direct message, since my answers use your own trips and preferences."
LAPSED = ":hourglass: This request lapsed because the conversation moved on; nothing was booked."
SUGGESTED_PROMPTS = [
    {"title": "Plan a trip", "message": "I need to be in Berlin from 3 to 5 December for a client workshop."},
    {"title": "My upcoming trips", "message": "Which trips do I have coming up?"},
    {"title": "Record a booking", "message": "I booked LH 1234 on 3 Dec for 245 EUR, locator ABC123."},
]
_PERSON_SUBTYPES = {None, "file_share", "thread_broadcast"}


async def acknowledge(ack: AsyncAck) -> None:
    """Every listener's first step: answer Slack now; the work happens lazily."""
    await ack()


def _without_mentions(text: str, bot_user_id: str | None) -> str:
    if bot_user_id:
        text = text.replace(f"<@{bot_user_id}>", " ")
    return re.sub(r"\s+", " ", text).strip()


async def converse(
    channel: SlackChannel,
    client: AsyncWebClient,
    *,
    caller: Context | None,
    thread: SlackThread,
    text: str,
    assistant: bool = False,
    files: Sequence[dict[str, Any]] = (),
    delivery: str | None = None,
    taken_over: bool = False,
) -> None:
    """One turn: progress first, then the answer in the thread; a lapsed request loses its buttons.

    A shared file (a forwarded confirmation) is read and given to the agent with the message's text. A
    delivery `taken_over` from a process that died is not answered twice when that process's answer is out."""
    replier = ThreadReplier(client, thread.channel, thread.thread_ts)
    async with reported_errors(replier.say, what="message", caller=caller):
        if taken_over and delivery is not None and await replier.answered_before(delivery):
            return
        if caller is None:
            await replier.say(NOT_CONNECTED)
            return
        if files:
            text = await forwarded_text(client, files, text)
        elif await take_justification_reply(
            channel, client, caller=caller, thread=thread, text=text, decide=decide
        ):
            return
        await replier.start(assistant=assistant, delivery=delivery)
        service = channel.product.conversation
        async with channel.turn(caller, thread.conversation):
            reply = await service.handle_message(caller, thread.conversation, text)
            if reply.lapsed is not None:
                # The turn itself reports the request it let lapse, so no other turn can come in between.
                await settle_requests(
                    channel.product.db,
                    client,
                    tenant_id=caller.tenant_id,
                    itinerary_id=reply.lapsed,
                    outcome=LAPSED,
                )
            await deliver_reply(channel, client, caller=caller, thread=thread, reply=reply, replier=replier)
        # A draft changed while it waited for approval was withdrawn: its approvers have nothing to answer.
        await retire_closed_requests(channel.product.db, client, tenant_id=caller.tenant_id)


def register_conversations(app: AsyncApp, channel: SlackChannel) -> None:
    """DMs, mentions, thread replies and the AI-assistant container."""

    async def answer_message(body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient) -> None:
        event = body["event"]
        if event.get("bot_id") or event.get("subtype") not in _PERSON_SUBTYPES or not event.get("user"):
            return
        text = event.get("text") or ""
        caller: Context | None = context.get(CALLER)
        in_thread = event.get("thread_ts")
        if event.get("channel_type") != "im":
            return  # channel chatter; a mention is answered by app_mention, in a DM
        # One conversation per DM: the top level and every thread of it continue the same one.
        thread = SlackThread(event["channel"], in_thread or event["ts"], event["user"])
        key: DeliveryKey | None = context.get(DELIVERY)
        await converse(
            channel,
            client,
            caller=caller,
            thread=thread,
            text=text,
            files=event.get("files") or (),
            delivery=key[1] if key else None,
            taken_over=context.get(TAKEN_OVER) is not None,
        )

    async def answer_mention(body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient) -> None:
        event = body["event"]
        user, where = event["user"], event.get("thread_ts") or event["ts"]
        text = _without_mentions(event.get("text") or "", context.bot_user_id)
        files = event.get("files") or ()
        if str(event["channel"]).startswith("D"):
            thread = SlackThread(event["channel"], where, user)
            await converse(channel, client, caller=context.get(CALLER), thread=thread, text=text, files=files)
            return
        # The agent answers from the asker's own trips and preferences, so never in a channel: in their DM,
        # with a short note in the channel's thread.
        dm = await client.conversations_open(users=user)
        private = SlackThread(dm["channel"]["id"], "", user)
        await converse(channel, client, caller=context.get(CALLER), thread=private, text=text, files=files)
        await post_note(
            client, channel=event["channel"], thread_ts=where, text=MOVED_TO_DM.format(mention(user))
        )

    async def greet_assistant_thread(
        context: AsyncBoltContext, say: AsyncSay, set_suggested_prompts: AsyncSetSuggestedPrompts
    ) -> None:
        caller: Context | None = context.get(CALLER)

        async def tell(text: str) -> None:
            await say(text)

        async with reported_errors(tell, what="assistant greeting", caller=caller):
            name = f", {escape(caller.display_name)}" if caller else ""
            await say(f"Hi{name}! Tell me where and when you need to travel, or pick a suggestion.")
            await set_suggested_prompts(prompts=SUGGESTED_PROMPTS, title="What can I do for you?")

    async def answer_in_assistant_thread(
        body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        event = body["event"]
        # Bolt sees every thread of a DM as an assistant thread; it is still the one DM conversation.
        thread = SlackThread(event["channel"], event["thread_ts"], event["user"])
        key: DeliveryKey | None = context.get(DELIVERY)
        await converse(
            channel,
            client,
            caller=context.get(CALLER),
            thread=thread,
            text=event.get("text") or "",
            assistant=True,
            files=event.get("files") or (),
            delivery=key[1] if key else None,
            taken_over=context.get(TAKEN_OVER) is not None,
        )

    # AsyncAssistant types its lazy listeners as plain functions; ours are coroutines, which it awaits.
    assistant = AsyncAssistant()
    assistant.thread_started(lazy=[cast(Any, greet_assistant_thread)])(acknowledge)
    assistant.user_message(lazy=[cast(Any, answer_in_assistant_thread)])(acknowledge)
    app.assistant(assistant)
    app.event("app_mention")(ack=acknowledge, lazy=[answer_mention])
    app.event("message")(ack=acknowledge, lazy=[answer_message])


def register_confirmations(app: AsyncApp, channel: SlackChannel) -> None:
    """Confirm / Cancel: only the traveller who asked may answer; a repeated press changes nothing."""

    async def answer_confirmation(
        body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        caller: Context | None = context.get(CALLER)
        press = ButtonPress.of(body, client)
        async with reported_errors(press.tell, what="confirmation", caller=caller):
            value = button_value(press.value)
            thread = SlackThread.parse(value["c"])
            if caller is None:
                await press.tell(NOT_CONNECTED)
                return
            if thread.user != press.clicker:
                await press.tell(
                    f"Only {mention(thread.user)}, who asked for this booking, can confirm or cancel it."
                )
                return
            itinerary_id = uuid.UUID(value["i"])
            approved = press.action_id == CONFIRM
            service = channel.product.conversation
            async with channel.turn(caller, thread.conversation):
                pending = await service.pending_confirmation(caller, thread.conversation)
                if pending is None or pending.itinerary_id != itinerary_id:
                    await press.tell(ALREADY_DECIDED)
                    return
                if approved and pending.violations and pending.action == "block":
                    await press.tell("This trip cannot be booked under your company's travel policy.")
                    return
                if approved and pending.needs_justification:
                    await press.tell(f"This trip is out of policy. {ASK_REASON}")
                    return
                verb = "Sent for approval" if pending.needs_approval else "Booked"
                await decide(
                    channel,
                    client,
                    traveller=caller,
                    thread=thread,
                    itinerary_id=itinerary_id,
                    decision=Decision(approved=approved),
                    outcome=outcome_line(
                        ":white_check_mark:" if approved else ":x:",
                        verb if approved else "Cancelled",
                        press,
                        channel,
                    ),
                )

    async def answer_reminder_button(
        body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        caller: Context | None = context.get(CALLER)
        press = ButtonPress.of(body, client)
        async with reported_errors(press.tell, what="reminder button", caller=caller):
            pressed = slack_press(press.action_id, press.value)
            if caller is None or pressed is None:
                await press.tell(NOT_CONNECTED if caller is None else "That button is not one of mine.")
                return
            action, trip = pressed
            where = f"slack:{press.channel}:{press.message_ts}"
            said = await press_reminder_button(
                channel.product.conversation.services, ctx=caller, trip=trip, action=action, message=where
            )
            await client.chat_postMessage(
                channel=press.channel, thread_ts=press.message_ts, text=escape(said)
            )

    app.action(SLACK_ACTION)(ack=acknowledge, lazy=[answer_reminder_button])
    app.action(CONFIRM)(ack=acknowledge, lazy=[answer_confirmation])
    app.action("travel_cancel")(ack=acknowledge, lazy=[answer_confirmation])
