"""Maintenance sweeps across tenants: tenant ids for retention, flight bookings for the flight watch.

Revision ID: 0006_maintenance
Revises: 0001
"""

from alembic import op

from storage.migrations.rls import expose_function

revision = "0006_maintenance"
down_revision = "0001"
branch_labels = None
depends_on = None

# Ids only, like the other resolvers: each tenant's rows are then read inside that tenant.
FUNCTIONS = """
CREATE FUNCTION tenant_ids_after(p_after uuid, p_limit int)
RETURNS SETOF uuid LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT t.id FROM public.tenants t WHERE t.id > coalesce(p_after, '00000000-0000-0000-0000-000000000000')
    ORDER BY t.id LIMIT p_limit
$$;

CREATE FUNCTION flight_bookings_between(p_first date, p_last date)
RETURNS TABLE (tenant_id uuid, booking_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT b.tenant_id, b.booking_id FROM public.bookings b
    WHERE b.booking_type = 'flight' AND b.status = 'confirmed'
      AND (b.booking_details->>'service_date') BETWEEN p_first::text AND p_last::text
$$;
"""


def upgrade() -> None:
    op.execute(FUNCTIONS)
    expose_function("tenant_ids_after(uuid, int)")
    expose_function("flight_bookings_between(date, date)")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS tenant_ids_after(uuid, int), flight_bookings_between(date, date)")
