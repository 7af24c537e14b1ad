"""Whether a Telegram update speaks to the bot: private chats always; groups by mention, reply or command."""

from __future__ import annotations

import re

from telegram import Bot, Message, MessageEntity, Update
from telegram.constants import ChatType


def is_private(message: Message) -> bool:
    return message.chat.type == ChatType.PRIVATE


def mentions_bot(message: Message, bot: Bot) -> bool:
    username = f"@{bot.username}".lower() if bot.username else None
    for entity, value in message.parse_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION]).items():
        if entity.type == MessageEntity.TEXT_MENTION and entity.user and entity.user.id == bot.id:
            return True
        if username and value.lower() == username:
            return True
    return False


def replies_to_bot(message: Message, bot: Bot) -> bool:
    replied = message.reply_to_message
    return bool(replied and replied.from_user and replied.from_user.id == bot.id)


def command_for_bot(message: Message, bot: Bot) -> bool:
    """A command meant for this bot: `/cmd` (private, or any bot in a group) or `/cmd@ourbot`."""
    text = message.text or ""
    if not text.startswith("/"):
        return False
    name = text.split(maxsplit=1)[0]
    if "@" not in name:
        return True
    return bool(bot.username) and name.split("@", 1)[1].lower() == str(bot.username).lower()


def addresses_bot(update: Update, bot: Bot) -> bool:
    """Whether the bot should answer this update at all (it stays silent in group chatter)."""
    if update.callback_query is not None:
        return True
    message = update.effective_message
    if message is None:
        return False
    if is_private(message):
        return True
    return command_for_bot(message, bot) or mentions_bot(message, bot) or replies_to_bot(message, bot)


def without_mention(message: Message, bot: Bot) -> str:
    """The message text with the bot's @username taken out, as the traveller meant it."""
    text = message.text or ""
    if bot.username:
        text = re.sub(rf"@{re.escape(bot.username)}\b", " ", text, flags=re.IGNORECASE)
    return re.sub(r"[ \t]{2,}", " ", text).strip()
