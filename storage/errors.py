"""Typed domain errors; each carries one sentence a traveller or admin understands."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a user may see. `str(error)` is the user-facing sentence."""

    kind = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(DomainError):
    """The request cannot be carried out as asked: a wrong date, shape or amount."""

    kind = "invalid_input"


class NotFound(DomainError):
    """The thing asked for does not exist for this user (or is not theirs to see)."""

    kind = "not_found"


class Forbidden(DomainError):
    """The user's role does not allow this action."""

    kind = "forbidden"


class Conflict(DomainError):
    """The action clashes with the current state, e.g. booking a trip that is already confirmed."""

    kind = "conflict"


class PolicyViolation(DomainError):
    """A travel-policy rule blocks the action until it is justified or approved."""

    kind = "policy_violation"
