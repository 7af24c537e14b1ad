"""Reminder delivery: outcomes and attempts, the console outbox, per-trip snooze and mute, and the two
id-only functions the worker's crons use to find work across tenants.

Revision ID: 0002_reminders
Revises: 0001

booking_reminders stays the source of truth (its `sent` flips once, in the transaction that delivers);
these side tables say how each delivery went, hold console messages, and keep a traveller's per-trip choices.
"""

from alembic import op

from storage.migrations.rls import expose_function, isolate_by_tenant

revision = "0002_reminders"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = """
CREATE TABLE reminder_deliveries (
    tenant_id UUID NOT NULL,
    reminder_id UUID NOT NULL,
    user_id UUID NOT NULL,
    outcome VARCHAR(16) NOT NULL,
    channel VARCHAR(20),
    attempts INT NOT NULL DEFAULT 0,
    last_error VARCHAR(200),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ,
    PRIMARY KEY (tenant_id, reminder_id),
    FOREIGN KEY (tenant_id, reminder_id) REFERENCES booking_reminders (tenant_id, reminder_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users.tenant_users (tenant_id, user_id) ON DELETE CASCADE,
    CHECK (outcome IN ('retrying', 'delivered', 'failed', 'muted', 'expired')),
    CHECK (channel IN ('slack', 'telegram', 'console')),
    CHECK (attempts >= 0)
);

CREATE TABLE console_outbox (
    tenant_id UUID NOT NULL,
    message_id UUID NOT NULL DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL,
    reminder_id UUID,
    body TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    read_at TIMESTAMPTZ,
    PRIMARY KEY (tenant_id, message_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users.tenant_users (tenant_id, user_id) ON DELETE CASCADE
);
-- A reminder lands in the outbox at most once, whatever happens to the job that delivers it.
CREATE UNIQUE INDEX console_outbox_reminder ON console_outbox (tenant_id, reminder_id) WHERE reminder_id IS NOT NULL;
CREATE INDEX console_outbox_unread ON console_outbox (tenant_id, user_id, created_at) WHERE read_at IS NULL;

CREATE TABLE trip_reminder_controls (
    tenant_id UUID NOT NULL,
    itinerary_id UUID NOT NULL,
    muted BOOLEAN NOT NULL DEFAULT false,
    snoozed_until TIMESTAMP,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, itinerary_id),
    FOREIGN KEY (tenant_id, itinerary_id) REFERENCES itineraries (tenant_id, itinerary_id) ON DELETE CASCADE
);
"""

# The worker serves every tenant, but the application role sees one tenant per transaction. These two
# functions are its only cross-tenant reads: ids in pages (keyset on the primary key), never content.
FUNCTIONS = """
CREATE FUNCTION due_reminder_ids(p_now timestamp, p_after_tenant uuid, p_after_reminder uuid, p_limit int)
RETURNS TABLE (tenant_id uuid, reminder_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT r.tenant_id, r.reminder_id FROM public.booking_reminders r
    WHERE NOT r.sent AND r.reminder_date <= p_now
      AND (r.tenant_id, r.reminder_id) > (p_after_tenant, p_after_reminder)
    ORDER BY r.tenant_id, r.reminder_id
    LIMIT least(greatest(p_limit, 1), 10000)
$$;

CREATE FUNCTION ended_trip_ids(p_now timestamptz, p_after_tenant uuid, p_after_itinerary uuid, p_limit int)
RETURNS TABLE (tenant_id uuid, itinerary_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT i.tenant_id, i.itinerary_id FROM public.itineraries i
    JOIN users.tenant_users u ON u.tenant_id = i.tenant_id AND u.user_id = i.user_id
    WHERE i.status = 'confirmed'
      AND i.end_date < (p_now AT TIME ZONE u.timezone)::date
      AND NOT EXISTS (
          SELECT 1 FROM public.user_travel_history h
          WHERE h.tenant_id = i.tenant_id AND h.user_id = i.user_id AND h.trip_id = i.itinerary_id
      )
      AND (i.tenant_id, i.itinerary_id) > (p_after_tenant, p_after_itinerary)
    ORDER BY i.tenant_id, i.itinerary_id
    LIMIT least(greatest(p_limit, 1), 10000)
$$;
"""


def upgrade() -> None:
    op.execute(TABLES)
    # The app role's table grants come from the default privileges set in 0001.
    for table in ("reminder_deliveries", "console_outbox", "trip_reminder_controls"):
        isolate_by_tenant(table)
    op.execute(FUNCTIONS)
    expose_function("due_reminder_ids(timestamp, uuid, uuid, int)")
    expose_function("ended_trip_ids(timestamptz, uuid, uuid, int)")


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION IF EXISTS ended_trip_ids(timestamptz, uuid, uuid, int), "
        "due_reminder_ids(timestamp, uuid, uuid, int)"
    )
    op.execute("DROP TABLE IF EXISTS trip_reminder_controls, console_outbox, reminder_deliveries")
