"""Reminder delivery in two plan-cached functions: the claim, and the recorded outcome (with the console outbox).

Revision ID: 0002b_reminder_claims
Revises: 0002_reminders

Both run as the caller (SECURITY INVOKER), so row-level security applies exactly as to the statements they
replace. PL/pgSQL keeps their plans per connection: the claim joins seven tables, and planning it on every
one of 100,000 reminders at 09:00 cost more than running it. Also allows the 'expired' outcome on databases
that applied an early 0002.
"""

from alembic import op

revision = "0002b_reminder_claims"
down_revision = "0002_reminders"
branch_labels = None
depends_on = None

# The facts a reminder needs, for the row(s) in `target`; shared by the claim and the preview.
FACTS = """
    facts AS (
        SELECT t.tenant_id, t.reminder_id, t.booking_id, t.reminder_date,
               b.itinerary_id, b.user_id, b.booking_type, b.status AS booking_status, b.booking_details,
               i.status AS itinerary_status, i.destinations, i.start_date, i.end_date,
               u.display_name, u.timezone, u.locale,
               coalesce(c.muted, false) AS muted, coalesce(d.attempts, 0) AS attempts,
               ident.channel, ident.workspace_id, ident.external_user_id, ident.chat_id
        FROM target t
        JOIN public.bookings b ON b.tenant_id = t.tenant_id AND b.booking_id = t.booking_id
        JOIN public.itineraries i ON i.tenant_id = b.tenant_id AND i.itinerary_id = b.itinerary_id
        JOIN users.tenant_users u ON u.tenant_id = b.tenant_id AND u.user_id = b.user_id
        LEFT JOIN public.trip_reminder_controls c
            ON c.tenant_id = i.tenant_id AND c.itinerary_id = i.itinerary_id
        LEFT JOIN public.reminder_deliveries d ON d.tenant_id = t.tenant_id AND d.reminder_id = t.reminder_id
        LEFT JOIN LATERAL (
            SELECT ci.channel, ci.workspace_id, ci.external_user_id, ci.chat_id
            FROM public.channel_identities ci
            WHERE ci.tenant_id = b.tenant_id AND ci.user_id = b.user_id AND ci.channel = ANY(p_channels)
            ORDER BY ci.linked_at DESC, ci.channel
            LIMIT 1
        ) ident ON true
    )
"""
COLUMNS = """
    f.reminder_id, f.booking_id, f.reminder_date, f.itinerary_id, f.user_id, f.booking_type,
    f.booking_status, f.booking_details, f.itinerary_status, f.destinations, f.start_date, f.end_date,
    f.display_name, f.timezone, f.locale, f.muted, f.attempts, f.channel, f.workspace_id,
    f.external_user_id, f.chat_id
"""
DUE = """
        SELECT r.tenant_id, r.reminder_id, r.booking_id, r.reminder_date
        FROM public.booking_reminders r
        WHERE r.tenant_id = p_tenant_id AND r.reminder_id = p_reminder_id
          AND NOT r.sent AND r.reminder_date <= p_now
"""

# What a claim returns per reminder, and how it runs.
RETURNS = """RETURNS TABLE (
    reminder_id uuid, booking_id uuid, reminder_date timestamp, itinerary_id uuid, user_id uuid,
    booking_type varchar, booking_status varchar, booking_details jsonb, itinerary_status varchar,
    destinations jsonb, start_date date, end_date date, display_name varchar, timezone varchar,
    locale varchar, muted boolean, attempts int, channel varchar, workspace_id varchar,
    external_user_id varchar, chat_id varchar
)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column"""

# p_claim: lock the due row (skipping it when another transaction holds it) and flip `sent`; with false
# it only reads the same facts, changing nothing.
FUNCTIONS = f"""
CREATE FUNCTION claim_reminder(
    p_tenant_id uuid, p_reminder_id uuid, p_now timestamp, p_channels text[], p_claim boolean
)
{RETURNS}
BEGIN
    IF p_claim THEN
        RETURN QUERY
        WITH target AS ({DUE} FOR UPDATE SKIP LOCKED), {FACTS}
        UPDATE public.booking_reminders r SET sent = true
        FROM facts f
        WHERE r.tenant_id = f.tenant_id AND r.reminder_id = f.reminder_id
        RETURNING {COLUMNS};
    ELSE
        RETURN QUERY
        WITH target AS ({DUE}), {FACTS}
        SELECT {COLUMNS} FROM facts f;
    END IF;
END
$$;

CREATE FUNCTION record_reminder_outcome(
    p_tenant_id uuid, p_reminder_id uuid, p_user_id uuid, p_outcome text, p_channel text, p_error text,
    p_body text
) RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_attempts int;
BEGIN
    IF p_body IS NOT NULL THEN
        INSERT INTO public.console_outbox (tenant_id, user_id, reminder_id, body)
        VALUES (p_tenant_id, p_user_id, p_reminder_id, p_body)
        ON CONFLICT DO NOTHING;
    END IF;
    INSERT INTO public.reminder_deliveries AS d
        (tenant_id, reminder_id, user_id, outcome, channel, attempts, last_error, updated_at, finished_at)
    SELECT p_tenant_id, p_reminder_id, p_user_id, p_outcome, p_channel, 1, p_error, clock_timestamp(),
           CASE WHEN p_outcome <> 'retrying' THEN clock_timestamp() END
    WHERE EXISTS (
        SELECT 1 FROM public.booking_reminders r WHERE r.tenant_id = p_tenant_id AND r.reminder_id = p_reminder_id
    )
    ON CONFLICT (tenant_id, reminder_id) DO UPDATE SET
        outcome = excluded.outcome, channel = excluded.channel, attempts = d.attempts + 1,
        last_error = excluded.last_error, updated_at = excluded.updated_at, finished_at = excluded.finished_at
    RETURNING d.attempts INTO v_attempts;
    RETURN coalesce(v_attempts, 0);
END
$$;
"""

OUTCOMES = """
ALTER TABLE reminder_deliveries DROP CONSTRAINT IF EXISTS reminder_deliveries_outcome_check;
ALTER TABLE reminder_deliveries ADD CONSTRAINT reminder_deliveries_outcome_check
    CHECK (outcome IN ('retrying', 'delivered', 'failed', 'muted', 'expired'));
"""


def upgrade() -> None:
    op.execute(OUTCOMES)
    op.execute("DROP FUNCTION IF EXISTS claim_reminder(uuid, uuid, timestamp, text[])")  # a draft signature
    op.execute(FUNCTIONS)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION IF EXISTS record_reminder_outcome(uuid, uuid, uuid, text, text, text, text), "
        "claim_reminder(uuid, uuid, timestamp, text[], boolean)"
    )
