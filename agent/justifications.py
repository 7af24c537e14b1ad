"""A traveller's justification for an out-of-policy trip, typed as a chat reply in any channel."""

from __future__ import annotations

from agent.tools import Decision

JUSTIFICATION_LIMIT = 1000
DECLINE = frozenset({"cancel", "/cancel", "no", "stop"})
ASK_AGAIN = f"Please reply with a justification of 1 to {JUSTIFICATION_LIMIT:,} characters, or reply cancel."


def justification_decision(text: str) -> Decision | None:
    """The answer a reply gives: a decline, a justification to book with, or None when it is empty or too long."""
    if not text.strip() or len(text) > JUSTIFICATION_LIMIT:
        return None
    if text.strip().lower() in DECLINE:
        return Decision(approved=False)
    return Decision(approved=True, justification=text.strip())
