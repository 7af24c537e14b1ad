"""Conversation state that outlives a turn and any one process: turn leases and awaited justifications.

Revision ID: 0011_conversation_state
Revises: 0010_specified_tables

- `conversation_turns` holds at most one lease per conversation thread: the process that runs a turn of
  that conversation, until when. Any replica may serve any conversation; the lease orders their turns, and
  a lease left by a killed process expires by itself. It needs no connection held for the turn, so it works
  behind PgBouncer in transaction mode (a session advisory lock would not).
- `awaited_justifications` remembers that a Telegram traveller was asked to justify an out-of-policy trip,
  so the justification is recognised after a restart or by another replica. It names its user, whose
  erasure removes it.
Both are tenant tables under the same row-level security as every other.
"""

from alembic import op

from storage.migrations.rls import isolate_by_tenant

revision = "0011_conversation_state"
down_revision = "0010_specified_tables"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE conversation_turns (
            tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
            thread_id VARCHAR(300) NOT NULL,
            holder UUID NOT NULL,
            expires_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (tenant_id, thread_id),
            CHECK (thread_id LIKE tenant_id::text || ':%')
        )
        """
    )
    op.execute(
        """
        CREATE TABLE awaited_justifications (
            tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
            thread_id VARCHAR(300) NOT NULL,
            user_id UUID NOT NULL,
            itinerary_id UUID NOT NULL,
            prompt_message_id BIGINT NOT NULL,
            asked_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, thread_id, user_id),
            FOREIGN KEY (tenant_id, user_id) REFERENCES users.tenant_users (tenant_id, user_id) ON DELETE CASCADE,
            CHECK (thread_id LIKE tenant_id::text || ':%')
        )
        """
    )
    op.execute("CREATE INDEX awaited_justifications_user ON awaited_justifications (tenant_id, user_id)")
    isolate_by_tenant("conversation_turns")
    isolate_by_tenant("awaited_justifications")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS awaited_justifications, conversation_turns")
