"""Block Kit rendering with slack_sdk's block models: itineraries day by day, confirmation and approval buttons,
outcomes, long text.

Every piece of text that a person or the model wrote is escaped (&, <, >), so it cannot mention
anyone, link anywhere or break out of its section. Slack's limits are respected: 3,000 characters
a section, 150 a header, 2,000 a button value, 50 blocks a message.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from agent.cards import money_text
from agent.replies import AgentReply, CardDay, ConfirmationRequest, ItineraryCard

Block = dict[str, Any]

SECTION_LIMIT = 2900  # below Slack's 3,000 so that our own markup always fits
MARKDOWN_LIMIT = 11900  # below the markdown block's 12,000
BLOCKS_PER_MESSAGE = 45  # below Slack's 50
FALLBACK_LIMIT = 3000
MANY_DAYS = 20

CONFIRM, CANCEL = "travel_confirm", "travel_cancel"
# Approve / Reject of requests that admins were sent before trips went to the approval chain: answered as stale.
APPROVE, REJECT = "travel_approve", "travel_reject"

ASK_REASON = "Reply in this thread with a short justification to book it, or press Cancel."

_KIND_ICONS = {
    "flight": ":airplane:",
    "hotel": ":hotel:",
    "train": ":train:",
    "car": ":car:",
    "meeting": ":calendar:",
    "ground": ":taxi:",
}
_SLACK_ID = re.compile(r"^[A-Z0-9]{2,32}$")


@dataclass(frozen=True)
class SlackMessage:
    """One chat.postMessage / chat.update worth of content."""

    text: str
    blocks: list[Block] = field(default_factory=list)
    carries_buttons: bool = False


def escape(text: str) -> str:
    """Slack's control characters escaped: no mentions, links or markup injected through `text`."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def model_text(text: str) -> str:
    """The model's Markdown as Slack mrkdwn, escaped."""
    return re.sub(r"\*\*(.+?)\*\*", r"*\1*", escape(text))


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Pieces of at most `limit` characters, cut at paragraph, line or word boundaries when possible."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"))
        if cut < limit // 2:
            cut = window.rfind(" ")
        if cut < limit // 2:
            cut = limit
        # Never cut inside an escape such as &amp;.
        amp = window.rfind("&", 0, cut)
        if amp != -1 and ";" not in window[amp:cut]:
            cut = amp or cut
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def mrkdwn(text: str) -> Block:
    return SectionBlock(text=MarkdownTextObject(text=text)).to_dict()


def markdown_blocks(markdown: str) -> list[Block]:
    """The model's Markdown as markdown blocks, which Slack renders itself (bold, code, links, lists).

    Escaped first, so it can mention no one; CommonMark shows the entities as the characters they stand for.
    """
    return [MarkdownBlock(text=piece).to_dict() for piece in split_text(escape(markdown), MARKDOWN_LIMIT)]


def text_blocks(text: str) -> list[Block]:
    """Already escaped mrkdwn as sections within the size limit."""
    return [mrkdwn(piece) for piece in split_text(text)]


def context_block(text: str) -> Block:
    return ContextBlock(elements=[MarkdownTextObject(text=text[:2000])]).to_dict()


def slack_date(moment: dt.datetime) -> str:
    """A time each reader sees in their own time zone."""
    fallback = moment.astimezone(dt.UTC).strftime("%d %b %Y %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def mention(slack_user: str) -> str:
    """A mention of a Slack user id we verified; anything else is shown escaped."""
    return f"<@{slack_user}>" if _SLACK_ID.fullmatch(slack_user) else escape(slack_user)


# -- itineraries ---------------------------------------------------------------------------------


def _item_line(kind: str, description: str, cost: str, violations: tuple[str, ...]) -> str:
    icon = ":warning:" if violations else _KIND_ICONS.get(kind, ":round_pushpin:")
    line = f"{icon} *{escape(kind.capitalize())}* {escape(description)}{cost}"
    for reason in violations:
        line += f"\n        _Out of policy: {escape(reason)}_"
    return line


def _day_text(day: CardDay) -> str:
    lines = [f"*Day {day.day_number} · {day.date:%a %d %b}*"]
    for item in day.items:
        cost = f" — {item.cost:,.2f} {escape(item.currency or '')}" if item.cost is not None else ""
        lines.append(_item_line(item.kind, item.description, cost, item.violations))
    if not day.items:
        lines.append("_Nothing planned yet._")
    return "\n".join(lines)


def itinerary_blocks(card: ItineraryCard) -> list[Block]:
    """The card day by day, with costs, policy flags and the estimated total."""
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=card.title[:150], emoji=True)).to_dict(),
        context_block(f"{escape(card.status.capitalize())} itinerary · `{card.itinerary_id}`"),
    ]
    day_texts = [_day_text(day) for day in card.days]
    if len(day_texts) > MANY_DAYS:
        day_texts = split_text("\n\n".join(day_texts))
    for day_text in day_texts:
        blocks += text_blocks(day_text)
    total = f"*Estimated total:* {escape(money_text(card.totals))}"
    if card.violations:
        total += f"\n:warning: {len(card.violations)} out of policy"
    blocks.append(mrkdwn(total))
    return blocks


def _button(text: str, action_id: str, value: dict[str, str], style: str | None = None) -> ButtonElement:
    return ButtonElement(
        text=text, action_id=action_id, value=json.dumps(value, separators=(",", ":")), style=style
    )


def _actions(*buttons: ButtonElement) -> Block:
    return ActionsBlock(elements=list(buttons)).to_dict()


def button_value(raw: str) -> dict[str, str]:
    """The value of one of our buttons; anything else is refused."""
    try:
        value = json.loads(raw)
        uuid.UUID(value["i"])
        if not isinstance(value.get("c"), str):
            raise ValueError("conversation missing")
    except (ValueError, KeyError, TypeError):
        raise ValueError("not a TravelMate button") from None
    return {str(key): str(item) for key, item in value.items()}


def confirmation_blocks(request: ConfirmationRequest, *, conversation: str) -> list[Block]:
    """The request with Confirm / Cancel; out of policy, what the company's policy asks of the traveller."""
    blocks = itinerary_blocks(request.card)
    value = {"i": str(request.itinerary_id), "c": conversation}
    if request.violations:
        reasons = "\n".join(f"• {escape(reason)}" for reason in request.violations)
        blocks += text_blocks(f":warning: *This trip is out of policy:*\n{reasons}")
    stopped = {
        "justify": ASK_REASON,
        "block": "This trip cannot be booked under your company's travel policy.",
    }
    if request.needs_approval:
        blocks.append(context_block(request.approval_note))
        blocks.append(
            _actions(
                _button("Send for approval", CONFIRM, value, "primary"),
                _button("Cancel", CANCEL, value, "danger"),
            )
        )
    elif request.needs_justification or (request.violations and request.action == "block"):
        blocks.append(context_block(stopped[str(request.action)]))  # what the traveller does next
        blocks.append(_actions(_button("Cancel request", CANCEL, value, "danger")))
    else:
        if request.approved_later:
            blocks.append(context_block(request.approval_note))
        blocks.append(
            _actions(
                _button("Confirm booking", CONFIRM, value, "primary"),
                _button("Cancel", CANCEL, value, "danger"),
            )
        )
    return blocks


def decided_blocks(card: ItineraryCard | None, outcome: str) -> list[Block]:
    """A request after its decision: the trip as it is now, and the outcome instead of any button."""
    blocks = itinerary_blocks(card) if card is not None else []
    return [*blocks, context_block(outcome)]


# -- whole replies -------------------------------------------------------------------------------


def _fallback(text: str) -> str:
    return text if len(text) <= FALLBACK_LIMIT else text[: FALLBACK_LIMIT - 1] + "…"


def _chunked(blocks: list[Block], text: str, *, carries_buttons: bool = False) -> list[SlackMessage]:
    chunks = [blocks[i : i + BLOCKS_PER_MESSAGE] for i in range(0, len(blocks), BLOCKS_PER_MESSAGE)] or [[]]
    return [
        SlackMessage(
            text=_fallback(text), blocks=chunk, carries_buttons=carries_buttons and index == len(chunks) - 1
        )
        for index, chunk in enumerate(chunks)
    ]


def _asked_of_traveller(request: ConfirmationRequest) -> str:
    """The request's notification text: what the traveller is asked to do."""
    if request.needs_approval:
        return "Send this trip for approval?"
    if request.needs_justification:
        return "This booking needs a justification."
    if request.violations and request.action == "block":
        return "This trip cannot be booked under your company's travel policy."
    return "Please confirm this booking."


def reply_messages(reply: AgentReply, *, conversation: str) -> list[SlackMessage]:
    """An agent reply as Slack messages: its text, its cards, then the confirmation with its buttons last."""
    messages: list[SlackMessage] = []
    text = model_text(reply.text)
    blocks: list[Block] = []
    if reply.text.strip() and reply.confirmation is None:
        blocks = markdown_blocks(reply.text) if reply.markdown else text_blocks(text)
    shown = {reply.confirmation.itinerary_id} if reply.confirmation else set()
    for card in reply.cards:
        if card.itinerary_id not in shown:
            blocks += itinerary_blocks(card)
            shown.add(card.itinerary_id)
    if blocks:
        messages += _chunked(blocks, text)
    if reply.confirmation is not None:
        request = reply.confirmation
        messages += _chunked(
            confirmation_blocks(request, conversation=conversation),
            f"{_asked_of_traveller(request)} {escape(request.card.title)}",
            carries_buttons=True,
        )
    return messages or [SlackMessage(text=_fallback(text), blocks=text_blocks(text or "Done."))]
