"""Posting into Slack threads: progress while the agent works, the answer, files, and live requests.

A request message (Confirm/Cancel for the traveller, Approve/Reject for an approver) is recorded with
its itinerary, so that after the decision every one of them is rewritten to show the outcome.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agent.cards import itinerary_card
from agent.replies import Attachment, ItineraryCard
from bot.slack.blocks import SlackMessage, decided_blocks, text_blocks
from storage.database import Database
from storage.errors import InvalidInput, NotFound
from storage.itineraries import get_itinerary
from storage.models import SlackRequestMessage
from storage.sessions import current_tenant

log = logging.getLogger(__name__)

WORKING = "_Working on it…_"
ANSWERING = "travelmate_answering"  # metadata type of a placeholder: which delivery it answers
# The thread is empty for an answer at the top level of a DM (to a mention made in a channel).
_THREAD = re.compile(r"^(?P<channel>[A-Z0-9]{2,32}):(?P<ts>\d{1,12}\.\d{1,8}|):(?P<user>[A-Z0-9]{2,32})$")

Purpose = Literal["confirm", "approval"]


@dataclass(frozen=True)
class SlackThread:
    """One person's conversation with the assistant, and the thread its answers go to.

    In a channel the conversation is the thread. In a DM (channel ids starting with D) it is the whole DM: a
    message at the top level or in any thread of it continues the same conversation, answered in its thread.
    """

    channel: str
    thread_ts: str
    user: str

    @property
    def in_dm(self) -> bool:
        return self.channel.startswith("D")

    @property
    def conversation(self) -> str:
        """The conversation id: the thread (or the DM), qualified by channel and by the person talking."""
        if self.in_dm:
            return f"{self.channel}:{self.user}"
        return f"{self.channel}:{self.thread_ts}:{self.user}"

    @property
    def reference(self) -> str:
        """What a button carries: the conversation and the thread to answer in (`parse` reads it back)."""
        return f"{self.channel}:{self.thread_ts}:{self.user}"

    @classmethod
    def parse(cls, reference: str) -> SlackThread:
        found = _THREAD.fullmatch(reference)
        if found is None:
            raise InvalidInput("That Slack conversation reference is not valid.")
        return cls(found["channel"], found["ts"], found["user"])


async def record_request(
    session: AsyncSession, *, channel_id: str, message_ts: str, itinerary_id: uuid.UUID, purpose: Purpose
) -> None:
    session.add(
        SlackRequestMessage(
            tenant_id=current_tenant(session),
            channel_id=channel_id,
            message_ts=message_ts,
            itinerary_id=itinerary_id,
            purpose=purpose,
        )
    )
    await session.flush()


async def _close_requests(
    session: AsyncSession,
    *,
    itinerary_id: uuid.UUID,
    purpose: Purpose | None,
    only: tuple[str, str] | None,
) -> list[SlackRequestMessage]:
    """The itinerary's live request messages (of one `purpose`, or the `only` one, or all), marked decided in
    the same transaction."""
    which = [SlackRequestMessage.itinerary_id == itinerary_id]
    if purpose is not None:
        which.append(SlackRequestMessage.purpose == purpose)
    if only is not None:
        which += [SlackRequestMessage.channel_id == only[0], SlackRequestMessage.message_ts == only[1]]
    rows = list(
        (
            await session.scalars(
                select(SlackRequestMessage)
                .where(*which, SlackRequestMessage.decided.is_(False))
                .with_for_update()
            )
        ).all()
    )
    if rows:
        await session.execute(update(SlackRequestMessage).where(*which).values(decided=True))
    return rows


async def settle_requests(
    db: Database,
    client: AsyncWebClient,
    *,
    tenant_id: uuid.UUID,
    itinerary_id: uuid.UUID,
    outcome: str,
    also: Sequence[tuple[str, str]] = (),
    purpose: Purpose | None = None,
    only: tuple[str, str] | None = None,
) -> None:
    """Rewrite every live request message of an itinerary (only those of `purpose`, or the `only` message, if
    still live; and `also` in any case) to its outcome, without buttons."""
    async with db.tenant(tenant_id) as session:
        rows = await _close_requests(session, itinerary_id=itinerary_id, purpose=purpose, only=only)
        card = await current_card(session, itinerary_id=itinerary_id)
    closed = {(row.channel_id, row.message_ts) for row in rows}
    blocks = decided_blocks(card, outcome)
    unchanged = []
    for channel_id, message_ts in sorted(closed | set(also)):
        try:
            await client.chat_update(channel=channel_id, ts=message_ts, text=outcome, blocks=blocks)
        except SlackApiError as error:
            log.warning("could not update a request message: %s", error.response.get("error"))
            if (channel_id, message_ts) in closed and error.response.get("error") not in _GONE:
                unchanged.append((channel_id, message_ts))
    if unchanged:  # it still shows its buttons: kept live, so that a later settle or a press closes it
        async with db.tenant(tenant_id) as session:
            await _reopen_requests(session, unchanged)


# Slack's answers for a message that can never be rewritten: it is not kept live for another try.
_GONE = frozenset({"message_not_found", "channel_not_found", "cant_update_message", "is_archived"})


async def _reopen_requests(session: AsyncSession, messages: list[tuple[str, str]]) -> None:
    for channel_id, message_ts in messages:
        await session.execute(
            update(SlackRequestMessage)
            .where(SlackRequestMessage.channel_id == channel_id, SlackRequestMessage.message_ts == message_ts)
            .values(decided=False)
        )


async def current_card(session: AsyncSession, *, itinerary_id: uuid.UUID) -> ItineraryCard | None:
    """The itinerary's card as it is now; None once it is gone (erased)."""
    try:
        return itinerary_card(await get_itinerary(session, itinerary_id=itinerary_id))
    except NotFound:
        return None


@dataclass
class ThreadReplier:
    """Progress and answers in one thread: an assistant status, or a placeholder that becomes the answer."""

    client: AsyncWebClient
    channel: str
    thread_ts: str
    placeholder_ts: str | None = None
    posted: list[tuple[str, SlackMessage]] = field(default_factory=list)
    delivery: str | None = None  # the Slack delivery answered, named in each message's metadata

    async def start(
        self, *, assistant: bool = False, note: str = WORKING, delivery: str | None = None
    ) -> None:
        """Show progress; the placeholder and the answers name the `delivery` they answer (message metadata),
        so that a process running the delivery again after this one died finds them (`answered_before`)."""
        self.delivery = delivery
        if self.placeholder_ts is not None:
            return  # the placeholder of an earlier run of the same delivery
        if assistant:
            try:
                await self.client.assistant_threads_setStatus(
                    channel_id=self.channel, thread_ts=self.thread_ts, status="is planning…"
                )
                return
            except SlackApiError as error:
                log.debug("no assistant status here (%s); using a placeholder", error.response.get("error"))
        placeholder = await self.client.chat_postMessage(
            channel=self.channel, thread_ts=self.thread_ts or None, text=note, metadata=self._metadata()
        )
        self.placeholder_ts = placeholder["ts"]

    def _metadata(self) -> dict[str, Any] | None:
        return (
            {"event_type": ANSWERING, "event_payload": {"delivery": self.delivery}} if self.delivery else None
        )

    async def answered_before(self, delivery: str) -> bool:
        """For a delivery run again because the process that took it died: True when that process's answer
        is out already; otherwise its placeholder, if it posted one, becomes this run's."""
        try:
            replies = await self.client.conversations_replies(
                channel=self.channel, ts=self.thread_ts, include_all_metadata=True
            )
        except SlackApiError as error:
            log.warning("could not look for an earlier answer: %s", error.response.get("error"))
            return False
        for message in replies.get("messages") or []:
            metadata = message.get("metadata") or {}
            if (
                metadata.get("event_type") == ANSWERING
                and metadata.get("event_payload", {}).get("delivery") == delivery
            ):
                if message.get("text") != WORKING:
                    return True
                self.placeholder_ts = str(message["ts"])
        return False

    async def deliver(self, messages: Sequence[SlackMessage]) -> list[tuple[str, SlackMessage]]:
        """Post the messages in order (the first replaces the placeholder); returns (ts, message) pairs."""
        for message in messages:
            if self.placeholder_ts is not None:
                ts = self.placeholder_ts
                await self.client.chat_update(
                    channel=self.channel, ts=ts, text=message.text, blocks=message.blocks or None
                )
                # Only once it worked: an error message can still take the placeholder's place.
                self.placeholder_ts = None
            else:
                posted = await self.client.chat_postMessage(
                    channel=self.channel,
                    thread_ts=self.thread_ts or None,
                    text=message.text,
                    blocks=message.blocks or None,
                    metadata=self._metadata(),
                )
                ts = posted["ts"]
            self.posted.append((ts, message))
        return self.posted

    async def say(self, text: str) -> None:
        """A plain (already escaped) message, replacing the placeholder if it is still there."""
        await self.deliver([SlackMessage(text=text, blocks=text_blocks(text))])

    async def upload(self, attachments: Sequence[Attachment]) -> None:
        for attachment in attachments:
            await self.client.files_upload_v2(
                channel=self.channel,
                thread_ts=self.thread_ts or None,
                file=attachment.content,
                filename=attachment.filename,
                title=attachment.title,
            )


@dataclass(frozen=True)
class ButtonPress:
    """One press of one of our buttons: who pressed it, on which message, and what the button carries."""

    client: AsyncWebClient
    clicker: str
    channel: str
    message_ts: str
    action_id: str
    value: str

    @classmethod
    def of(cls, body: dict[str, Any], client: AsyncWebClient) -> ButtonPress:
        container = body.get("container") or {}
        action = (body.get("actions") or [{}])[0]
        return cls(
            client=client,
            clicker=str(body["user"]["id"]),
            channel=str(container.get("channel_id") or (body.get("channel") or {}).get("id") or ""),
            message_ts=str(container.get("message_ts") or ""),
            action_id=str(action.get("action_id") or ""),
            value=str(action.get("value") or ""),
        )

    async def tell(self, text: str) -> None:
        """A note only the person who pressed sees."""
        await post_ephemeral(self.client, channel=self.channel, user=self.clicker, text=text)


async def post_note(client: AsyncWebClient, *, channel: str, thread_ts: str, text: str) -> None:
    """A short line in a channel's thread (where to find the answer); failures are logged, never raised."""
    try:
        await client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text)
    except SlackApiError as error:
        log.warning("could not post a note in a channel: %s", error.response.get("error"))


async def post_ephemeral(client: AsyncWebClient, *, channel: str, user: str, text: str) -> None:
    """A note only `user` sees; failures are logged, never raised (the note is a courtesy)."""
    try:
        await client.chat_postEphemeral(channel=channel, user=user, text=text)
    except SlackApiError as error:
        log.warning("could not post an ephemeral note: %s", error.response.get("error"))
