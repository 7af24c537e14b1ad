"""The buttons under a trip's reminder (Snooze 1 day, Mute this trip, Show bookings), for Slack and Telegram."""

from __future__ import annotations

import re
import uuid
from typing import Any, Literal, cast

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, MarkdownTextObject, SectionBlock
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from agent.reminder_presses import ReminderAction

LABELS: dict[ReminderAction, str] = {
    "snooze": "Snooze 1 day",
    "mute": "Mute this trip",
    "show": "Show bookings",
}
SLACK_ACTION = re.compile(r"^reminder_(snooze|mute|show)$")
TELEGRAM_PATTERN = r"^rem:(snooze|mute|show):[0-9a-f]{32}$"
_TELEGRAM = re.compile(TELEGRAM_PATTERN)
SECTION_LIMIT = 2900


def _escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_reminder_blocks(text: str, trip: uuid.UUID) -> list[dict[str, Any]]:
    """The reminder's text and its three buttons, as Block Kit (slack_sdk's models validate the limits)."""
    blocks = [
        SectionBlock(text=MarkdownTextObject(text=_escaped(text)[:SECTION_LIMIT])),
        ActionsBlock(
            elements=[
                ButtonElement(text=label, action_id=f"reminder_{action}", value=str(trip))
                for action, label in LABELS.items()
            ]
        ),
    ]
    return [block.to_dict() for block in blocks]


def slack_press(action_id: str, value: str) -> tuple[ReminderAction, uuid.UUID] | None:
    found = SLACK_ACTION.fullmatch(action_id)
    try:
        return (cast(ReminderAction, found[1]), uuid.UUID(value)) if found else None
    except ValueError:
        return None


def telegram_reminder_keyboard(trip: uuid.UUID) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(label, callback_data=f"rem:{action}:{trip.hex}")]
            for action, label in LABELS.items()
        ]
    )


def telegram_press(data: str | None) -> tuple[ReminderAction, uuid.UUID] | None:
    if not data or not _TELEGRAM.fullmatch(data):
        return None
    _, action, trip = data.split(":")
    return cast(Literal["snooze", "mute", "show"], action), uuid.UUID(hex=trip)
