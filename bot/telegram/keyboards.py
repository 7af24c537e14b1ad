"""Inline keyboards: Confirm / Cancel buttons whose callback data names the trip and the requester."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Literal

from telegram import ForceReply, InlineKeyboardButton, InlineKeyboardMarkup

Answer = Literal["ok", "no"]
CALLBACK_PATTERN = r"^(ok|no):[0-9a-f]{32}:\d{1,20}$"
_CALLBACK = re.compile(CALLBACK_PATTERN)
CALLBACK_DATA_LIMIT = 64  # bytes, Telegram's limit


@dataclass(frozen=True)
class ConfirmationPress:
    """What a button says: yes or no, to which itinerary, asked by which Telegram user.

    The requester is a fast check on Telegram's verified `from.id`; the conversation service checks the
    tenant user again before anything is booked.
    """

    answer: Answer
    itinerary_id: uuid.UUID
    requester_telegram_id: int

    @property
    def approved(self) -> bool:
        return self.answer == "ok"

    def callback_data(self) -> str:
        data = f"{self.answer}:{self.itinerary_id.hex}:{self.requester_telegram_id}"
        if len(data.encode()) > CALLBACK_DATA_LIMIT:
            raise ValueError("callback data is longer than Telegram allows")
        return data

    @classmethod
    def parse(cls, data: str | None) -> ConfirmationPress | None:
        if not data or not _CALLBACK.fullmatch(data):
            return None
        answer, itinerary, requester = data.split(":")
        return cls("ok" if answer == "ok" else "no", uuid.UUID(hex=itinerary), int(requester))


def confirmation_keyboard(
    itinerary_id: uuid.UUID, requester_telegram_id: int, *, for_approval: bool = False
) -> InlineKeyboardMarkup:
    """Confirm / Cancel; a trip that needs approval first is sent for it by the same press."""
    confirm = ConfirmationPress("ok", itinerary_id, requester_telegram_id)
    cancel = ConfirmationPress("no", itinerary_id, requester_telegram_id)
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    "✅ Send for approval" if for_approval else "✅ Confirm",
                    callback_data=confirm.callback_data(),
                ),
                InlineKeyboardButton("✖️ Cancel", callback_data=cancel.callback_data()),
            ]
        ]
    )


def justification_prompt() -> ForceReply:
    """Opens the reply box for the traveller (selective: in groups only for the mentioned user)."""
    return ForceReply(selective=True, input_field_placeholder="Why is this trip needed?")
