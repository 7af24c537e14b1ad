"""The role `serve` uses cannot list tenants: the functions that walk every tenant belong to the worker.

Revision ID: 0012_serve_role
Revises: 0011_conversation_state

A leaked password of the application role (`serve`, `chat`) must not hand over the list of tenants, from
which every tenant's rows follow with `set_config('app.tenant_id', ...)`. The reminder sweeper, trip
completion, flight watching and the daily maintenance pass walk every tenant; they run in the worker, whose
role (a member of the application role, created beside it) alone may call these functions. When that role
does not exist yet, the grant waits: create it, then run `travelmate db upgrade` again.

`sealed_samples()` hands `serve` and `worker` one sealed value of each kind, so they can refuse to start with a
key that cannot open what is stored.
"""

from alembic import op

from storage.migrations.rls import app_role, expose_function, worker_role

revision = "0012_serve_role"
down_revision = "0011_conversation_state"
branch_labels = None
depends_on = None

# For the start-up key check of `serve` and `worker`: the newest sealed value of each kind, and nothing that
# says whose it is. Ciphertext only; without the key it reads as noise.
SEALED_SAMPLES = """
CREATE FUNCTION sealed_samples()
RETURNS TABLE (kind text, sealed bytea)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    (SELECT 'Slack installations', convert_to(s.installation_encrypted, 'UTF8')
     FROM public.slack_installations s ORDER BY s.installed_at DESC LIMIT 1)
    UNION ALL
    (SELECT 'conversations', c.checkpoint FROM public.conversation_checkpoints c
     WHERE c.type LIKE '%+fernet' ORDER BY c.saved_at DESC LIMIT 1)
$$;
"""

ENUMERATING = (
    "tenant_ids_after(uuid, int)",
    "due_reminder_ids(timestamp, uuid, uuid, int)",
    "ended_trip_ids(timestamptz, uuid, uuid, int)",
    "flight_bookings_between(date, date)",
)


def _grant_to_worker(functions: tuple[str, ...]) -> None:
    """Grant to the worker's role when it exists; its name is bound as a literal and quoted by format()."""
    role = worker_role().replace("'", "''")
    grants = " ".join(f"EXECUTE format('GRANT EXECUTE ON FUNCTION {f} TO %I', role);" for f in functions)
    op.execute(
        f"DO $$ DECLARE role text := '{role}'; BEGIN "
        f"IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role) THEN {grants} END IF; END $$"
    )


def upgrade() -> None:
    for function in ENUMERATING:
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC, {app_role()}")
    _grant_to_worker(ENUMERATING)
    op.execute(SEALED_SAMPLES)
    expose_function("sealed_samples()")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS sealed_samples()")
    for function in ENUMERATING:
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {app_role()}")
