"""Conversations: which user took part in which checkpoint thread, for export, erasure and retention.

Revision ID: 0005_conversations
Revises: 0001
"""

from alembic import op

from storage.migrations.rls import isolate_by_tenant

revision = "0005_conversations"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE conversations (
            tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
            thread_id VARCHAR(300) NOT NULL,
            user_id UUID NOT NULL,
            channel VARCHAR(20) NOT NULL,
            started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            last_active_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, thread_id, user_id),
            FOREIGN KEY (tenant_id, user_id) REFERENCES users.tenant_users (tenant_id, user_id) ON DELETE CASCADE,
            CHECK (thread_id LIKE tenant_id::text || ':%')
        )
        """
    )
    op.execute("CREATE INDEX conversations_user ON conversations (tenant_id, user_id)")
    op.execute("CREATE INDEX conversations_idle ON conversations (tenant_id, last_active_at)")
    isolate_by_tenant("conversations")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS conversations")
