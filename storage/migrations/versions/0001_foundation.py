"""Foundation: tenants, users, the seven specified travel tables, identities, invites, audit, events.

Revision ID: 0001
Revises:
"""

from alembic import op

from storage.migrations.rls import expose_function, grant_to_app, isolate_by_tenant, app_role

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The seven tables of the specification keep exactly these names, columns, types, defaults, primary
# keys and foreign keys (docs/DATA.md). Checks and indexes beside them are ours.
SPECIFIED_TABLES = """
CREATE TABLE tenant_preferences (
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    preference_key VARCHAR(255) NOT NULL,
    preference_value JSONB NOT NULL,
    PRIMARY KEY (tenant_id, preference_key)
);

CREATE TABLE user_travel_history (
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id UUID NOT NULL,
    trip_id UUID NOT NULL,
    destination VARCHAR(255) NOT NULL,
    start_date DATE NOT NULL,
    end_date DATE NOT NULL,
    activities JSONB,
    total_spend DECIMAL(10, 2),
    PRIMARY KEY (tenant_id, user_id, trip_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users.tenant_users (tenant_id, user_id) ON DELETE CASCADE,
    CHECK (end_date >= start_date)
);

CREATE TABLE itineraries (
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    itinerary_id UUID NOT NULL DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL,
    status VARCHAR(50) NOT NULL,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    start_date DATE NOT NULL,
    end_date DATE NOT NULL,
    destinations JSONB NOT NULL,
    PRIMARY KEY (tenant_id, itinerary_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users.tenant_users (tenant_id, user_id) ON DELETE CASCADE,
    CHECK (status IN ('draft', 'confirmed', 'cancelled')),
    CHECK (end_date >= start_date)
);

CREATE TABLE itinerary_details (
    tenant_id UUID NOT NULL,
    itinerary_id UUID NOT NULL,
    day_number INT NOT NULL,
    details JSONB NOT NULL,
    PRIMARY KEY (tenant_id, itinerary_id, day_number),
    FOREIGN KEY (tenant_id, itinerary_id) REFERENCES itineraries (tenant_id, itinerary_id) ON DELETE CASCADE,
    CHECK (day_number >= 1)
);

CREATE TABLE bookings (
    tenant_id UUID NOT NULL,
    booking_id UUID NOT NULL DEFAULT gen_random_uuid(),
    itinerary_id UUID NOT NULL,
    user_id UUID NOT NULL,
    booking_type VARCHAR(50) NOT NULL,
    booking_details JSONB NOT NULL,
    status VARCHAR(50) NOT NULL,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (tenant_id, booking_id),
    FOREIGN KEY (tenant_id, itinerary_id) REFERENCES itineraries (tenant_id, itinerary_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users.tenant_users (tenant_id, user_id) ON DELETE CASCADE,
    CHECK (booking_type IN ('flight', 'hotel', 'train', 'car')),
    CHECK (status IN ('confirmed', 'cancelled'))
);

CREATE TABLE booking_reminders (
    tenant_id UUID NOT NULL,
    reminder_id UUID NOT NULL DEFAULT gen_random_uuid(),
    booking_id UUID NOT NULL,
    reminder_date TIMESTAMP NOT NULL,
    sent BOOLEAN DEFAULT FALSE,
    PRIMARY KEY (tenant_id, reminder_id),
    FOREIGN KEY (tenant_id, booking_id) REFERENCES bookings (tenant_id, booking_id) ON DELETE CASCADE
);

CREATE TABLE travel_analytics (
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id UUID NOT NULL,
    trip_id UUID NOT NULL,
    total_spend DECIMAL(10, 2) NOT NULL,
    spend_by_category JSONB NOT NULL,
    PRIMARY KEY (tenant_id, user_id, trip_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users.tenant_users (tenant_id, user_id) ON DELETE CASCADE
);
"""

PRODUCT_TABLES = """
CREATE TABLE channel_workspaces (
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    channel VARCHAR(20) NOT NULL,
    enterprise_id VARCHAR(64) NOT NULL DEFAULT '',
    team_id VARCHAR(64) NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, channel, enterprise_id, team_id)
);
-- A workspace belongs to exactly one tenant; this is the one deliberately global key (docs/SECURITY.md).
CREATE UNIQUE INDEX channel_workspaces_route ON channel_workspaces (channel, enterprise_id, team_id);

CREATE TABLE channel_identities (
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    channel VARCHAR(20) NOT NULL,
    workspace_id VARCHAR(64) NOT NULL DEFAULT '',
    external_user_id VARCHAR(64) NOT NULL,
    user_id UUID NOT NULL,
    chat_id VARCHAR(64),
    linked_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, channel, workspace_id, external_user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users.tenant_users (tenant_id, user_id) ON DELETE CASCADE,
    CHECK (channel IN ('slack', 'telegram', 'console'))
);
-- One platform account speaks for one traveller; global for the same reason as above.
CREATE UNIQUE INDEX channel_identities_route ON channel_identities (channel, workspace_id, external_user_id);
CREATE INDEX channel_identities_user ON channel_identities (tenant_id, user_id);

CREATE TABLE slack_installations (
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    installation_id UUID NOT NULL DEFAULT gen_random_uuid(),
    enterprise_id VARCHAR(64) NOT NULL DEFAULT '',
    team_id VARCHAR(64) NOT NULL DEFAULT '',
    installer_user_id VARCHAR(64),
    is_enterprise_install BOOLEAN NOT NULL DEFAULT false,
    installation_encrypted TEXT NOT NULL,
    installed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, installation_id)
);
CREATE INDEX slack_installations_workspace ON slack_installations (tenant_id, enterprise_id, team_id, installed_at DESC);

CREATE TABLE telegram_invites (
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    invite_id UUID NOT NULL DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL,
    code_hash BYTEA NOT NULL,
    created_by UUID,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ,
    PRIMARY KEY (tenant_id, invite_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users.tenant_users (tenant_id, user_id) ON DELETE CASCADE
);
CREATE INDEX telegram_invites_code ON telegram_invites (code_hash);

CREATE TABLE audit_log (
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    audit_id UUID NOT NULL DEFAULT gen_random_uuid(),
    occurred_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    actor_user_id UUID,
    actor VARCHAR(20) NOT NULL,
    action VARCHAR(64) NOT NULL,
    entity VARCHAR(64) NOT NULL,
    entity_id VARCHAR(128),
    details JSONB NOT NULL DEFAULT '{}',
    PRIMARY KEY (tenant_id, audit_id),
    CHECK (actor IN ('user', 'system', 'operator'))
);
CREATE INDEX audit_log_recent ON audit_log (tenant_id, occurred_at DESC);

-- Ids of platform deliveries already handled (Slack event_id, Telegram update_id). No tenant data.
CREATE TABLE processed_events (
    source VARCHAR(32) NOT NULL,
    event_id VARCHAR(128) NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (source, event_id)
);
"""

INDEXES = """
CREATE INDEX itineraries_user ON itineraries (tenant_id, user_id, start_date);
CREATE INDEX bookings_user ON bookings (tenant_id, user_id, created_at);
CREATE INDEX bookings_itinerary ON bookings (tenant_id, itinerary_id);
CREATE INDEX booking_reminders_booking ON booking_reminders (tenant_id, booking_id);
CREATE INDEX booking_reminders_due ON booking_reminders (reminder_date) WHERE NOT sent;
CREATE INDEX user_travel_history_user ON user_travel_history (tenant_id, user_id, start_date);
"""

TENANT_TABLES = [
    "users.tenant_users",
    "tenant_preferences",
    "user_travel_history",
    "itineraries",
    "itinerary_details",
    "bookings",
    "booking_reminders",
    "travel_analytics",
    "channel_workspaces",
    "channel_identities",
    "slack_installations",
    "telegram_invites",
    "audit_log",
]

# The one narrow path across tenants: platform identity in, ids out. SECURITY DEFINER runs as the
# owner (BYPASSRLS); search_path is pinned so a caller cannot shadow the tables.
RESOLVERS = """
CREATE FUNCTION resolve_workspace(p_channel text, p_enterprise_id text, p_team_id text)
RETURNS uuid LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT w.tenant_id FROM public.channel_workspaces w
    WHERE w.channel = p_channel
      AND ((w.enterprise_id = coalesce(p_enterprise_id, '') AND w.team_id = coalesce(p_team_id, ''))
        OR (coalesce(p_enterprise_id, '') <> '' AND w.enterprise_id = p_enterprise_id AND w.team_id = ''))
    ORDER BY w.team_id DESC
    LIMIT 1
$$;

CREATE FUNCTION resolve_identity(p_channel text, p_workspace_id text, p_external_user_id text)
RETURNS TABLE (tenant_id uuid, user_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT i.tenant_id, i.user_id FROM public.channel_identities i
    WHERE i.channel = p_channel AND i.workspace_id = coalesce(p_workspace_id, '')
      AND i.external_user_id = p_external_user_id
$$;

CREATE FUNCTION resolve_invite(p_code_hash bytea)
RETURNS TABLE (tenant_id uuid, invite_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT t.tenant_id, t.invite_id FROM public.telegram_invites t WHERE t.code_hash = p_code_hash
$$;
"""


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.execute("CREATE SCHEMA IF NOT EXISTS users")
    op.execute(
        """
        CREATE TABLE tenants (
            id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
            name VARCHAR(200) NOT NULL CHECK (length(btrim(name)) > 0),
            created_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE TABLE users.tenant_users (
            tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
            user_id UUID NOT NULL DEFAULT gen_random_uuid(),
            display_name VARCHAR(200) NOT NULL,
            email VARCHAR(320),
            role VARCHAR(20) NOT NULL DEFAULT 'traveler',
            timezone VARCHAR(64) NOT NULL DEFAULT 'UTC',
            locale VARCHAR(16) NOT NULL DEFAULT 'en',
            preferences JSONB NOT NULL DEFAULT '{}',
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, user_id),
            CHECK (role IN ('admin', 'traveler'))
        )
        """
    )
    op.execute("CREATE UNIQUE INDEX tenant_users_email ON users.tenant_users (tenant_id, lower(email))")
    op.execute(SPECIFIED_TABLES)
    op.execute(PRODUCT_TABLES)
    op.execute(INDEXES)

    # tenants has no tenant_id: a tenant sees its own row and may create only the row it is bound to.
    isolate_by_tenant("tenants", column="id")
    for table in TENANT_TABLES:
        isolate_by_tenant(table)

    role = app_role()
    op.execute(f"GRANT USAGE ON SCHEMA public, users TO {role}")
    grant_to_app("tenants", *TENANT_TABLES, "processed_events")
    # Tables of later migrations are granted as they are created.
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public, users GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public, users GRANT USAGE, SELECT ON SEQUENCES TO {role}")

    op.execute(RESOLVERS)
    expose_function("resolve_workspace(text, text, text)")
    expose_function("resolve_identity(text, text, text)")
    expose_function("resolve_invite(bytea)")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS resolve_invite(bytea), resolve_identity(text, text, text), "
               "resolve_workspace(text, text, text)")
    for table in [*reversed(TENANT_TABLES), "processed_events", "tenants"]:
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    op.execute("DROP SCHEMA IF EXISTS users")
