"""Sending a turn's reply to a Telegram chat: HTML messages, charts as photos, a keyboard to confirm."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator

from telegram import Bot, InputFile, LinkPreviewOptions, Message, ReplyParameters
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError

from agent.cards import itinerary_card
from agent.replies import AgentReply, Attachment, ItineraryCard
from bot.telegram.keyboards import confirmation_keyboard
from bot.telegram.rendering import (
    confirmation_lines,
    decided_lines,
    escape,
    model_messages,
    pack_messages,
    reply_lines,
    text_lines,
)
from storage.database import Database
from storage.errors import NotFound
from storage.itineraries import get_itinerary
from storage.telegram_requests import close_requests, reopen_requests

log = logging.getLogger(__name__)

TYPING_EVERY = 4.0  # seconds; Telegram shows "typing…" for about five after each action
CAPTION_LIMIT = 1024
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


class ChatTarget:
    """Where replies go: the chat, its forum topic if any, and (in groups) the message answered."""

    def __init__(self, chat_id: int, *, thread_id: int | None = None, reply_to: int | None = None) -> None:
        self.chat_id = chat_id
        self.thread_id = thread_id
        self.reply_to = reply_to

    @classmethod
    def of(cls, message: Message) -> ChatTarget:
        in_group = message.chat.type != "private"
        return cls(
            message.chat.id,
            thread_id=message.message_thread_id if message.is_topic_message else None,
            reply_to=message.message_id if in_group else None,
        )

    def reply_parameters(self) -> ReplyParameters | None:
        if self.reply_to is None:
            return None
        return ReplyParameters(message_id=self.reply_to, allow_sending_without_reply=True)


async def send_html(bot: Bot, target: ChatTarget, lines: list[str]) -> list[Message]:
    """Send HTML lines as one or more messages (each within Telegram's 4096-character limit)."""
    sent = []
    for index, text in enumerate(pack_messages(lines)):
        sent.append(
            await bot.send_message(
                target.chat_id,
                text,
                parse_mode=ParseMode.HTML,
                message_thread_id=target.thread_id,
                reply_parameters=target.reply_parameters() if index == 0 else None,
                link_preview_options=_NO_PREVIEW,
            )
        )
    return sent


async def send_markdown(bot: Bot, target: ChatTarget, markdown: str) -> list[Message]:
    """The model's Markdown, rendered by Telegram from entities (no parse mode to get wrong)."""
    sent = []
    for index, (text, entities) in enumerate(model_messages(markdown)):
        sent.append(
            await bot.send_message(
                target.chat_id,
                text,
                entities=entities or None,
                message_thread_id=target.thread_id,
                reply_parameters=target.reply_parameters() if index == 0 else None,
                link_preview_options=_NO_PREVIEW,
            )
        )
    return sent


async def send_text(bot: Bot, target: ChatTarget, text: str) -> list[Message]:
    return await send_html(bot, target, text_lines(text))


async def send_attachment(bot: Bot, target: ChatTarget, attachment: Attachment) -> Message:
    upload = InputFile(attachment.content, filename=attachment.filename)
    caption = escape(attachment.title)[:CAPTION_LIMIT] or None
    if attachment.mime_type.startswith("image/"):
        return await bot.send_photo(
            target.chat_id,
            upload,
            caption=caption,
            parse_mode=ParseMode.HTML,
            message_thread_id=target.thread_id,
        )
    return await bot.send_document(
        target.chat_id, upload, caption=caption, parse_mode=ParseMode.HTML, message_thread_id=target.thread_id
    )


async def send_reply(
    bot: Bot, target: ChatTarget, reply: AgentReply, *, requester_telegram_id: int
) -> Message | None:
    """Render one AgentReply: the decision's outcome as the product states it (unless the text already
    does), text and cards, then attachments, then the confirmation with its buttons (returned)."""
    if reply.outcome is not None and reply.outcome.summary not in reply.text:
        await send_html(bot, target, text_lines(reply.outcome.summary))
    if reply.markdown and reply.confirmation is None:
        await send_markdown(bot, target, reply.text)
    await send_html(bot, target, reply_lines(reply))
    for attachment in reply.attachments:
        await send_attachment(bot, target, attachment)
    request = reply.confirmation
    if request is None:
        return None
    *leading, last = pack_messages(confirmation_lines(request))
    for text in leading:
        await send_html(bot, ChatTarget(target.chat_id, thread_id=target.thread_id), [text])
    return await bot.send_message(
        target.chat_id,
        last,
        parse_mode=ParseMode.HTML,
        message_thread_id=target.thread_id,
        reply_markup=confirmation_keyboard(
            request.itinerary_id, requester_telegram_id, for_approval=request.needs_approval
        ),
        link_preview_options=_NO_PREVIEW,
    )


async def settle_requests(
    db: Database,
    bot: Bot,
    *,
    tenant_id: uuid.UUID,
    itinerary_id: uuid.UUID,
    line: str,
    also: tuple[int, int] | None = None,
    purpose: str | None = None,
    only: tuple[int, int] | None = None,
) -> None:
    """Rewrite every live request message of the trip (the traveller's, or each approver's; of one `purpose`,
    or the `only` one, when given) and `also` to `line`, under the trip as it is now and without buttons; of two settlers only one
    rewrites a message."""
    async with db.tenant(tenant_id) as session:
        targets = set(await close_requests(session, itinerary_id=itinerary_id, purpose=purpose, only=only))
        try:
            card: ItineraryCard | None = itinerary_card(
                await get_itinerary(session, itinerary_id=itinerary_id)
            )
        except NotFound:
            card = None
    closed = set(targets)
    if also is not None:
        targets.add(also)
    (text, *_) = pack_messages(decided_lines(card, line)) or [escape(line)]
    unchanged = []
    for chat_id, message_id in sorted(targets):
        try:
            await bot.edit_message_text(
                text, chat_id=chat_id, message_id=message_id, parse_mode=ParseMode.HTML
            )
        except (
            BadRequest,
            Forbidden,
        ) as error:  # deleted, blocked, or already showing it: nothing to rewrite
            log.info("could not rewrite a request message: %s", error)
        except TelegramError as error:  # Telegram unreachable or limiting: it still shows its buttons
            log.warning("could not rewrite a request message: %s", type(error).__name__)
            if (chat_id, message_id) in closed:
                unchanged.append((chat_id, message_id))
    if unchanged:  # kept live, so that a later settle or a press closes it
        async with db.tenant(tenant_id) as session:
            await reopen_requests(session, unchanged)


@contextlib.asynccontextmanager
async def typing(bot: Bot, target: ChatTarget, *, after: float = 0.0) -> AsyncIterator[None]:
    """Show "typing…" while the work runs, repeated so that a long turn keeps showing it.

    With `after`, work that finishes sooner (most commands) costs no Bot API call at all.
    """

    async def keep_typing() -> None:
        await asyncio.sleep(after)
        while True:
            try:
                await bot.send_chat_action(
                    target.chat_id, ChatAction.TYPING, message_thread_id=target.thread_id
                )
            except TelegramError as error:  # cosmetic: a failed typing action must not fail the turn
                log.debug("typing action failed in chat %s: %s", target.chat_id, error)
            await asyncio.sleep(TYPING_EVERY)

    task = asyncio.create_task(keep_typing(), name=f"typing:{target.chat_id}")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
