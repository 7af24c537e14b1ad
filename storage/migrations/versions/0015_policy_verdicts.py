"""The policy verdict each booking was made under: status, reasons, rates, policy version, who decided.

Revision ID: 0015_policy_verdicts
Revises: 0014_spend_destinations

`bookings` keeps the specification's columns; the verdict computed at confirmation lives beside it, keyed by
the booking, and goes with it (ON DELETE CASCADE), so erasure and tenant deletion need nothing more.
`cap_difference` is what a hotel cost beyond (or, negative, under) cap × nights, in the cap's currency after
conversion at the rate of the verdict, so reports compare caps exactly as the verdict did. `approval` is
'pending' for a trip booked now and approved later (where the company allows it), then 'approved' or
'rejected' by its approvers: the traveller's manager (`users.tenant_users.manager_id`), then the finance
approvers above the company's threshold; `approval_step` and `step_since` say who is asked and since when,
so a step left unanswered past the company's timeout escalates to any admin.
"""

from alembic import op

from storage.migrations.rls import isolate_by_tenant

revision = "0015_policy_verdicts"
down_revision = "0014_spend_destinations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE policy_verdicts (
            tenant_id UUID NOT NULL,
            booking_id UUID NOT NULL,
            status VARCHAR(20) NOT NULL CHECK (status IN ('ok', 'violation')),
            reasons JSONB NOT NULL DEFAULT '[]'::jsonb,
            notes JSONB NOT NULL DEFAULT '[]'::jsonb,
            policy_version VARCHAR(64) NOT NULL,
            cap_currency VARCHAR(3),
            cap_difference NUMERIC(14, 3),
            justification TEXT,
            approved_by UUID,
            approval VARCHAR(20) CHECK (approval IN ('pending', 'approved', 'rejected')),
            approval_step VARCHAR(20) CHECK (approval_step IN ('manager', 'finance', 'admin')),
            step_since TIMESTAMPTZ,
            decided_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, booking_id),
            FOREIGN KEY (tenant_id, booking_id) REFERENCES bookings (tenant_id, booking_id) ON DELETE CASCADE
        )
        """
    )
    op.execute(
        "CREATE INDEX policy_verdicts_pending ON policy_verdicts (tenant_id) WHERE approval = 'pending'"
    )
    isolate_by_tenant("policy_verdicts")
    # Who approves a traveller's trips first; admins set it. Not a foreign key: erasure clears it instead.
    op.execute("ALTER TABLE users.tenant_users ADD COLUMN manager_id UUID")


def downgrade() -> None:
    op.execute("ALTER TABLE users.tenant_users DROP COLUMN IF EXISTS manager_id")
    op.execute("DROP TABLE IF EXISTS policy_verdicts")
