"""Spend analytics: indexes for the tenant-scoped period queries, tenant_id first.

Revision ID: 0003_spend
Revises: 0001

A trip belongs to a period by its start date. One traveller's trips are found with the foundation's
user_travel_history_user (tenant_id, user_id, start_date); these serve the tenant-wide questions:
- user_travel_history_period: a tenant's trips in a period, covering what the breakdowns read from history,
  so the scan is index-only and each trip then meets its analytics row by primary key;
- itineraries_period: a tenant's trips in a period for the policy comparison over their bookings, which
  then come through bookings_itinerary (tenant_id, itinerary_id).
"""

from alembic import op

revision = "0003_spend"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX user_travel_history_period ON user_travel_history (tenant_id, start_date) "
        "INCLUDE (user_id, trip_id, end_date, destination, total_spend)"
    )
    op.execute("CREATE INDEX itineraries_period ON itineraries (tenant_id, start_date)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS itineraries_period")
    op.execute("DROP INDEX IF EXISTS user_travel_history_period")
