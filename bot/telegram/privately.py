"""Personal answers asked for in a group go to the traveller's private chat; the group gets a short note.

Trips, bookings, spend, preferences and the agent's answers (which use the asker's trips and preferences) are
never posted in a group. Only /help is answered where it was asked.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.constants import ChatAction, ParseMode
from telegram.error import Forbidden

from bot.telegram.addressing import is_private
from bot.telegram.delivery import ChatTarget
from bot.telegram.rendering import escape

log = logging.getLogger(__name__)

SHARED_COMMANDS = frozenset({"help"})


def command_name(text: str) -> str:
    """`/trips@TravelMateBot next` → "trips"."""
    return text.split(maxsplit=1)[0].lstrip("/").split("@", 1)[0].lower() if text.strip() else ""


def answered_privately(message: Message, *, command: str | None = None) -> bool:
    """Whether this group message is answered in the sender's private chat (always, but for /help)."""
    if is_private(message):
        return False
    return command is None or command not in SHARED_COMMANDS


def _private_link(bot: Bot) -> str | None:
    return f"https://t.me/{bot.username}" if bot.username else None


async def note_in_group(bot: Bot, message: Message, *, delivered: bool) -> None:
    """One short line in the group, with a button that opens the private chat; never the answer itself."""
    person = escape(message.from_user.first_name if message.from_user else "")
    link = _private_link(bot)
    if delivered:
        text = f"{person}, I answered you in our private chat."
    else:
        text = (
            f"{person}, I answer personal questions in a private chat only. Open it with the button "
            "(or search for me), press Start, and ask there."
        )
    await bot.send_message(
        message.chat.id,
        text,
        parse_mode=ParseMode.HTML,
        message_thread_id=message.message_thread_id if message.is_topic_message else None,
        reply_parameters=ChatTarget.of(message).reply_parameters(),
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("Open private chat", url=link)]])
        if link
        else None,
    )


async def in_private_chat(
    bot: Bot, message: Message, answer: Callable[[ChatTarget], Awaitable[None]]
) -> None:
    """Run `answer` towards the sender's private chat, then note it in the group. A person who never
    started the bot cannot be written to (Telegram answers 403): nothing is run, the note says how."""
    assert message.from_user is not None
    private = ChatTarget(message.from_user.id)
    try:
        await bot.send_chat_action(private.chat_id, ChatAction.TYPING)
    except Forbidden as error:
        log.info("a group member has no private chat with the bot: %s", error)
        await note_in_group(bot, message, delivered=False)
        return
    await answer(private)
    await note_in_group(bot, message, delivered=True)
