"""What a turn gives back to a channel: text, itinerary cards, a confirmation request, attachments."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class CardItem:
    """One line of an itinerary card: what, when, how much, and the policy verdict."""

    kind: str
    description: str
    cost: Decimal | None
    currency: str | None
    violations: tuple[str, ...] = ()
    # The conversions behind the verdict ("≈ 231.40 GBP at the ECB rate of 2026-12-02") and compliant options.
    notes: tuple[str, ...] = ()
    alternatives: tuple[str, ...] = ()


@dataclass(frozen=True)
class CardDay:
    day_number: int
    date: dt.date
    items: tuple[CardItem, ...]


@dataclass(frozen=True)
class ItineraryCard:
    """An itinerary as every channel renders it (Block Kit, HTML, a rich table)."""

    itinerary_id: uuid.UUID
    status: str
    destinations: tuple[str, ...]
    start_date: dt.date
    end_date: dt.date
    days: tuple[CardDay, ...]
    totals: dict[str, Decimal]
    # The trip budget and the running total ("Trip budget 2,500.00 EUR; running total ≈ 2,710.40 EUR, …").
    budget_line: str | None = None
    # Reasons about the whole trip rather than one item (the budget, a rate that is missing).
    trip_violations: tuple[str, ...] = ()

    @property
    def violations(self) -> list[str]:
        return [v for day in self.days for item in day.items for v in item.violations] + list(
            self.trip_violations
        )

    @property
    def title(self) -> str:
        return f"{', '.join(self.destinations)}, {self.start_date:%d %b} – {self.end_date:%d %b %Y}"


@dataclass(frozen=True)
class ConfirmationRequest:
    """A booking waiting for an explicit yes or no; `requested_by` alone may answer it."""

    itinerary_id: uuid.UUID
    requested_by: uuid.UUID
    summary: str
    totals: dict[str, Decimal]
    violations: tuple[str, ...]
    card: ItineraryCard
    # What the company's policy asks: None in policy, else warn, justify, approve (by the chain) or block.
    action: str | None = "justify"
    # The company lets a trip that needs approval be booked now and approved afterwards.
    approve_later: bool = False
    # Who the approval chain asks, in order: the traveller's "manager", "finance" (above the threshold), or
    # an "admin" when neither applies.
    approvers: tuple[str, ...] = ()

    @property
    def needs_justification(self) -> bool:
        return bool(self.violations) and self.action == "justify"

    @property
    def needs_approval(self) -> bool:
        """The approval chain's yes is needed before booking (not when it may follow the booking)."""
        return bool(self.violations) and self.action == "approve" and not self.approve_later

    @property
    def approved_later(self) -> bool:
        """Booked at once when confirmed, its approval owed afterwards (the company allows that)."""
        return bool(self.violations) and self.action == "approve" and self.approve_later

    @property
    def approval_note(self) -> str:
        """What confirming a trip that needs approval does, in the traveller's words."""
        names = {
            "manager": "your manager",
            "finance": "your company's finance approvers",
            "admin": "an admin of your company",
        }
        asked = ", then ".join(names[step] for step in self.approvers) or names["admin"]
        if self.approved_later:
            return (
                f"Confirming books it now; {asked} approve it afterwards, a rejection cancels it, and you will "
                "be told each answer."
            )
        return f"It goes to {asked} for approval and is booked once approved; nothing is booked until then."


@dataclass(frozen=True)
class Attachment:
    """A file for the channel to send, such as a chart."""

    filename: str
    content: bytes
    title: str
    mime_type: str = "image/png"


@dataclass(frozen=True)
class DecisionOutcome:
    """What a decision on a booking request did, stated by the product from the booking's own result.

    Channels show it whatever the model says next, and edit the decided request to match.
    """

    itinerary_id: uuid.UUID
    booked: bool
    summary: str  # "Booked: 3 items, 1,240.00 EUR; reminders on 27 Nov and 3 Dec"
    held: bool = False  # sent to the approval chain; booked once its last approver says yes

    @property
    def verb(self) -> str:
        return "Booked" if self.booked else "Sent for approval" if self.held else "Cancelled"


@dataclass
class TurnOutput:
    """Collected during one turn by the tools, outside the checkpoint (cards and charts are not history)."""

    cards: list[ItineraryCard] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    outcomes: list[DecisionOutcome] = field(default_factory=list)


@dataclass(frozen=True)
class AgentReply:
    """The answer of one turn, in platform-neutral form."""

    text: str
    cards: tuple[ItineraryCard, ...] = ()
    confirmation: ConfirmationRequest | None = None
    attachments: tuple[Attachment, ...] = ()
    error_id: str | None = None
    # The itinerary whose open confirmation this turn let lapse (the traveller wrote instead of answering).
    lapsed: uuid.UUID | None = None
    # What the turn's decision did (booked or cancelled), from the booking itself, not the model's words.
    outcome: DecisionOutcome | None = None
    # The text is the model's Markdown (bold, code, links, lists), which channels render their own way;
    # otherwise it is the product's plain text.
    markdown: bool = False

    @classmethod
    def say(cls, text: str) -> AgentReply:
        return cls(text=text)
