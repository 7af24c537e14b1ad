"""Telegram: the messages that carry live Confirm / Cancel buttons, per itinerary.

Revision ID: 0016_channel_idioms
Revises: 0012_serve_role

When a request lapses (a new plan, another booking request) or is decided, each such message is rewritten
to say so, as Slack's are (`slack_request_messages`). The rows go with their itinerary.
"""

from alembic import op

from storage.migrations.rls import isolate_by_tenant

revision = "0016_channel_idioms"
down_revision = "0012_serve_role"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE telegram_request_messages (
            tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
            chat_id BIGINT NOT NULL,
            message_id BIGINT NOT NULL,
            itinerary_id UUID NOT NULL,
            decided BOOLEAN NOT NULL DEFAULT false,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, chat_id, message_id),
            FOREIGN KEY (tenant_id, itinerary_id) REFERENCES itineraries (tenant_id, itinerary_id) ON DELETE CASCADE
        )
        """
    )
    op.execute(
        "CREATE INDEX telegram_request_messages_itinerary ON telegram_request_messages (tenant_id, itinerary_id)"
    )
    # The app role's grants come from the default privileges set in 0001.
    isolate_by_tenant("telegram_request_messages")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS telegram_request_messages")
