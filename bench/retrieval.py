"""Benchmark of policy search: full-text and hybrid search under row-level security against an explicit WHERE.

It loads `--tenants` companies with `--passages` policy passages each (1,000 x 1,000 = 1M rows by default),
each tenant's passages together, as an upload writes a document's passages in one transaction. Each passage is generated from one of 64
topics: its words come mostly from the topic's vocabulary, and its synthetic 384-dimension vector is the
topic's centre plus noise, so vector neighbours and word matches agree as they do for real embeddings.

Then it times the product's own statements (storage.policy_search):
- full text: `full_text_sql()` as the application role under RLS, against `full_text_sql(explicit_tenant=True)`
  as the owner (BYPASSRLS) with `tenant_id = ...`;
- hybrid: the same pair of `hybrid_sql()`, with the iterative HNSW scan settings the product uses;
and measures recall@10 of the vector search, as planned and with the HNSW index scan forced, against exact
search over the tenant's rows. Measurements alternate between the arms on random tenants and questions.

    python -m bench.retrieval [--tenants 1000] [--passages 1000] [--iterations 500] [--no-vectors]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from bench.latency import percentile
from bench.throwaway_servers import throwaway_servers
from storage.database import libpq_url
from storage.policy_search import CANDIDATES, ITERATIVE_SCAN, full_text_sql, hybrid_sql, semantic_sql

DIMENSIONS = 384
TOPICS = 64
TOPIC_WORDS = 24
WORDS_PER_PASSAGE = 40
TARGET_P50_MS, TARGET_RATIO, TARGET_RECALL = 20.0, 1.2, 0.95
EMBEDDING_MODEL = "synthetic-384"
LOAD_BATCH = 20_000
_COMMON = (  # noqa: SIM905 - a sentence of words reads better than a column of them
    "travel policy employee company trip booking approval manager expense receipt hotel flight rail "
    "taxi meal allowance reimbursed limit class economy business night city country cost budget "
    "insurance card currency tool agency cancel change fee airport station car mileage parking "
    "lounge baggage seat visa passport safety emergency conference client dinner tip alcohol weekend "
    "family partner carbon"
).split()


def numbered_id(kind: str, number: int) -> uuid.UUID:
    return uuid.UUID(hashlib.md5(f"{kind}:{number}".encode()).hexdigest())  # noqa: S324


@dataclass(frozen=True)
class Corpus:
    """The topics: each with its own words and its centre in vector space."""

    words: list[list[str]]
    centres: np.ndarray

    @classmethod
    def make(cls, rng: np.random.Generator) -> Corpus:
        words = [
            [f"{_COMMON[(t * 7 + i) % len(_COMMON)]}{t}x{i}" for i in range(TOPIC_WORDS)]
            for t in range(TOPICS)
        ]
        centres = rng.normal(size=(TOPICS, DIMENSIONS)).astype(np.float32)
        return cls(words, centres / np.linalg.norm(centres, axis=1, keepdims=True))

    def passage(self, rng: random.Random, topic: int) -> str:
        own = rng.choices(self.words[topic], k=WORDS_PER_PASSAGE * 2 // 3)
        common = rng.choices(_COMMON, k=WORDS_PER_PASSAGE - len(own))
        mixed = own + common
        rng.shuffle(mixed)
        return " ".join(mixed)

    def vectors(self, rng: np.random.Generator, topics: np.ndarray, noise: float) -> np.ndarray:
        """Unit vectors near their topic's centre; `noise` is the length of the random part (the centre's is 1)."""
        scale = noise / np.sqrt(DIMENSIONS)
        raw = self.centres[topics] + rng.normal(scale=scale, size=(len(topics), DIMENSIONS)).astype(
            np.float32
        )
        return raw / np.linalg.norm(raw, axis=1, keepdims=True)


def topic_of(tenant: int, position: int) -> int:
    return (tenant * 31 + position * 17) % TOPICS


def passage_rows(
    corpus: Corpus, *, tenants: int, passages: int, vectors: bool, seed: int
) -> Iterator[list[tuple[Any, ...]]]:
    """Batches of passage rows; row n is passage n % passages of tenant n // passages."""
    rng, np_rng = random.Random(seed), np.random.default_rng(seed)
    total = tenants * passages
    for first in range(0, total, LOAD_BATCH):
        numbers = range(first, min(first + LOAD_BATCH, total))
        topics = np.array([topic_of(*divmod(n, passages)) for n in numbers])
        embedded = corpus.vectors(np_rng, topics, noise=0.9) if vectors else None
        batch = []
        for i, n in enumerate(numbers):
            tenant, position = divmod(n, passages)
            body = corpus.passage(rng, int(topics[i]))
            row: tuple[Any, ...] = (
                numbered_id("tenant", tenant),
                numbered_id("document", tenant),
                position,
                f"{position // 10 + 1} Section > {position // 10 + 1}.{position % 10 + 1} Rule",
                body,
            )
            if embedded is not None:
                row += (embedded[i], EMBEDDING_MODEL, DIMENSIONS)
            batch.append(row)
        yield batch


def build_rows(
    owner_url: str, corpus: Corpus, *, tenants: int, passages: int, vectors: bool, seed: int
) -> None:
    """Load tenants, one document each and their passages; build the indexes after the rows, as a restore does."""
    started = time.perf_counter()
    total = tenants * passages
    with psycopg.connect(libpq_url(owner_url), autocommit=True) as conn:
        register_vector(conn)
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '2GB'")
        conn.execute(
            "INSERT INTO tenants (id, name) SELECT md5('tenant:' || t)::uuid, 'Company ' || t "
            "FROM generate_series(0, %(n)s::int - 1) t",
            {"n": tenants},
        )
        conn.execute(
            "INSERT INTO policy_documents (tenant_id, document_id, title, filename, media_type, sha256) "
            "SELECT md5('tenant:' || t)::uuid, md5('document:' || t)::uuid, 'Travel Policy', 'policy.md', "
            "'markdown', md5('sha:' || t) || md5('sha2:' || t) FROM generate_series(0, %(n)s::int - 1) t",
            {"n": tenants},
        )
        conn.execute(f"DROP INDEX policy_passages_search, policy_passages_embedding_{DIMENSIONS}")
        columns = "tenant_id, document_id, position, heading_path, body"
        types = ["uuid", "uuid", "int4", "text", "text"]
        if vectors:
            columns += ", embedding, embedding_model, embedding_dimensions"
            types += ["vector", "varchar", "int4"]
        loaded = 0
        for batch in passage_rows(corpus, tenants=tenants, passages=passages, vectors=vectors, seed=seed):
            with conn.cursor().copy(f"COPY policy_passages ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(types)
                for row in batch:
                    copy.write_row(row)
            loaded += len(batch)
            if loaded % (LOAD_BATCH * 10) == 0 or loaded == total:
                rate = loaded / (time.perf_counter() - started)
                print(f"  loaded {loaded:,} / {total:,} passages ({rate:,.0f} rows/s)", flush=True)
        print("  building the GIN full-text index ...", flush=True)
        conn.execute("CREATE INDEX policy_passages_search ON policy_passages USING gin (search)")
        if vectors:
            print(f"  building the HNSW index on {total:,} vectors (the slow part) ...", flush=True)
            began = time.perf_counter()
            conn.execute(
                f"CREATE INDEX policy_passages_embedding_{DIMENSIONS} ON policy_passages USING hnsw "
                f"((embedding::vector({DIMENSIONS})) vector_cosine_ops) WHERE embedding_dimensions = {DIMENSIONS}"
            )
            print(f"  HNSW index built in {time.perf_counter() - began:.0f} s", flush=True)
        conn.execute("VACUUM (ANALYZE) tenants, policy_documents, policy_passages")
    print(f"Built {total:,} passages across {tenants:,} tenants in {time.perf_counter() - started:.0f} s")


@dataclass(frozen=True)
class Question:
    tenant: uuid.UUID
    text: str
    vector: np.ndarray

    @classmethod
    def draw(cls, rng: random.Random, np_rng: np.random.Generator, corpus: Corpus, tenants: int) -> Question:
        topic = rng.randrange(TOPICS)
        words = rng.sample(corpus.words[topic], 2) + rng.sample(_COMMON, 1)
        return cls(
            numbered_id("tenant", rng.randrange(tenants)),
            " ".join(words),
            corpus.vectors(np_rng, np.array([topic]), noise=0.5)[0],
        )

    def params(self) -> dict[str, Any]:
        return {
            "tenant": str(self.tenant),
            "question": self.text,
            "vector": "[" + ",".join(f"{v:.6g}" for v in self.vector) + "]",
            "model": EMBEDDING_MODEL,
            "limit": 10,
            "candidates": CANDIDATES,
        }


class Arm:
    """One way of asking: its own connection and role, settings for the transaction, one statement."""

    def __init__(
        self, name: str, url: str, statement: str, *, binds_tenant: bool, prelude: tuple[str, ...] = ()
    ) -> None:
        self.name, self.statement, self.binds_tenant, self.prelude = name, statement, binds_tenant, prelude
        self.conn = psycopg.connect(
            libpq_url(url), autocommit=True, prepare_threshold=None, options="-c timezone=UTC"
        )
        self.query_ms: list[float] = []

    def ask(self, question: Question, *, record: bool = True) -> list[tuple[Any, ...]]:
        self.conn.execute("BEGIN")
        if self.binds_tenant:
            self.conn.execute("SELECT set_config('app.tenant_id', %s, true)", (str(question.tenant),))
        for setting in self.prelude:
            self.conn.execute(setting)
        asked = time.perf_counter()
        rows = self.conn.execute(self.statement, question.params()).fetchall()
        answered = time.perf_counter()
        self.conn.execute("COMMIT")
        if record:
            self.query_ms.append((answered - asked) * 1000)
        return rows

    def close(self) -> None:
        self.conn.close()


def compare(rls: Arm, baseline: Arm, questions: list[Question], *, warmup: int = 50) -> int:
    """Warm up, then alternate the arms; returns how many answers differed (ties may order differently)."""
    for question in questions[:warmup]:
        rls.ask(question, record=False)
        baseline.ask(question, record=False)
    differing = 0
    for n, question in enumerate(questions):
        first, second = (rls, baseline) if n % 2 == 0 else (baseline, rls)
        answers = {first.name: first.ask(question), second.name: second.ask(question)}
        differing += {r[0] for r in answers[rls.name]} != {r[0] for r in answers[baseline.name]}
    return differing


def report(title: str, rls: Arm, baseline: Arm, differing: int) -> bool:
    r50, r95 = percentile(rls.query_ms, 0.5), percentile(rls.query_ms, 0.95)
    b50, b95 = percentile(baseline.query_ms, 0.5), percentile(baseline.query_ms, 0.95)
    ok = r50 < TARGET_P50_MS and r50 / b50 <= TARGET_RATIO
    print(f"\n{title}  ({len(rls.query_ms)} measurements each, interleaved; {differing} answers differed)")
    print(f"    RLS, application role     p50 {r50:7.3f} ms   p95 {r95:7.3f} ms")
    print(f"    explicit WHERE, owner     p50 {b50:7.3f} ms   p95 {b95:7.3f} ms")
    print(f"    ratio RLS / explicit      p50 {r50 / b50:7.2f} x    p95 {r95 / b95:7.2f} x")
    print(
        f"    {'PASS' if ok else 'FAIL'}: RLS p50 {r50:.2f} ms (target < {TARGET_P50_MS:.0f}), ratio {r50 / b50:.2f} (target <= {TARGET_RATIO})"
    )
    return ok


_NEAREST = f"SELECT passage_id FROM ({semantic_sql(DIMENSIONS)}) ranked ORDER BY rank LIMIT 10"
_EXACT = f"""
    WITH mine AS MATERIALIZED (
        SELECT passage_id, embedding FROM policy_passages
        WHERE embedding_dimensions = {DIMENSIONS} AND embedding_model = %(model)s)
    SELECT passage_id FROM mine
    ORDER BY embedding::vector({DIMENSIONS}) <=> CAST(%(vector)s AS vector({DIMENSIONS})), passage_id LIMIT 10"""


def recall(app_url: str, questions: list[Question], *, forced: bool) -> tuple[float, float]:
    """Mean recall@10 of the vector search under RLS against exact search, and its p50 in ms."""
    prelude = (
        *ITERATIVE_SCAN,
        *(("SET LOCAL enable_sort = off", "SET LOCAL enable_seqscan = off") if forced else ()),
    )
    approximate = Arm("approximate", app_url, _psycopg(_NEAREST), binds_tenant=True, prelude=prelude)
    exact = Arm("exact", app_url, _EXACT, binds_tenant=True)
    try:
        found = []
        for question in questions:
            truth = {r[0] for r in exact.ask(question, record=False)}
            got = {r[0] for r in approximate.ask(question)}
            found.append(len(truth & got) / max(1, len(truth)))
        return sum(found) / len(found), percentile(approximate.query_ms, 0.5)
    finally:
        approximate.close()
        exact.close()


def explain(arm: Arm, question: Question) -> None:
    """The plan of one warm run of an arm."""
    arm.ask(question, record=False)
    with arm.conn.transaction():
        if arm.binds_tenant:
            arm.conn.execute("SELECT set_config('app.tenant_id', %s, true)", (str(question.tenant),))
        for setting in arm.prelude:
            arm.conn.execute(setting)
        plan = arm.conn.execute("EXPLAIN (ANALYZE, COSTS OFF) " + arm.statement, question.params()).fetchall()
    print(f"  EXPLAIN ANALYZE, {arm.name}:\n" + "\n".join(f"    {row[0]}" for row in plan))


def _psycopg(statement: str) -> str:
    """SQLAlchemy's :name binds as psycopg's %(name)s (the statements hold no other colons or percents)."""
    return re.sub(r"(?<!:):(question|vector|model|limit|candidates|tenant)\b", r"%(\1)s", statement)


def main(*, tenants: int, passages: int, iterations: int, vectors: bool, seed: int, show_plans: bool) -> bool:
    corpus = Corpus.make(np.random.default_rng(seed))
    rng, np_rng = random.Random(seed + 1), np.random.default_rng(seed + 1)
    questions = [Question.draw(rng, np_rng, corpus, tenants) for _ in range(iterations)]
    verdicts = []
    with throwaway_servers() as urls:
        build_rows(
            urls.owner_database_url, corpus, tenants=tenants, passages=passages, vectors=vectors, seed=seed
        )
        arms = [("Full-text search", full_text_sql(), full_text_sql(explicit_tenant=True), ())]
        if vectors:
            arms.append(
                (
                    "Hybrid search (vectors + full text, RRF)",
                    hybrid_sql(DIMENSIONS),
                    hybrid_sql(DIMENSIONS, explicit_tenant=True),
                    ITERATIVE_SCAN,
                )
            )
        for title, under_rls, explicit, prelude in arms:
            rls = Arm("rls", urls.app_database_url, _psycopg(under_rls), binds_tenant=True, prelude=prelude)
            baseline = Arm(
                "baseline", urls.owner_database_url, _psycopg(explicit), binds_tenant=False, prelude=prelude
            )
            try:
                verdicts.append(report(title, rls, baseline, compare(rls, baseline, questions)))
                if show_plans:
                    explain(rls, questions[0])
                    explain(baseline, questions[0])
            finally:
                rls.close()
                baseline.close()
        if vectors:
            sample = questions[: min(200, len(questions))]
            for label, forced in (("as planned", False), ("HNSW index scan forced", True)):
                value, p50 = recall(urls.app_database_url, sample, forced=forced)
                ok = value >= TARGET_RECALL
                verdicts.append(ok)
                print(
                    f"\nRecall@10 of the vector search under RLS, {label}: {value:.3f} (p50 {p50:.2f} ms) "
                    f"{'PASS' if ok else 'FAIL'} (target >= {TARGET_RECALL})"
                )
    overall = all(verdicts)
    print(f"\nOverall: {'PASS' if overall else 'FAIL'}")
    return overall


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--passages", type=int, default=1000, help="passages per tenant")
    parser.add_argument("--iterations", type=int, default=500, help="questions per arm")
    parser.add_argument("--no-vectors", action="store_true", help="full text only (no embeddings, no HNSW)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of both arms")
    arguments = parser.parse_args()
    passed = main(
        tenants=arguments.tenants,
        passages=arguments.passages,
        iterations=arguments.iterations,
        vectors=not arguments.no_vectors,
        seed=arguments.seed,
        show_plans=arguments.explain,
    )
    raise SystemExit(0 if passed else 1)
