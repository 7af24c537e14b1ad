"""Slack: the messages that carry live Confirm/Cancel or Approve/Reject buttons, per itinerary.

Revision ID: 0004_slack
Revises: 0001

After a decision (or when a request lapses) every such message is updated, so no stale button stays live.
"""

from alembic import op

from storage.migrations.rls import isolate_by_tenant

revision = "0004_slack"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE slack_request_messages (
            tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
            channel_id VARCHAR(64) NOT NULL,
            message_ts VARCHAR(32) NOT NULL,
            itinerary_id UUID NOT NULL,
            purpose VARCHAR(16) NOT NULL,
            decided BOOLEAN NOT NULL DEFAULT false,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, channel_id, message_ts),
            FOREIGN KEY (tenant_id, itinerary_id) REFERENCES itineraries (tenant_id, itinerary_id) ON DELETE CASCADE,
            CHECK (purpose IN ('confirm', 'approval'))
        )
        """
    )
    op.execute(
        "CREATE INDEX slack_request_messages_itinerary ON slack_request_messages (tenant_id, itinerary_id)"
    )
    # The app role's grants come from the default privileges set in 0001.
    isolate_by_tenant("slack_request_messages")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS slack_request_messages")
