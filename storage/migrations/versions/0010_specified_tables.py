"""The seven specified tables exactly as the customer's DDL states them, with the product's state beside them.

Revision ID: 0010_specified_tables
Revises: 0009_single_line

Other systems (BI tools, importers, a travel agency's feed) read and write these tables by the specified
columns alone, so each is rebuilt with exactly the specification's columns, in its order, types,
nullability, defaults, primary key and foreign keys. The few extra columns are nullable or defaulted, so an
INSERT naming only the specified columns works. State the specification has no place for moves to side
tables keyed by the specified ids:
- `itinerary_cancellations`: a trip called off (a draft is `is_draft`, a booked trip is not);
- `reminder_schedules`: the exact due time of a reminder the product wrote (a reminder without one is due at
  the tenant's `reminders.time` in the traveller's time zone on its `reminder_date`);
- `completed_trips`: which itinerary a history row and an analytics row came from, and the trip's last day.

Each table is built in a staging schema (so that index and constraint names do not collide), filled from
the old one, and moved into `public` once the old one is gone. Every row keeps its id and its meaning:
itinerary days become one detail row per activity, a reminder's UTC time becomes its local date plus its
exact schedule, and a history row and its analytics row keep the trip's id as their own ids.
"""

from alembic import op

from storage.migrations.rls import app_role, grant_to_app, isolate_by_tenant

revision = "0010_specified_tables"
down_revision = "0009_single_line"
branch_labels = None
depends_on = None

STAGE = "contract_staging"
BEFORE = "before_0010"
SPECIFIED = [
    "tenant_preferences",
    "user_travel_history",
    "itineraries",
    "itinerary_details",
    "bookings",
    "booking_reminders",
    "travel_analytics",
]

# The customer's DDL, word for word but for the schema prefix; extra columns come last.
CONTRACT = f"""
CREATE TABLE {STAGE}.tenant_preferences (
    tenant_id UUID,
    preference_id UUID DEFAULT gen_random_uuid(),
    preference_key VARCHAR(100) NOT NULL,
    preference_value JSONB NOT NULL,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (tenant_id, preference_id),
    FOREIGN KEY (tenant_id) REFERENCES tenants(id)
);

CREATE TABLE {STAGE}.user_travel_history (
    tenant_id UUID,
    history_id UUID DEFAULT gen_random_uuid(),
    user_id UUID,
    travel_date DATE NOT NULL,
    destination VARCHAR(100) NOT NULL,
    activities JSONB,
    total_spend DECIMAL(10, 2) NOT NULL,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (tenant_id, history_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users.tenant_users(tenant_id, user_id)
);

CREATE TABLE {STAGE}.itineraries (
    tenant_id UUID,
    itinerary_id UUID DEFAULT gen_random_uuid(),
    user_id UUID,
    start_date DATE NOT NULL,
    end_date DATE NOT NULL,
    destinations JSONB,
    is_draft BOOLEAN DEFAULT TRUE,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (tenant_id, itinerary_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users.tenant_users(tenant_id, user_id),
    CHECK (end_date >= start_date)
);

CREATE TABLE {STAGE}.itinerary_details (
    tenant_id UUID,
    detail_id UUID DEFAULT gen_random_uuid(),
    itinerary_id UUID,
    date DATE NOT NULL,
    activity_type VARCHAR(50),
    activity_details JSONB,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    position INT,
    PRIMARY KEY (tenant_id, detail_id),
    FOREIGN KEY (tenant_id, itinerary_id) REFERENCES {STAGE}.itineraries(tenant_id, itinerary_id)
);

CREATE TABLE {STAGE}.bookings (
    tenant_id UUID,
    booking_id UUID DEFAULT gen_random_uuid(),
    user_id UUID,
    itinerary_id UUID,
    booking_type VARCHAR(50) NOT NULL,
    booking_details JSONB NOT NULL,
    status VARCHAR(20) DEFAULT 'confirmed',
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (tenant_id, booking_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users.tenant_users(tenant_id, user_id),
    FOREIGN KEY (tenant_id, itinerary_id) REFERENCES {STAGE}.itineraries(tenant_id, itinerary_id)
);

CREATE TABLE {STAGE}.booking_reminders (
    tenant_id UUID,
    reminder_id UUID DEFAULT gen_random_uuid(),
    booking_id UUID,
    user_id UUID,
    reminder_date DATE NOT NULL,
    message TEXT NOT NULL,
    sent BOOLEAN DEFAULT FALSE,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (tenant_id, reminder_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users.tenant_users(tenant_id, user_id),
    FOREIGN KEY (tenant_id, booking_id) REFERENCES {STAGE}.bookings(tenant_id, booking_id)
);

CREATE TABLE {STAGE}.travel_analytics (
    tenant_id UUID,
    analytics_id UUID DEFAULT gen_random_uuid(),
    user_id UUID,
    travel_date DATE NOT NULL,
    total_spend DECIMAL(10, 2) NOT NULL,
    categories_spend JSONB NOT NULL,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (tenant_id, analytics_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users.tenant_users(tenant_id, user_id)
);
"""

# The old rows, moved with their ids and meaning.
COPY = f"""
INSERT INTO {STAGE}.tenant_preferences (tenant_id, preference_key, preference_value)
SELECT tenant_id, preference_key, preference_value FROM public.tenant_preferences;

INSERT INTO {STAGE}.itineraries
    (tenant_id, itinerary_id, user_id, start_date, end_date, destinations, is_draft, created_at, updated_at)
SELECT tenant_id, itinerary_id, user_id, start_date, end_date, destinations, status = 'draft', created_at, updated_at
FROM public.itineraries;

-- A day's items become one row each; `position` keeps their order within the day.
INSERT INTO {STAGE}.itinerary_details
    (tenant_id, itinerary_id, date, activity_type, activity_details, created_at, position)
SELECT d.tenant_id, d.itinerary_id,
       coalesce((d.details ->> 'date')::date, i.start_date + d.day_number - 1),
       left(e.item ->> 'kind', 50), e.item - 'kind', i.created_at, e.ord::int
FROM public.itinerary_details d
JOIN public.itineraries i ON i.tenant_id = d.tenant_id AND i.itinerary_id = d.itinerary_id
CROSS JOIN LATERAL jsonb_array_elements(
    CASE WHEN jsonb_typeof(d.details -> 'items') = 'array' THEN d.details -> 'items' ELSE '[]' END
) WITH ORDINALITY AS e(item, ord);

INSERT INTO {STAGE}.bookings
    (tenant_id, booking_id, user_id, itinerary_id, booking_type, booking_details, status, created_at, updated_at)
SELECT tenant_id, booking_id, user_id, itinerary_id, booking_type, booking_details, status, created_at, created_at
FROM public.bookings;

-- 09:00 local becomes the local date; the exact UTC time stays in reminder_schedules.
INSERT INTO {STAGE}.booking_reminders
    (tenant_id, reminder_id, booking_id, user_id, reminder_date, message, sent, created_at)
SELECT r.tenant_id, r.reminder_id, r.booking_id, b.user_id,
       ((r.reminder_date AT TIME ZONE 'UTC') AT TIME ZONE u.timezone)::date,
       initcap(b.booking_type) || ': ' || coalesce(b.booking_details ->> 'description', b.booking_type)
           || coalesce(' on ' || (b.booking_details ->> 'service_date'), '') || '.',
       r.sent, b.created_at
FROM public.booking_reminders r
JOIN public.bookings b ON b.tenant_id = r.tenant_id AND b.booking_id = r.booking_id
JOIN users.tenant_users u ON u.tenant_id = b.tenant_id AND u.user_id = b.user_id;

-- The trip's id becomes the id of its history row and of its analytics row.
INSERT INTO {STAGE}.user_travel_history
    (tenant_id, history_id, user_id, travel_date, destination, activities, total_spend)
SELECT tenant_id, trip_id, user_id, start_date, left(destination, 100), activities, coalesce(total_spend, 0)
FROM public.user_travel_history;

INSERT INTO {STAGE}.travel_analytics (tenant_id, analytics_id, user_id, travel_date, total_spend, categories_spend)
SELECT a.tenant_id, a.trip_id, a.user_id, coalesce(h.start_date, i.start_date, CURRENT_DATE), a.total_spend,
       a.spend_by_category
FROM public.travel_analytics a
LEFT JOIN public.user_travel_history h
    ON h.tenant_id = a.tenant_id AND h.user_id = a.user_id AND h.trip_id = a.trip_id
LEFT JOIN public.itineraries i ON i.tenant_id = a.tenant_id AND i.itinerary_id = a.trip_id;
"""

SIDE_TABLES = """
CREATE TABLE itinerary_cancellations (
    tenant_id UUID NOT NULL,
    itinerary_id UUID NOT NULL,
    cancelled_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, itinerary_id),
    FOREIGN KEY (tenant_id, itinerary_id) REFERENCES itineraries (tenant_id, itinerary_id) ON DELETE CASCADE
);

CREATE TABLE reminder_schedules (
    tenant_id UUID NOT NULL,
    reminder_id UUID NOT NULL,
    due_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, reminder_id),
    FOREIGN KEY (tenant_id, reminder_id) REFERENCES booking_reminders (tenant_id, reminder_id) ON DELETE CASCADE
);

CREATE TABLE completed_trips (
    tenant_id UUID NOT NULL,
    itinerary_id UUID NOT NULL,
    history_id UUID,
    analytics_id UUID,
    end_date DATE NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, itinerary_id),
    FOREIGN KEY (tenant_id, history_id) REFERENCES user_travel_history (tenant_id, history_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, analytics_id) REFERENCES travel_analytics (tenant_id, analytics_id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX completed_trips_history ON completed_trips (tenant_id, history_id);
CREATE UNIQUE INDEX completed_trips_analytics ON completed_trips (tenant_id, analytics_id);
"""

SIDE_ROWS = """
INSERT INTO itinerary_cancellations (tenant_id, itinerary_id, cancelled_at)
SELECT tenant_id, itinerary_id, coalesce(coalesce(updated_at, created_at) AT TIME ZONE 'UTC', now())
FROM before_0010.itineraries WHERE status = 'cancelled';

INSERT INTO reminder_schedules (tenant_id, reminder_id, due_at)
SELECT r.tenant_id, r.reminder_id, r.reminder_date FROM before_0010.booking_reminders r
WHERE EXISTS (SELECT 1 FROM booking_reminders n WHERE n.tenant_id = r.tenant_id AND n.reminder_id = r.reminder_id);

INSERT INTO completed_trips (tenant_id, itinerary_id, history_id, analytics_id, end_date)
SELECT h.tenant_id, h.trip_id, h.trip_id, a.trip_id, h.end_date
FROM before_0010.user_travel_history h
LEFT JOIN before_0010.travel_analytics a
    ON a.tenant_id = h.tenant_id AND a.user_id = h.user_id AND a.trip_id = h.trip_id;
"""

INDEXES = """
CREATE UNIQUE INDEX tenant_preferences_key ON tenant_preferences (tenant_id, preference_key);
CREATE INDEX itineraries_user ON itineraries (tenant_id, user_id, start_date);
CREATE INDEX itineraries_period ON itineraries (tenant_id, start_date);
CREATE INDEX itinerary_details_itinerary ON itinerary_details (tenant_id, itinerary_id, date, position);
CREATE INDEX bookings_user ON bookings (tenant_id, user_id, created_at);
CREATE INDEX bookings_itinerary ON bookings (tenant_id, itinerary_id);
CREATE INDEX booking_reminders_booking ON booking_reminders (tenant_id, booking_id);
CREATE INDEX booking_reminders_user ON booking_reminders (tenant_id, user_id);
CREATE INDEX booking_reminders_due ON booking_reminders (reminder_date) WHERE sent IS NOT TRUE;
CREATE INDEX booking_reminders_tenant_due ON booking_reminders (tenant_id, reminder_date) WHERE sent IS NOT TRUE;
CREATE INDEX user_travel_history_user ON user_travel_history (tenant_id, user_id, travel_date);
CREATE INDEX travel_analytics_period ON travel_analytics (tenant_id, travel_date)
    INCLUDE (user_id, analytics_id, total_spend);
CREATE INDEX travel_analytics_user ON travel_analytics (tenant_id, user_id, travel_date);
"""

# The foreign keys of product tables that point into the rebuilt tables, as they were.
REFERENCES_IN = """
ALTER TABLE reminder_deliveries ADD FOREIGN KEY (tenant_id, reminder_id)
    REFERENCES booking_reminders (tenant_id, reminder_id) ON DELETE CASCADE;
ALTER TABLE trip_reminder_controls ADD FOREIGN KEY (tenant_id, itinerary_id)
    REFERENCES itineraries (tenant_id, itinerary_id) ON DELETE CASCADE;
ALTER TABLE slack_request_messages ADD FOREIGN KEY (tenant_id, itinerary_id)
    REFERENCES itineraries (tenant_id, itinerary_id) ON DELETE CASCADE;
"""

# A trip's state as one word: the specified `is_draft` (NULL reads as the default, a draft) and a cancellation.
TRIP_STATUS = """
CREATE VIEW trip_states WITH (security_invoker = true) AS
SELECT i.tenant_id, i.itinerary_id,
       CASE WHEN c.itinerary_id IS NOT NULL THEN 'cancelled'
            WHEN coalesce(i.is_draft, true) THEN 'draft'
            ELSE 'confirmed' END AS status
FROM itineraries i
LEFT JOIN itinerary_cancellations c ON c.tenant_id = i.tenant_id AND c.itinerary_id = i.itinerary_id;
"""

# When a reminder falls due, as naive UTC: its schedule when the product wrote one, otherwise the tenant's
# `reminders.time` (09:00 unless set; a malformed value reads as 09:00) on its date, in the traveller's zone.
DUE_AT = """coalesce(s.due_at, (
    (r.reminder_date + CASE WHEN p.preference_value #>> '{}' ~ '^([01]?[0-9]|2[0-3]):[0-5][0-9]$'
                            THEN (p.preference_value #>> '{}')::time ELSE time '09:00' END)
    AT TIME ZONE u.timezone) AT TIME ZONE 'UTC')"""

# The reminders of `r` with their recipient user `u` and due time; a reminder with no user reaches no one.
DUE_JOINS = """
    LEFT JOIN public.reminder_schedules s ON s.tenant_id = r.tenant_id AND s.reminder_id = r.reminder_id
    LEFT JOIN public.bookings rb ON rb.tenant_id = r.tenant_id AND rb.booking_id = r.booking_id
    JOIN users.tenant_users u ON u.tenant_id = r.tenant_id AND u.user_id = coalesce(r.user_id, rb.user_id)
    LEFT JOIN public.tenant_preferences p ON p.tenant_id = r.tenant_id AND p.preference_key = 'reminders.time'
"""
# Time zones run from UTC-12 to UTC+14, so nothing dated later than tomorrow (UTC) can be due yet.
DUE_FILTER = f"r.sent IS NOT TRUE AND r.reminder_date <= p_now::date + 1 AND {DUE_AT} <= p_now"

# Every reminder's recipient and due time, for listing (the claim inlines the same joins).
DUE_TIMES = f"""
CREATE VIEW reminder_due_times WITH (security_invoker = true) AS
SELECT r.tenant_id, r.reminder_id, u.user_id, {DUE_AT} AS due_at
FROM public.booking_reminders r {DUE_JOINS};
"""

FACTS = """
    facts AS (
        SELECT t.tenant_id, t.reminder_id, t.booking_id, t.due_at, t.reminder_date, t.message,
               b.itinerary_id, t.user_id, b.booking_type, coalesce(b.status, 'confirmed') AS booking_status,
               b.booking_details, st.status AS itinerary_status, i.destinations, i.start_date, i.end_date,
               u.display_name, u.timezone, u.locale,
               coalesce(c.muted, false) AS muted, coalesce(d.attempts, 0) AS attempts,
               ident.channel, ident.workspace_id, ident.external_user_id, ident.chat_id
        FROM target t
        JOIN users.tenant_users u ON u.tenant_id = t.tenant_id AND u.user_id = t.user_id
        LEFT JOIN public.bookings b ON b.tenant_id = t.tenant_id AND b.booking_id = t.booking_id
        LEFT JOIN public.itineraries i ON i.tenant_id = b.tenant_id AND i.itinerary_id = b.itinerary_id
        LEFT JOIN public.trip_states st ON st.tenant_id = i.tenant_id AND st.itinerary_id = i.itinerary_id
        LEFT JOIN public.trip_reminder_controls c
            ON c.tenant_id = i.tenant_id AND c.itinerary_id = i.itinerary_id
        LEFT JOIN public.reminder_deliveries d ON d.tenant_id = t.tenant_id AND d.reminder_id = t.reminder_id
        LEFT JOIN LATERAL (
            SELECT ci.channel, ci.workspace_id, ci.external_user_id, ci.chat_id
            FROM public.channel_identities ci
            WHERE ci.tenant_id = t.tenant_id AND ci.user_id = t.user_id AND ci.channel = ANY(p_channels)
            ORDER BY ci.linked_at DESC, ci.channel
            LIMIT 1
        ) ident ON true
    )
"""
COLUMNS = """
    f.reminder_id, f.booking_id, f.due_at, f.reminder_date, f.message, f.itinerary_id, f.user_id,
    f.booking_type, f.booking_status, f.booking_details, f.itinerary_status, f.destinations, f.start_date,
    f.end_date, f.display_name, f.timezone, f.locale, f.muted, f.attempts, f.channel, f.workspace_id,
    f.external_user_id, f.chat_id
"""

FUNCTIONS = f"""
DROP FUNCTION claim_due_reminders(uuid, uuid, timestamp, text[], int);
CREATE FUNCTION claim_due_reminders(
    p_tenant_id uuid, p_reminder_id uuid, p_now timestamp, p_channels text[], p_limit int
)
RETURNS TABLE (
    reminder_id uuid, booking_id uuid, due_at timestamp, reminder_date date, message text, itinerary_id uuid,
    user_id uuid, booking_type varchar, booking_status varchar, booking_details jsonb, itinerary_status text,
    destinations jsonb, start_date date, end_date date, display_name varchar, timezone varchar,
    locale varchar, muted boolean, attempts int, channel varchar, workspace_id varchar,
    external_user_id varchar, chat_id varchar
)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    -- The named reminder first: when it is not due, already sent or held by another run, nothing happens.
    PERFORM 1 FROM public.booking_reminders r {DUE_JOINS}
    WHERE r.tenant_id = p_tenant_id AND r.reminder_id = p_reminder_id AND {DUE_FILTER}
    FOR UPDATE OF r SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    RETURN QUERY
    WITH target AS (
        SELECT r.tenant_id, r.reminder_id, r.booking_id, r.reminder_date, r.message, u.user_id,
               {DUE_AT} AS due_at
        FROM public.booking_reminders r {DUE_JOINS}
        WHERE r.tenant_id = p_tenant_id AND {DUE_FILTER}
        ORDER BY r.reminder_id = p_reminder_id DESC, r.reminder_date, r.reminder_id
        LIMIT greatest(p_limit, 1)
        FOR UPDATE OF r SKIP LOCKED
    ), {FACTS}
    UPDATE public.booking_reminders r SET sent = true
    FROM facts f
    WHERE r.tenant_id = f.tenant_id AND r.reminder_id = f.reminder_id
    RETURNING {COLUMNS};
END
$$;

CREATE OR REPLACE FUNCTION due_reminder_ids(p_now timestamp, p_after_tenant uuid, p_after_reminder uuid, p_limit int)
RETURNS TABLE (tenant_id uuid, reminder_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT r.tenant_id, r.reminder_id FROM public.booking_reminders r {DUE_JOINS}
    WHERE {DUE_FILTER}
      AND (r.tenant_id, r.reminder_id) > (p_after_tenant, p_after_reminder)
    ORDER BY r.tenant_id, r.reminder_id
    LIMIT least(greatest(p_limit, 1), 10000)
$$;

CREATE OR REPLACE FUNCTION ended_trip_ids(p_now timestamptz, p_after_tenant uuid, p_after_itinerary uuid, p_limit int)
RETURNS TABLE (tenant_id uuid, itinerary_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT i.tenant_id, i.itinerary_id FROM public.itineraries i
    JOIN users.tenant_users u ON u.tenant_id = i.tenant_id AND u.user_id = i.user_id
    WHERE i.is_draft IS FALSE
      AND i.end_date < (p_now AT TIME ZONE u.timezone)::date
      AND NOT EXISTS (
          SELECT 1 FROM public.itinerary_cancellations c
          WHERE c.tenant_id = i.tenant_id AND c.itinerary_id = i.itinerary_id
      )
      AND NOT EXISTS (
          SELECT 1 FROM public.completed_trips t WHERE t.tenant_id = i.tenant_id AND t.itinerary_id = i.itinerary_id
      )
      AND (i.tenant_id, i.itinerary_id) > (p_after_tenant, p_after_itinerary)
    ORDER BY i.tenant_id, i.itinerary_id
    LIMIT least(greatest(p_limit, 1), 10000)
$$;

CREATE OR REPLACE FUNCTION flight_bookings_between(p_first date, p_last date)
RETURNS TABLE (tenant_id uuid, booking_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT b.tenant_id, b.booking_id FROM public.bookings b
    WHERE b.booking_type = 'flight' AND coalesce(b.status, 'confirmed') = 'confirmed'
      AND (b.booking_details->>'service_date') BETWEEN p_first::text AND p_last::text
$$;
"""


def upgrade() -> None:
    op.execute(f"CREATE SCHEMA {STAGE}")
    op.execute(CONTRACT)
    op.execute(COPY)
    # The old tables step aside with their index names; the foreign keys into them follow them there.
    op.execute(f"CREATE SCHEMA {BEFORE}")
    for table in SPECIFIED:
        op.execute(f"ALTER TABLE public.{table} SET SCHEMA {BEFORE}")
    for table in SPECIFIED:
        op.execute(f"ALTER TABLE {STAGE}.{table} SET SCHEMA public")
    op.execute(f"DROP SCHEMA {STAGE}")
    op.execute(SIDE_TABLES)
    op.execute(SIDE_ROWS)
    op.execute(f"DROP SCHEMA {BEFORE} CASCADE")
    op.execute(INDEXES)
    op.execute(REFERENCES_IN)
    op.execute(TRIP_STATUS)
    op.execute(DUE_TIMES)
    for table in [*SPECIFIED, "itinerary_cancellations", "reminder_schedules", "completed_trips"]:
        isolate_by_tenant(table)
    # Tables built outside `public` missed its default privileges.
    grant_to_app(*SPECIFIED)
    op.execute(f"GRANT SELECT ON trip_states, reminder_due_times TO {app_role()}")
    op.execute(FUNCTIONS)


def downgrade() -> None:
    raise NotImplementedError("the specified tables cannot be turned back into their earlier shape")
