"""The company's travel-policy documents as searchable passages, and each traveller's travel memory.

Revision ID: 0013_policy_documents
Revises: 0012_serve_role

Three tenant tables under row-level security:
- `policy_documents`: one row per uploaded document (Markdown, PDF or text), unique by content per tenant;
- `policy_passages`: the document split into passages that keep their heading path, with a `tsvector`
  (GIN index) for full-text search and an optional embedding;
- `travel_memories`: facts a traveller asked the assistant to remember, and notes from completed trips,
  owned by the user (ON DELETE CASCADE), so erasing the user removes them in the same transaction.

Embeddings are stored with the name of the model and their dimension on every row, so vectors of two models
are never compared: the column is an untyped `vector`, and each common dimension gets a partial HNSW index
over `embedding::vector(N)`. `travelmate policy reindex` adds the index for any other dimension.
"""

from alembic import op

from storage.migrations.rls import grant_to_app, isolate_by_tenant

revision = "0013_policy_documents"
down_revision = "0012_serve_role"
branch_labels = None
depends_on = None

# Embedding sizes of common models (MiniLM, nomic/bge-base, bge-large/mxbai, OpenAI text-embedding-3-small).
INDEXED_DIMENSIONS = (384, 768, 1024, 1536)

_EMBEDDING_COLUMNS = """
            embedding vector,
            embedding_model VARCHAR(200),
            embedding_dimensions INTEGER,
            CHECK ((embedding IS NULL) = (embedding_model IS NULL)),
            CHECK (embedding IS NULL OR vector_dims(embedding) = embedding_dimensions)
"""


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE policy_documents (
            tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
            document_id UUID NOT NULL,
            title VARCHAR(300) NOT NULL,
            filename VARCHAR(300) NOT NULL,
            media_type VARCHAR(20) NOT NULL CHECK (media_type IN ('markdown', 'pdf', 'text')),
            sha256 CHAR(64) NOT NULL,
            pages INTEGER,
            added_by UUID,
            added_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, document_id),
            UNIQUE (tenant_id, sha256),
            FOREIGN KEY (tenant_id, added_by) REFERENCES users.tenant_users (tenant_id, user_id)
                ON DELETE SET NULL (added_by)
        )
        """
    )
    op.execute(
        f"""
        CREATE TABLE policy_passages (
            tenant_id UUID NOT NULL,
            passage_id BIGINT GENERATED ALWAYS AS IDENTITY,
            document_id UUID NOT NULL,
            position INTEGER NOT NULL,
            heading_path TEXT NOT NULL,
            body TEXT NOT NULL,
            search tsvector GENERATED ALWAYS AS (
                setweight(to_tsvector('english', heading_path), 'A') || setweight(to_tsvector('english', body), 'B')
            ) STORED,
            {_EMBEDDING_COLUMNS},
            PRIMARY KEY (tenant_id, passage_id),
            UNIQUE (tenant_id, document_id, position),
            FOREIGN KEY (tenant_id, document_id) REFERENCES policy_documents (tenant_id, document_id)
                ON DELETE CASCADE
        )
        """
    )
    op.execute("CREATE INDEX policy_passages_search ON policy_passages USING gin (search)")
    for dimensions in INDEXED_DIMENSIONS:
        op.execute(
            f"CREATE INDEX policy_passages_embedding_{dimensions} ON policy_passages "
            f"USING hnsw ((embedding::vector({dimensions})) vector_cosine_ops) "
            f"WHERE embedding_dimensions = {dimensions}"
        )
    op.execute(
        f"""
        CREATE TABLE travel_memories (
            tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
            memory_id BIGINT GENERATED ALWAYS AS IDENTITY,
            user_id UUID NOT NULL,
            fact VARCHAR(500) NOT NULL CHECK (length(btrim(fact)) > 0),
            source VARCHAR(20) NOT NULL CHECK (source IN ('traveller', 'trip')),
            source_key VARCHAR(100),
            search tsvector GENERATED ALWAYS AS (to_tsvector('english', fact)) STORED,
            {_EMBEDDING_COLUMNS},
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, memory_id),
            UNIQUE (tenant_id, user_id, source_key),
            FOREIGN KEY (tenant_id, user_id) REFERENCES users.tenant_users (tenant_id, user_id) ON DELETE CASCADE
        )
        """
    )
    op.execute("CREATE INDEX travel_memories_user ON travel_memories (tenant_id, user_id, created_at)")
    for table in ("policy_passages", "travel_memories"):
        # Keep the vector in the row when it fits (TOAST moves the text out first): a search reads every
        # candidate's vector, and a TOAST lookup per row would cost more than the distance itself.
        op.execute(f"ALTER TABLE {table} ALTER COLUMN embedding SET STORAGE MAIN")
    for table in ("policy_documents", "policy_passages", "travel_memories"):
        isolate_by_tenant(table)
        grant_to_app(table)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS travel_memories, policy_passages, policy_documents")
