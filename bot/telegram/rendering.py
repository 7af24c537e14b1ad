"""Telegram HTML for replies and itinerary cards, split into messages Telegram accepts (≤ 4096 chars)."""

from __future__ import annotations

import html
import re

import telegramify_markdown
from telegram import MessageEntity

from agent.cards import money_text
from agent.replies import AgentReply, ConfirmationRequest, ItineraryCard

MESSAGE_LIMIT = 4096
TOAST_LIMIT = 200  # characters of a callback query's notification or alert
_TOKENS = re.compile(r"\S+|\s+")
_BRACKET = re.compile(r"<(?!https?://)")


def escape(text: str) -> str:
    """Text as Telegram HTML: only <, > and & are special outside attributes."""
    return html.escape(text, quote=False)


def bold(text: str) -> str:
    return f"<b>{escape(text)}</b>"


def italic(text: str) -> str:
    return f"<i>{escape(text)}</i>"


def toast(text: str) -> str:
    """A press's notification as Telegram accepts it (200 characters at most): a longer one is cut at a word,
    with an ellipsis, for the message it answers says it in full."""
    if len(text) <= TOAST_LIMIT:
        return text
    return text[: TOAST_LIMIT - 1].rsplit(" ", 1)[0] + "…"


def mention(name: str, telegram_user_id: int) -> str:
    """A link that notifies the user; needed for a selective ForceReply in groups."""
    return f'<a href="tg://user?id={int(telegram_user_id)}">{escape(name)}</a>'


def text_lines(text: str) -> list[str]:
    """Plain text as escaped lines; every line is valid HTML on its own."""
    return [escape(line) for line in text.split("\n")] if text else []


def card_lines(card: ItineraryCard) -> list[str]:
    """An itinerary card as HTML lines: title, one line per item with its policy verdict, the total."""
    lines = [f"🧳 {bold(card.title)} {italic(f'({card.status})')}"]
    for day in card.days:
        lines.append(italic(f"Day {day.day_number} · {day.date:%a %d %b}"))
        for item in day.items:
            cost = f" — {item.cost:,.2f} {item.currency}" if item.cost is not None else ""
            line = f"• {escape(item.kind)}: {escape(item.description)}{escape(cost)}"
            if item.violations:
                line += f"\n   ⚠️ {italic('out of policy: ' + '; '.join(item.violations))}"
            lines.append(line)
    lines.append(f"{bold('Estimated total:')} {escape(money_text(card.totals))}")
    return lines


def confirmation_lines(request: ConfirmationRequest) -> list[str]:
    lines = card_lines(request.card)
    if request.violations:
        lines.append("")
        lines.append(bold("Out of policy:"))
        lines += [f"• {escape(violation)}" for violation in request.violations]
        if request.needs_justification:
            lines.append(italic("Confirming asks you for a short justification."))
        elif request.needs_approval or request.approved_later:
            lines.append(italic(request.approval_note))
    lines.append("")
    lines.append(bold("Send this trip for approval?" if request.needs_approval else "Book this trip?"))
    return lines


def decided_lines(card: ItineraryCard | None, outcome: str) -> list[str]:
    """A request after its decision: the trip as it is now and who decided what, instead of the question."""
    return [*(card_lines(card) if card is not None else []), "", bold(outcome)]


def model_messages(markdown: str, limit: int = MESSAGE_LIMIT) -> list[tuple[str, list[MessageEntity]]]:
    """The model's Markdown as Telegram text with entities (telegramify-markdown), cut into messages of at most
    `limit` UTF-16 units with every entity inside its message. Angle brackets stay text ("Hotel <Mitte>")."""
    kept = _BRACKET.sub(r"\\<", markdown)
    plain, entities = telegramify_markdown.convert(kept)
    return [
        (
            text,
            [
                MessageEntity(type=e.type, offset=e.offset, length=e.length, url=e.url, language=e.language)
                for e in chunk
            ],
        )
        for text, chunk in telegramify_markdown.split_entities(plain, entities, limit)
        if text.strip()
    ]


def reply_lines(reply: AgentReply) -> list[str]:
    """Everything of a reply that is HTML text: its message (unless it is the model's Markdown, sent with
    entities), then its cards (the confirmation goes separately)."""
    # A confirmation message says it all ("Book this trip?"), so the turn's text is left out then.
    lines = text_lines(reply.text) if reply.confirmation is None and not reply.markdown else []
    for card in reply.cards:
        if reply.confirmation is not None and card.itinerary_id == reply.confirmation.itinerary_id:
            continue  # the confirmation message shows this card with its buttons
        lines += ["", *card_lines(card)] if lines else card_lines(card)
    return lines


def _split_long_line(line: str, limit: int) -> list[str]:
    """An over-long escaped line cut at whitespace (or inside a word), never inside an entity."""
    raw = html.unescape(line)
    pieces: list[str] = []
    current = ""
    for token in _TOKENS.findall(raw):
        escaped = escape(token)
        if len(current) + len(escaped) <= limit:
            current += escaped
            continue
        if current:
            pieces.append(current)
            current = ""
        if token.isspace():
            continue
        for char in token:
            escaped_char = escape(char)
            if len(current) + len(escaped_char) > limit:
                pieces.append(current)
                current = ""
            current += escaped_char
    if current:
        pieces.append(current)
    return pieces


def pack_messages(lines: list[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Join HTML lines into as few messages as fit, breaking only between lines.

    Each line must be balanced HTML; a line that alone exceeds the limit must be plain escaped text
    (model answers are), and is cut at whitespace.
    """
    messages: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        parts = [line] if len(line) <= limit else _split_long_line(line, limit)
        for part in parts:
            added = len(part) + (1 if current else 0)
            if current and size + added > limit:
                messages.append("\n".join(current))
                current, size = [], 0
                added = len(part)
            current.append(part)
            size += added
    if current:
        messages.append("\n".join(current))
    return [message for message in messages if message.strip()]
