"""One line of migrations from here on: the five branches that grew from the foundation meet.

Revision ID: 0009_single_line
Revises: 0007_reminder_batches, 0003_spend, 0004_slack, 0008_conversation_checkpoints, 0006_maintenance

Every later migration follows this one, so `alembic heads` names a single revision and an install is
upgraded by one ordered walk.
"""

revision = "0009_single_line"
down_revision = (
    "0007_reminder_batches",
    "0003_spend",
    "0004_slack",
    "0008_conversation_checkpoints",
    "0006_maintenance",
)
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing changes in the database; the revision only joins the branches."""


def downgrade() -> None:
    """Splitting the line again changes nothing in the database either."""
