"""Conversation checkpoints as tenant tables: the agent's state under row-level security, owned by its user.

Revision ID: 0008_conversation_checkpoints
Revises: 0005_conversations

LangGraph's own PostgreSQL tables (`checkpoints`, `checkpoint_blobs`, `checkpoint_writes`) carry no tenant
column, so only the thread id's prefix kept tenants apart, and they keep every step of every conversation.
These two tables replace them:
- `conversation_checkpoints` holds the latest checkpoint of each thread (history is trimmed anyway, and
  nothing travels back in time), one row read and one row written per turn;
- `conversation_checkpoint_writes` holds the pending writes of that checkpoint (an open confirmation).
Both are isolated by tenant like every other tenant table, and both reference the conversation's user with
ON DELETE CASCADE: erasing a user removes their conversations in the same transaction, and a turn that
finishes after the erasure cannot write its checkpoint at all (the foreign key refuses it).
"""

from alembic import op

from storage.migrations.rls import isolate_by_tenant

revision = "0008_conversation_checkpoints"
down_revision = "0005_conversations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE conversation_checkpoints (
            tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
            thread_id VARCHAR(300) NOT NULL,
            checkpoint_ns VARCHAR(300) NOT NULL DEFAULT '',
            user_id UUID NOT NULL,
            checkpoint_id VARCHAR(64) NOT NULL,
            parent_checkpoint_id VARCHAR(64),
            type VARCHAR(40) NOT NULL,
            checkpoint BYTEA NOT NULL,
            metadata_type VARCHAR(40) NOT NULL,
            metadata BYTEA NOT NULL,
            saved_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, thread_id, checkpoint_ns),
            FOREIGN KEY (tenant_id, user_id) REFERENCES users.tenant_users (tenant_id, user_id) ON DELETE CASCADE,
            CHECK (thread_id LIKE tenant_id::text || ':%')
        )
        """
    )
    op.execute("CREATE INDEX conversation_checkpoints_user ON conversation_checkpoints (tenant_id, user_id)")
    op.execute(
        """
        CREATE TABLE conversation_checkpoint_writes (
            tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
            thread_id VARCHAR(300) NOT NULL,
            checkpoint_ns VARCHAR(300) NOT NULL DEFAULT '',
            checkpoint_id VARCHAR(64) NOT NULL,
            task_id VARCHAR(64) NOT NULL,
            idx INTEGER NOT NULL,
            user_id UUID NOT NULL,
            channel VARCHAR(200) NOT NULL,
            type VARCHAR(40) NOT NULL,
            blob BYTEA NOT NULL,
            task_path VARCHAR(300) NOT NULL DEFAULT '',
            PRIMARY KEY (tenant_id, thread_id, checkpoint_ns, checkpoint_id, task_id, idx),
            FOREIGN KEY (tenant_id, user_id) REFERENCES users.tenant_users (tenant_id, user_id) ON DELETE CASCADE,
            CHECK (thread_id LIKE tenant_id::text || ':%')
        )
        """
    )
    op.execute(
        "CREATE INDEX conversation_checkpoint_writes_user ON conversation_checkpoint_writes (tenant_id, user_id)"
    )
    isolate_by_tenant("conversation_checkpoints")
    isolate_by_tenant("conversation_checkpoint_writes")
    # Conversations kept in LangGraph's own tables do not carry over: they were bounded recent history.
    op.execute("DROP TABLE IF EXISTS checkpoint_writes, checkpoint_blobs, checkpoints, checkpoint_migrations")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS conversation_checkpoint_writes, conversation_checkpoints")
