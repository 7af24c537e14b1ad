"""The declarative base and the foreign keys every product table shares."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import (
    ForeignKeyConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase

NEW_UUID = text("gen_random_uuid()")
NOW = text("CURRENT_TIMESTAMP")


def of_tenant() -> ForeignKeyConstraint:
    """A product table's row goes with its tenant."""
    return ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE")


def of_user() -> ForeignKeyConstraint:
    """A product table's row goes with its user (an erasure removes it in the same transaction)."""
    return ForeignKeyConstraint(
        ["tenant_id", "user_id"],
        ["users.tenant_users.tenant_id", "users.tenant_users.user_id"],
        ondelete="CASCADE",
    )


def of_itinerary() -> ForeignKeyConstraint:
    """A side row of a trip goes with it (erasure and tenant deletion remove trips)."""
    return ForeignKeyConstraint(
        ["tenant_id", "itinerary_id"],
        ["itineraries.tenant_id", "itineraries.itinerary_id"],
        ondelete="CASCADE",
    )


class Base(DeclarativeBase):
    """Declarative base of every table."""

    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy's documented hook
        uuid.UUID: UUID(as_uuid=True),
        dict[str, Any]: JSONB,
        list[Any]: JSONB,
    }
