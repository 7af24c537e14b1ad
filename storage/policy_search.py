"""Search of a tenant's policy passages: full text, or hybrid (vectors and full text fused by rank).

Row-level security keeps every search inside the session's tenant. The SQL is built here once; the
benchmark runs the same statements as the owner with an explicit tenant condition instead.

- Full text: the question goes through `websearch_to_tsquery`, whose terms are then OR-ed, so a passage
  that answers most of a conversational question still matches; `ts_rank` orders them.
- Vectors: cosine distance on the partial HNSW index of the query's dimension, only among rows embedded by
  the same model. pgvector's iterative index scan (`hnsw.iterative_scan = relaxed_order`) keeps scanning
  the graph until enough rows pass the tenant filter, so filtering does not starve the results.
- Hybrid: reciprocal rank fusion (k = 60) of both lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.policy_documents import Embedding

RRF_K = 60
CANDIDATES = 40  # rows each method contributes to the fusion
EF_SEARCH = 100

# websearch_to_tsquery ANDs every word; a conversational question rarely has all of them in one passage.
QUESTION = "replace(websearch_to_tsquery('english', :question)::text, ' & ', ' | ')::tsquery"
ITERATIVE_SCAN = (
    "SET LOCAL hnsw.iterative_scan = relaxed_order",
    f"SET LOCAL hnsw.ef_search = {EF_SEARCH}",
)


def _tenant(explicit: bool, alias: str = "") -> str:
    return f" AND {alias}tenant_id = CAST(:tenant AS uuid)" if explicit else ""


def lexical_sql(*, explicit_tenant: bool = False) -> str:
    """Passage ids ranked by full-text relevance (rank 1 is best)."""
    return f"""
        SELECT tenant_id, passage_id, row_number() OVER (ORDER BY relevance DESC, passage_id) AS rank FROM (
            SELECT tenant_id, passage_id, ts_rank(search, {QUESTION}, 1) AS relevance
            FROM policy_passages
            WHERE search @@ {QUESTION}{_tenant(explicit_tenant)}
            ORDER BY relevance DESC, passage_id LIMIT :candidates
        ) matched"""


def semantic_sql(dimensions: int, *, explicit_tenant: bool = False) -> str:
    """Passage ids ranked by cosine distance to :vector among rows of the same model and dimension."""
    dims = int(dimensions)
    return f"""
        SELECT tenant_id, passage_id, row_number() OVER (ORDER BY distance, passage_id) AS rank FROM (
            SELECT tenant_id, passage_id, embedding::vector({dims}) <=> CAST(:vector AS vector({dims})) AS distance
            FROM policy_passages
            WHERE embedding_dimensions = {dims} AND embedding_model = :model{_tenant(explicit_tenant)}
            ORDER BY distance LIMIT :candidates
        ) nearest"""


def _passages_sql(ranked: str) -> str:
    return f"""
        WITH ranked AS MATERIALIZED ({ranked}),
        fused AS (
            SELECT tenant_id, passage_id, sum(1.0 / ({RRF_K} + rank)) AS score
            FROM ranked GROUP BY tenant_id, passage_id)
        SELECT p.passage_id, d.title, p.heading_path, p.body, fused.score
        FROM fused
        JOIN policy_passages p ON p.tenant_id = fused.tenant_id AND p.passage_id = fused.passage_id
        JOIN policy_documents d ON d.tenant_id = p.tenant_id AND d.document_id = p.document_id
        ORDER BY fused.score DESC, p.passage_id LIMIT :limit"""


def hybrid_sql(dimensions: int, *, explicit_tenant: bool = False) -> str:
    return _passages_sql(
        f"{semantic_sql(dimensions, explicit_tenant=explicit_tenant)} UNION ALL "
        f"{lexical_sql(explicit_tenant=explicit_tenant)}"
    )


def full_text_sql(*, explicit_tenant: bool = False) -> str:
    return _passages_sql(lexical_sql(explicit_tenant=explicit_tenant))


@dataclass(frozen=True)
class PassageHit:
    """A passage found for a question, with what a citation needs."""

    passage_id: int
    document_title: str
    heading_path: str
    body: str
    score: float

    @property
    def section(self) -> str:
        """The section number of the deepest numbered heading ("3.2"), or its title when unnumbered."""
        for heading in reversed(self.heading_path.split(" > ")):
            number = heading.split(" ", 1)[0].rstrip(".")
            if number and number.replace(".", "").isdigit():
                return number
        return self.heading_path.split(" > ")[-1]

    @property
    def citation(self) -> str:
        """How the answer cites the passage: "Travel Policy §3.2"."""
        return f"{self.document_title} §{self.section}"


async def search_passages(
    session: AsyncSession, *, question: str, limit: int = 5, query: Embedding | None = None
) -> list[PassageHit]:
    """The best passages of the session's tenant for `question`; hybrid when `query` is its embedding."""
    params: dict[str, object] = {"question": question, "limit": limit, "candidates": max(CANDIDATES, limit)}
    if query is None:
        statement = full_text_sql()
    else:
        for setting in ITERATIVE_SCAN:
            await session.execute(text(setting))
        statement = hybrid_sql(query.dimensions)
        params.update(vector=query.literal(), model=query.model)
    rows = await session.execute(text(statement), params)
    return [PassageHit(int(r[0]), r[1], r[2], r[3], float(r[4])) for r in rows.all()]


def describe_hits(hits: Sequence[PassageHit]) -> str:
    """The passages as the tool hands them to the model: citation, heading path, text."""
    return "\n\n".join(f"[{hit.citation}] {hit.heading_path}\n{hit.body}" for hit in hits)
