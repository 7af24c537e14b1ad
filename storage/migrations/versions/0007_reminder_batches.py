"""Reminders delivered in batches: one claim and one recorded outcome for many of a tenant's due reminders.

Revision ID: 0007_reminder_batches
Revises: 0002b_reminder_claims

At 09:00 a whole company falls due at once. Claiming and recording reminders one by one costs a job, a
transaction and two statements each, which at 100,000 reminders is minutes. `claim_due_reminders` locks
the named reminder (or returns nothing, as before) together with up to `p_limit - 1` more of the tenant's
due, unsent reminders that no other transaction holds; `record_reminder_outcomes` records all of their
outcomes (and console messages) in one statement each. The single-reminder functions they replace go.

Both run as the caller (SECURITY INVOKER), under row-level security, with their plans kept per connection.
"""

import importlib

from alembic import op

revision = "0007_reminder_batches"
down_revision = "0002b_reminder_claims"
branch_labels = None
depends_on = None

# The same facts of a reminder as the single claim (booking, trip, traveller, controls, channel account).
_claims = importlib.import_module("storage.migrations.versions.0002b_reminder_claims")

FUNCTIONS = f"""
CREATE FUNCTION claim_due_reminders(
    p_tenant_id uuid, p_reminder_id uuid, p_now timestamp, p_channels text[], p_limit int
)
{_claims.RETURNS}
BEGIN
    -- The named reminder first: when it is not due, already sent or held by another run, nothing happens.
    PERFORM 1 FROM public.booking_reminders r
    WHERE r.tenant_id = p_tenant_id AND r.reminder_id = p_reminder_id AND NOT r.sent AND r.reminder_date <= p_now
    FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    RETURN QUERY
    WITH target AS (
        SELECT r.tenant_id, r.reminder_id, r.booking_id, r.reminder_date
        FROM public.booking_reminders r
        WHERE r.tenant_id = p_tenant_id AND NOT r.sent AND r.reminder_date <= p_now
        ORDER BY r.reminder_id = p_reminder_id DESC, r.reminder_date, r.reminder_id
        LIMIT greatest(p_limit, 1)
        FOR UPDATE SKIP LOCKED
    ), {_claims.FACTS}
    UPDATE public.booking_reminders r SET sent = true
    FROM facts f
    WHERE r.tenant_id = f.tenant_id AND r.reminder_id = f.reminder_id
    RETURNING {_claims.COLUMNS};
END
$$;

CREATE FUNCTION record_reminder_outcomes(
    p_tenant_id uuid, p_reminder_ids uuid[], p_user_ids uuid[], p_outcomes text[], p_channels text[],
    p_errors text[], p_bodies text[]
)
RETURNS TABLE (reminder_id uuid, attempts int)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    INSERT INTO public.console_outbox (tenant_id, user_id, reminder_id, body)
    SELECT p_tenant_id, o.user_id, o.reminder_id, o.body
    FROM unnest(p_reminder_ids, p_user_ids, p_bodies) AS o(reminder_id, user_id, body)
    WHERE o.body IS NOT NULL
    ON CONFLICT DO NOTHING;
    RETURN QUERY
    INSERT INTO public.reminder_deliveries AS d
        (tenant_id, reminder_id, user_id, outcome, channel, attempts, last_error, updated_at, finished_at)
    SELECT p_tenant_id, o.reminder_id, o.user_id, o.outcome, o.channel, 1, o.error, clock_timestamp(),
           CASE WHEN o.outcome <> 'retrying' THEN clock_timestamp() END
    FROM unnest(p_reminder_ids, p_user_ids, p_outcomes, p_channels, p_errors)
        AS o(reminder_id, user_id, outcome, channel, error)
    WHERE EXISTS (
        SELECT 1 FROM public.booking_reminders r WHERE r.tenant_id = p_tenant_id AND r.reminder_id = o.reminder_id
    )
    ON CONFLICT (tenant_id, reminder_id) DO UPDATE SET
        outcome = excluded.outcome, channel = excluded.channel, attempts = d.attempts + 1,
        last_error = excluded.last_error, updated_at = excluded.updated_at, finished_at = excluded.finished_at
    RETURNING d.reminder_id, d.attempts;
END
$$;
"""

SINGLE = (
    "record_reminder_outcome(uuid, uuid, uuid, text, text, text, text), "
    "claim_reminder(uuid, uuid, timestamp, text[], boolean)"
)


def upgrade() -> None:
    # A tenant's due reminders, for the batch claim (the sweeper's index is by time across tenants).
    op.execute(
        "CREATE INDEX booking_reminders_tenant_due ON booking_reminders (tenant_id, reminder_date) WHERE NOT sent"
    )
    op.execute(FUNCTIONS)
    op.execute(f"DROP FUNCTION {SINGLE}")


def downgrade() -> None:
    op.execute(_claims.FUNCTIONS)
    op.execute(
        "DROP FUNCTION claim_due_reminders(uuid, uuid, timestamp, text[], int), "
        "record_reminder_outcomes(uuid, uuid[], uuid[], text[], text[], text[], text[])"
    )
    op.execute("DROP INDEX booking_reminders_tenant_due")
