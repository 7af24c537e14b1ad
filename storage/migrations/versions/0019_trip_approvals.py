"""A trip's approval chain gets a row of its own, so that a trip can be held for approval before booking.

Revision ID: 0019_trip_approvals
Revises: 0018_delivery_inbox

Until now the chain (manager, then finance above the threshold, then an admin once a step waited too long)
existed only for trips booked now and approved later, and its state was kept on each booking's verdict. A
trip whose rule says `approve` without "book now, approve later" has no bookings while it waits, so the
chain now lives in `trip_approvals`, one row per trip: `booked` says whether the trip was booked when asked
or is held as a draft until the last approval; `step` and `step_since` say who is asked since when;
`status` ends as approved, rejected or withdrawn (the traveller changed or cancelled the held draft).
`policy_verdicts.approval` stays as each booking's record of how its approval ended.
"""

from alembic import op

from storage.migrations.rls import isolate_by_tenant

revision = "0019_trip_approvals"
down_revision = "0018_delivery_inbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE trip_approvals (
            tenant_id UUID NOT NULL,
            itinerary_id UUID NOT NULL,
            booked BOOLEAN NOT NULL,
            status VARCHAR(20) NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'approved', 'rejected', 'withdrawn')),
            step VARCHAR(20) NOT NULL CHECK (step IN ('manager', 'finance', 'admin')),
            step_since TIMESTAMPTZ NOT NULL,
            reasons JSONB NOT NULL DEFAULT '[]'::jsonb,
            policy_version VARCHAR(64) NOT NULL,
            justification TEXT,
            decided_by UUID,
            requested_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            decided_at TIMESTAMPTZ,
            PRIMARY KEY (tenant_id, itinerary_id),
            FOREIGN KEY (tenant_id, itinerary_id) REFERENCES itineraries (tenant_id, itinerary_id)
                ON DELETE CASCADE
        )
        """
    )
    op.execute("CREATE INDEX trip_approvals_pending ON trip_approvals (tenant_id) WHERE status = 'pending'")
    isolate_by_tenant("trip_approvals")
    # Trips booked now whose approval is still owed move over with their step and its start.
    op.execute(
        """
        INSERT INTO trip_approvals (tenant_id, itinerary_id, booked, step, step_since, reasons, policy_version)
        SELECT b.tenant_id, b.itinerary_id, true, min(v.approval_step), min(coalesce(v.step_since, v.decided_at)),
               jsonb_agg(DISTINCT r.reason), min(v.policy_version)
        FROM policy_verdicts v
        JOIN bookings b ON b.tenant_id = v.tenant_id AND b.booking_id = v.booking_id
        LEFT JOIN LATERAL jsonb_array_elements(v.reasons) AS r(reason) ON true
        WHERE v.approval = 'pending' AND b.itinerary_id IS NOT NULL
        GROUP BY b.tenant_id, b.itinerary_id
        """
    )
    op.execute("UPDATE trip_approvals SET reasons = '[]'::jsonb WHERE reasons = '[null]'::jsonb")
    op.execute("DROP INDEX IF EXISTS policy_verdicts_pending")
    op.execute(
        "ALTER TABLE policy_verdicts DROP COLUMN approval_step, DROP COLUMN step_since"
    )


def downgrade() -> None:
    op.execute(
        """
        ALTER TABLE policy_verdicts
            ADD COLUMN approval_step VARCHAR(20) CHECK (approval_step IN ('manager', 'finance', 'admin')),
            ADD COLUMN step_since TIMESTAMPTZ
        """
    )
    op.execute(
        """
        UPDATE policy_verdicts v SET approval_step = a.step, step_since = a.step_since
        FROM bookings b JOIN trip_approvals a ON a.tenant_id = b.tenant_id AND a.itinerary_id = b.itinerary_id
        WHERE b.tenant_id = v.tenant_id AND b.booking_id = v.booking_id AND a.status = 'pending' AND a.booked
        """
    )
    op.execute(
        "CREATE INDEX policy_verdicts_pending ON policy_verdicts (tenant_id) WHERE approval = 'pending'"
    )
    op.execute("DROP TABLE IF EXISTS trip_approvals")
