"""A Telegram request message says what it asks: the traveller's confirmation or an approver's answer.

Revision ID: 0020_telegram_request_purpose
Revises: 0019_trip_approvals

Approval requests are recorded beside confirmations so that one answer rewrites every request of a step.
An approver's request whose trip no longer waits for approval (the traveller changed or cancelled the held
draft, or it was answered where this process could not rewrite it) is retired by the worker; `purpose` tells
those apart from a traveller's confirmation, which is live while its conversation waits. Existing rows were
all confirmations until approval requests were recorded, and approval ones are settled like them, so they
default to 'confirm'.
"""

from alembic import op

revision = "0020_telegram_request_purpose"
down_revision = "0019_trip_approvals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE telegram_request_messages "
        "ADD COLUMN purpose VARCHAR(16) NOT NULL DEFAULT 'confirm' CHECK (purpose IN ('confirm', 'approval'))"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE telegram_request_messages DROP COLUMN IF EXISTS purpose")
