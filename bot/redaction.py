"""Logging that cannot leak: every record of every library is redacted the moment it is made.

The redaction sits in the log-record factory, not in a handler or a logger filter: a filter on the root
logger never sees records that libraries log on their own loggers (they propagate to the root's handlers,
not through its filters), and uvicorn and other libraries bring handlers of their own. A record factory
runs once for every record that passes its logger's level, whichever logger and handler it goes to.

What is taken out:
- tokens by their shape: Slack (`xox?-`, `xapp-`), Telegram bot tokens, OpenAI keys, Fernet keys and
  Fernet-sealed values;
- the values of secret-bearing fields (`code`, `state`, `token`, `access_token`, `client_secret`, ...) in
  query strings, dict and JSON dumps and object reprs;
- message bodies (`text`, `caption`, ...) at every level, which is how python-telegram-bot and slack_sdk
  print updates and API payloads at DEBUG; and invite codes in `/start CODE`;
- every configured secret by its exact value (`remember_secret`);
- the query string of every uvicorn access line.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from storage.settings import Settings

REDACTED = "<redacted>"

_CREDENTIAL_FIELDS = (
    "code|state|token|access_token|refresh_token|bot_token|user_token|app_token|id_token|client_secret|"
    "signing_secret|secret|password|api_key|authorization|x-telegram-bot-api-secret-token|"
    "x-slack-signature|bot_access_token|incoming_webhook_url|url_private|webhook_url"
)
_BODY_FIELDS = "text|caption|fallback|message_text|title|pretext|value|initial_value|placeholder"
_QUOTED = r"""(?:'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*")"""

_PATTERNS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    # Tokens recognisable by their shape, wherever they appear.
    (re.compile(r"\bxox[a-z]-[A-Za-z0-9-]+"), REDACTED),
    (re.compile(r"\bxapp-[A-Za-z0-9-]+"), REDACTED),
    (re.compile(r"(?<![0-9])\d{5,}:[A-Za-z0-9_-]{30,}"), REDACTED),  # a Telegram bot token
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), REDACTED),
    (re.compile(r"\bgAAAAA[A-Za-z0-9_=-]{20,}"), REDACTED),  # a Fernet-sealed value
    (re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}=(?![A-Za-z0-9_=-])"), REDACTED),  # a Fernet key
    (re.compile(r"(?i)\bBearer\s+[^\s'\",}]+"), f"Bearer {REDACTED}"),
    (re.compile(r"(://[^/\s:@]+:)[^@\s/]+@"), lambda m: f"{m.group(1)}{REDACTED}@"),  # a URL's password
    # Quoted values of secret fields and bodies in dict, JSON and repr dumps: 'code': 'x', text='y'.
    (
        re.compile(rf"""(?i)(['"]?\b(?:{_CREDENTIAL_FIELDS}|{_BODY_FIELDS})\b['"]?\s*[:=]\s*){_QUOTED}"""),
        lambda m: f"{m.group(1)}'{REDACTED}'",
    ),
    # Unquoted values in query strings and form bodies: ?code=x&state=y, token=z.
    (
        re.compile(rf"(?i)([?&;\s]\b(?:{_CREDENTIAL_FIELDS}|{_BODY_FIELDS}|start)=)[^&\s'\",)]+"),
        lambda m: f"{m.group(1)}{REDACTED}",
    ),
    # Bolt's OAuth state cookie, in Set-Cookie and Cookie headers.
    (re.compile(r"(?i)(oauth[-_]state=)[^;&\s'\"]+"), lambda m: f"{m.group(1)}{REDACTED}"),
    # An invite code typed into Telegram: /start CODE.
    (re.compile(r"(/start\s+)\S+"), lambda m: f"{m.group(1)}{REDACTED}"),
)

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_MIN_SECRET = 6  # shorter values would redact ordinary words


def remember_secret(*values: str | None) -> None:
    """Redact these exact values (configured tokens, keys and secrets) from every later log record."""
    with _secrets_lock:
        for value in values:
            for part in (value or "").split(","):
                if len(part.strip()) >= _MIN_SECRET:
                    _secrets.add(part.strip())


def redact(message: str) -> str:
    """The message without secrets, codes or message bodies."""
    for secret in _secrets:
        if secret in message:
            message = message.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        message = pattern.sub(replacement, message)
    return message


def without_query(path: str) -> str:
    """A request path without its query string, which may carry OAuth codes and states."""
    return path.split("?", 1)[0]


def _redact_record(record: logging.LogRecord) -> None:
    if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) >= 3:
        # uvicorn's AccessFormatter unpacks these arguments itself, so they stay a tuple.
        args = list(record.args)
        args[2] = without_query(str(args[2]))
        record.args = tuple(args)
        return
    try:
        message = record.getMessage()
    except (TypeError, ValueError):  # a library's malformed format string: keep only its template
        message, record.args = str(record.msg), None
    cleaned = redact(message)
    if cleaned != message:
        record.msg, record.args = cleaned, None
    if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


_installed = False


def install_redaction(secrets: Iterable[str | None] = ()) -> None:
    """Redact every log record of every logger from now on (idempotent), including these secrets."""
    global _installed
    remember_secret(*secrets)
    if _installed:
        return
    make_record = logging.getLogRecordFactory()

    def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        _redact_record(record)
        return record

    logging.setLogRecordFactory(redacting_factory)
    _installed = True


def configure_logging(settings: Settings, *, verbose: bool = False) -> None:
    """The process's logging: LOG_LEVEL (or DEBUG), one line per record, redacted whatever the level."""
    secret_settings = (
        settings.openai_api_key,
        settings.slack_signing_secret,
        settings.slack_client_secret,
        settings.slack_bot_token,
        settings.slack_app_token,
        settings.telegram_bot_token,
        settings.telegram_webhook_secret,
        settings.encryption_key,
    )
    install_redaction(value.get_secret_value() for value in secret_settings if value is not None)
    logging.basicConfig(
        level=logging.DEBUG if verbose else settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


__all__ = [
    "REDACTED",
    "configure_logging",
    "install_redaction",
    "redact",
    "remember_secret",
    "without_query",
]
