"""A platform delivery has a state: received (claimed by one process, until when) and then handled.

Revision ID: 0017_slack_deliveries
Revises: 0016_channel_idioms

Until now a Slack event id was recorded as processed when it arrived, before anything was done for it. A
`serve` replica killed between that moment and its answer left the id behind, and Slack's redelivery of the
event was then dropped as a repeat: the traveller's message was lost. Now the row says who claimed the
delivery (`claimed_by`, one id per process) and until when (`claimed_until`, renewed while the work runs),
and `handled_at` is set only once the answer is out. A redelivery of a handled event is acknowledged and
ignored; of an event whose claim lapsed (its process died) it is handled again; while the claim is alive it
is acknowledged without a second answer. Rows written before this revision, and Telegram's update ids, have
no claim and count as handled. The table still holds no tenant data: ids of deliveries and of processes.
"""

from alembic import op

revision = "0017_slack_deliveries"
down_revision = "0016_channel_idioms"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE processed_events
            ADD COLUMN claimed_by UUID,
            ADD COLUMN claimed_until TIMESTAMPTZ,
            ADD COLUMN handled_at TIMESTAMPTZ
        """
    )
    # Only deliveries in progress are looked up by their process (renewing its claims); they are few.
    op.execute(
        "CREATE INDEX processed_events_in_progress ON processed_events (claimed_by) WHERE handled_at IS NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS processed_events_in_progress")
    op.execute(
        """
        ALTER TABLE processed_events
            DROP COLUMN IF EXISTS handled_at,
            DROP COLUMN IF EXISTS claimed_until,
            DROP COLUMN IF EXISTS claimed_by
        """
    )
