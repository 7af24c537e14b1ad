"""Telegram request messages per itinerary, and presses of reminder buttons.

Revision ID: 0016_channel_idioms
Revises: 0015_policy_verdicts

When a request lapses (a new plan, another booking request) or is decided, each such message is rewritten
to say so, as Slack's are (`slack_request_messages`). The rows go with their itinerary.

`reminder_presses` records a press of a reminder's Snooze or Mute button per message, so that a second press
of the same button changes nothing. The rows go with their user.
"""

from alembic import op

from storage.migrations.rls import isolate_by_tenant

revision = "0016_channel_idioms"
down_revision = "0015_policy_verdicts"
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
    op.execute(
        """
        CREATE TABLE reminder_presses (
            tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
            message VARCHAR(200) NOT NULL,
            action VARCHAR(16) NOT NULL,
            user_id UUID NOT NULL,
            pressed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, message, action),
            FOREIGN KEY (tenant_id, user_id) REFERENCES users.tenant_users (tenant_id, user_id) ON DELETE CASCADE
        )
        """
    )
    isolate_by_tenant("reminder_presses")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS reminder_presses")
    op.execute("DROP TABLE IF EXISTS telegram_request_messages")
