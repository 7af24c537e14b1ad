"""Telegram's flood control answer: how long a 429 (RetryAfter) asks to wait, in seconds.

The bot's own sends are paced and retried by PTB's AIORateLimiter (bot/telegram/mount.py); the reminder courier
reads the wait from here to schedule its retry.
"""

from __future__ import annotations

import datetime as dt
import logging
import warnings

from telegram.error import RetryAfter
from telegram.warnings import PTBDeprecationWarning

log = logging.getLogger(__name__)


def retry_seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():
        # PTB 22 announces that retry_after becomes a timedelta; both forms are read here.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)
