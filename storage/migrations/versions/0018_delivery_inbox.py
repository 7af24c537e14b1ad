"""An acknowledged Slack delivery keeps its request for a few minutes, so that another replica can re-run it.

Revision ID: 0018_delivery_inbox
Revises: 0017_slack_deliveries

Slack resends only what it got no 200 for. A replica that acknowledged an event and was then killed mid-turn
left a claim that lapses, but no redelivery ever came: the traveller's message was lost. Now the claim keeps
the request itself (`request`: raw body and the signature headers, sealed with TRAVELMATE_ENCRYPTION_KEY when
one is set) from `request_at`, and every serve process re-dispatches lapsed, unhandled requests through its
own Bolt app. The request is cleared once the delivery is handled or released, and in any case once it is
older than Slack's signature window (5 minutes), so the table holds the traveller's words only that long.
"""

from alembic import op

revision = "0018_delivery_inbox"
down_revision = "0017_slack_deliveries"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE processed_events
            ADD COLUMN request BYTEA,
            ADD COLUMN request_at TIMESTAMPTZ
        """
    )
    # The sweepers look only at deliveries that still hold a request; they are few and recent.
    op.execute(
        "CREATE INDEX processed_events_requests ON processed_events (request_at) WHERE request IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS processed_events_requests")
    op.execute(
        """
        ALTER TABLE processed_events
            DROP COLUMN IF EXISTS request_at,
            DROP COLUMN IF EXISTS request
        """
    )
