"""Shared DDL for migrations: tenant row-level security and application-role grants."""

from __future__ import annotations

from alembic import op

# An expired SET LOCAL leaves '' behind; NULLIF turns it into NULL so the cast cannot fail and
# the comparison is never true: a session with no tenant sees nothing.
CURRENT_TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"


def isolate_by_tenant(table: str, column: str = "tenant_id") -> None:
    """ENABLE and FORCE row-level security on `table`, with one policy for every command."""
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} FOR ALL "
        f"USING ({column} = {CURRENT_TENANT}) WITH CHECK ({column} = {CURRENT_TENANT})"
    )


def app_role() -> str:
    """The quoted name of the application role, handed to the migration by `travelmate db upgrade`."""
    from alembic import context

    name = context.config.attributes.get("app_role") or "travelmate_app"
    return op.get_bind().dialect.identifier_preparer.quote(name)


def worker_role() -> str:
    """The unquoted name of the worker's role (a member of the application role)."""
    from alembic import context

    return str(context.config.attributes.get("worker_role") or "travelmate_worker")


def grant_to_app(*objects: str) -> None:
    """Grant the application role data access (never ownership) to tables."""
    for table in objects:
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {app_role()}")


def expose_function(signature: str) -> None:
    """Only the application role may call a SECURITY DEFINER function."""
    op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {app_role()}")
