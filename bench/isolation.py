"""Benchmark of tenant isolation: the same queries under row-level security against an explicit WHERE (baseline).

It builds at least a million rows across at least a hundred tenants (bookings mostly, with their itineraries
and travellers), then times two tenant-scoped queries:
- a traveller's bookings, newest first (what list_bookings runs);
- a month's spend of the whole tenant, summing (booking_details->>'amount')::numeric.

Arm RLS runs as the application role (NOBYPASSRLS) with the tenant bound by set_config(..., true) at the start
of the transaction, as storage.database.Database does, and no tenant filter in the query. The baseline runs
the same query as the owner role (BYPASSRLS) with an explicit `tenant_id = ...`. Both use one connection
each without prepared statements (as the product connects), are warmed up, and are measured alternately
(A/B, then B/A) on random tenants, travellers and months so that drift hits both alike.

    python -m bench.isolation [--tenants 100] [--rows 1000000] [--iterations 1000] [--explain]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from bench.latency import percentile
from bench.throwaway_servers import throwaway_servers
from storage.database import libpq_url

USERS_PER_TENANT = 20
TARGET_RATIO, TARGET_P50_MS = 1.2, 5.0
LOAD_CHUNK = 200_000
FIRST_DAY = dt.datetime(2026, 1, 1)

# Ids are derived from numbers on both sides (SQL md5(text)::uuid, Python md5 hex), so the loader needs no
# lookups and the benchmark can pick any tenant's traveller.
_LOAD_TENANTS = """
INSERT INTO tenants (id, name)
SELECT md5('tenant:' || t)::uuid, 'Company ' || t FROM generate_series(0, %(tenants)s::int - 1) t
"""
_LOAD_USERS = """
INSERT INTO users.tenant_users (tenant_id, user_id, display_name, email, role, timezone)
SELECT md5('tenant:' || t)::uuid, md5('user:' || t || ':' || u)::uuid, 'Traveller ' || u,
       'traveller' || u || '@company' || t || '.test', CASE WHEN u = 0 THEN 'admin' ELSE 'traveler' END,
       'Europe/Berlin'
FROM generate_series(0, %(tenants)s::int - 1) t, generate_series(0, %(users)s::int - 1) u
"""
# Row n belongs to tenant n % tenants, so each tenant's rows are spread over the whole table (as years of
# interleaved traffic leave them), not packed together.
_LOAD_ITINERARIES = """
INSERT INTO itineraries (tenant_id, itinerary_id, user_id, is_draft, start_date, end_date, destinations)
SELECT md5('tenant:' || t)::uuid, md5('itinerary:' || t || ':' || i)::uuid,
       md5('user:' || t || ':' || (i %% %(users)s))::uuid,
       i %% 10 = 0,
       date '2026-01-01' + (i * 37 %% 365), date '2026-01-01' + (i * 37 %% 365) + (i %% 5),
       jsonb_build_array((ARRAY['Berlin', 'Lisbon', 'Oslo', 'Madrid', 'Vienna'])[i %% 5 + 1])
FROM generate_series(%(first)s::bigint, %(last)s::bigint) n,
     LATERAL (SELECT (n %% %(tenants)s)::int AS t, (n / %(tenants)s)::int AS i) k
"""
_LOAD_BOOKINGS = """
INSERT INTO bookings (tenant_id, itinerary_id, user_id, booking_type, booking_details, status, created_at)
SELECT md5('tenant:' || t)::uuid, md5('itinerary:' || t || ':' || i)::uuid,
       md5('user:' || t || ':' || (i %% %(users)s))::uuid,
       (ARRAY['flight', 'hotel', 'train', 'car'])[n %% 4 + 1],
       jsonb_build_object(
           'amount', ((n * 31 %% 90000) / 100.0 + 20)::numeric(10, 2)::text, 'currency', 'EUR',
           'description', 'Booking ' || n, 'service_date', (date '2026-01-01' + (i * 37 %% 365))::text,
           'source', 'agent', 'policy', jsonb_build_object('status', 'ok', 'reasons', '[]'::jsonb)),
       CASE WHEN n %% 10 = 0 THEN 'cancelled' ELSE 'confirmed' END,
       timestamp '2026-01-01' + ((n::bigint * 7919) %% 31536000) * interval '1 second'
FROM generate_series(%(first)s::bigint, %(last)s::bigint) n,
     LATERAL (SELECT (n %% %(tenants)s)::int AS t, ((n / %(tenants)s) %% %(itineraries)s)::int AS i) k
"""

_USER_BOOKINGS = """
SELECT booking_id, itinerary_id, booking_type, booking_details, status, created_at FROM bookings
WHERE {tenant} user_id = %(user)s ORDER BY created_at DESC, booking_id LIMIT 50"""
_MONTH_SPEND = """
SELECT count(*), coalesce(sum((booking_details ->> 'amount')::numeric), 0) FROM bookings
WHERE {tenant} status = 'confirmed' AND created_at >= %(start)s AND created_at < %(stop)s"""
_EXPLICIT_TENANT = "tenant_id = %(tenant)s AND"


def numbered_id(kind: str, *parts: int) -> uuid.UUID:
    """The same id as SQL's md5('kind:' || parts joined by ':')::uuid."""
    return uuid.UUID(hashlib.md5(":".join([kind, *map(str, parts)]).encode()).hexdigest())  # noqa: S324


@dataclass(frozen=True)
class Scenario:
    """One random question: a tenant, one of its travellers and a month."""

    tenant: uuid.UUID
    user: uuid.UUID
    start: dt.datetime
    stop: dt.datetime

    @classmethod
    def draw(cls, rng: random.Random, tenants: int) -> Scenario:
        t, month = rng.randrange(tenants), rng.randrange(12)
        start = FIRST_DAY.replace(month=month + 1)
        stop = start.replace(year=start.year + 1, month=1) if month == 11 else start.replace(month=month + 2)
        return cls(
            numbered_id("tenant", t), numbered_id("user", t, rng.randrange(USERS_PER_TENANT)), start, stop
        )

    def params(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "user": self.user, "start": self.start, "stop": self.stop}


def build_rows(owner_url: str, *, tenants: int, rows: int) -> int:
    """Load tenants, travellers, itineraries (a fifth of `rows`) and bookings (the rest); returns the row count."""
    itineraries_per_tenant = max(1, rows // 5 // tenants)
    itineraries = itineraries_per_tenant * tenants
    bookings = max(rows - itineraries, tenants)
    settings = {"tenants": tenants, "users": USERS_PER_TENANT, "itineraries": itineraries_per_tenant}
    started = time.perf_counter()
    with psycopg.connect(libpq_url(owner_url), autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute(_LOAD_TENANTS, settings)
        conn.execute(_LOAD_USERS, settings)
        for table, statement, total in (
            ("itineraries", _LOAD_ITINERARIES, itineraries),
            ("bookings", _LOAD_BOOKINGS, bookings),
        ):
            for first in range(0, total, LOAD_CHUNK):
                conn.execute(
                    statement, {**settings, "first": first, "last": min(first + LOAD_CHUNK, total) - 1}
                )
            print(f"  loaded {total:,} {table}", flush=True)
        conn.execute("VACUUM (ANALYZE) tenants, users.tenant_users, itineraries, bookings")
        counted = {
            table: int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]
            for table in ("tenants", "users.tenant_users", "itineraries", "bookings")
        }
    total_rows = sum(counted.values())
    print(
        f"Built {total_rows:,} rows across {counted['tenants']} tenants in {time.perf_counter() - started:.0f} s: "
        + ", ".join(f"{table} {count:,}" for table, count in counted.items())
    )
    return total_rows


class Arm:
    """One way of asking: its own connection, role and statement, timed one transaction at a time."""

    def __init__(self, name: str, url: str, statement: str, *, binds_tenant: bool) -> None:
        self.name, self.statement, self.binds_tenant = name, statement, binds_tenant
        # As the product connects: no server-side prepared statements (PgBouncer), UTC.
        self.conn = psycopg.connect(
            libpq_url(url), autocommit=True, prepare_threshold=None, options="-c timezone=UTC"
        )
        self.query_ms: list[float] = []
        self.transaction_ms: list[float] = []

    def ask(self, scenario: Scenario, *, record: bool = True) -> list[tuple[Any, ...]]:
        began = time.perf_counter()
        self.conn.execute("BEGIN")
        if self.binds_tenant:
            self.conn.execute("SELECT set_config('app.tenant_id', %s, true)", (str(scenario.tenant),))
        asked = time.perf_counter()
        rows = self.conn.execute(self.statement, scenario.params()).fetchall()
        answered = time.perf_counter()
        self.conn.execute("COMMIT")
        if record:
            self.query_ms.append((answered - asked) * 1000)
            self.transaction_ms.append((time.perf_counter() - began) * 1000)
        return rows

    def explain(self, scenario: Scenario) -> str:
        """The plan and buffers of one warm run (run once before, so the cache is the same for both arms)."""
        self.ask(scenario, record=False)
        with self.conn.transaction():
            if self.binds_tenant:
                self.conn.execute("SELECT set_config('app.tenant_id', %s, true)", (str(scenario.tenant),))
            plan = self.conn.execute(
                "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + self.statement, scenario.params()
            )
            return "\n".join(f"    {row[0]}" for row in plan.fetchall())

    def close(self) -> None:
        self.conn.close()


def compare(
    rls: Arm, baseline: Arm, scenarios: Callable[[], Scenario], *, iterations: int, warmup: int
) -> None:
    """Warm both arms, then measure them alternately; both must return the same rows every time."""
    for _ in range(warmup):
        scenario = scenarios()
        rls.ask(scenario, record=False)
        baseline.ask(scenario, record=False)
    for n in range(iterations):
        scenario = scenarios()
        first, second = (rls, baseline) if n % 2 == 0 else (baseline, rls)
        answers = {first.name: first.ask(scenario), second.name: second.ask(scenario)}
        if answers[rls.name] != answers[baseline.name]:
            raise AssertionError(f"RLS and the explicit WHERE disagree for tenant {scenario.tenant}")


def report(title: str, rls: Arm, baseline: Arm) -> bool:
    """Print p50/p95 of both arms and their ratios; True when the query meets the targets."""
    print(f"\n{title}  ({len(rls.query_ms)} measurements each, interleaved)")
    passed = True
    for label, rls_ms, base_ms in (
        ("query", rls.query_ms, baseline.query_ms),
        ("transaction incl. tenant binding", rls.transaction_ms, baseline.transaction_ms),
    ):
        r50, r95, b50, b95 = (
            percentile(rls_ms, 0.5),
            percentile(rls_ms, 0.95),
            percentile(base_ms, 0.5),
            percentile(base_ms, 0.95),
        )
        print(f"  {label}:")
        print(f"    RLS, application role     p50 {r50:7.3f} ms   p95 {r95:7.3f} ms")
        print(f"    explicit WHERE, owner     p50 {b50:7.3f} ms   p95 {b95:7.3f} ms")
        print(f"    ratio RLS / explicit      p50 {r50 / b50:7.2f} ×    p95 {r95 / b95:7.2f} ×")
        if label == "query":
            ok = r50 / b50 <= TARGET_RATIO and r50 < TARGET_P50_MS
            passed &= ok
            print(
                f"    {'PASS' if ok else 'FAIL'}: p50 ratio {r50 / b50:.2f} (target ≤ {TARGET_RATIO}), "
                f"RLS p50 {r50:.3f} ms (target < {TARGET_P50_MS:.0f} ms)"
            )
    return passed


def main(*, tenants: int, rows: int, iterations: int, explain: bool, seed: int) -> bool:
    rng = random.Random(seed)
    with throwaway_servers() as urls:
        build_rows(urls.owner_database_url, tenants=tenants, rows=rows)
        verdicts = []
        for title, template in (
            ("A traveller's bookings", _USER_BOOKINGS),
            ("A month's spend of the tenant", _MONTH_SPEND),
        ):
            rls = Arm("rls", urls.app_database_url, template.format(tenant=""), binds_tenant=True)
            baseline = Arm(
                "baseline",
                urls.owner_database_url,
                template.format(tenant=_EXPLICIT_TENANT),
                binds_tenant=False,
            )
            try:
                compare(rls, baseline, lambda: Scenario.draw(rng, tenants), iterations=iterations, warmup=100)
                passed = report(title, rls, baseline)
                if explain or not passed:
                    scenario = Scenario.draw(rng, tenants)
                    for arm in (rls, baseline):
                        print(f"  EXPLAIN ANALYZE, {arm.name}:\n{arm.explain(scenario)}")
                verdicts.append(passed)
            finally:
                rls.close()
                baseline.close()
    overall = all(verdicts)
    print(f"\nOverall: {'PASS' if overall else 'FAIL'}")
    return overall


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--rows", type=int, default=1_000_000, help="itineraries and bookings together")
    parser.add_argument("--iterations", type=int, default=1000, help="measurements per arm and query")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of both arms")
    parser.add_argument("--seed", type=int, default=7)
    arguments = parser.parse_args()
    ok = main(
        tenants=arguments.tenants,
        rows=arguments.rows,
        iterations=arguments.iterations,
        explain=arguments.explain,
        seed=arguments.seed,
    )
    raise SystemExit(0 if ok else 1)
