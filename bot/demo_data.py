"""Demo data: realistic tenants, travellers, trips, bookings, history and analytics, generated in the database.

Every tenant is written by one set-based statement per table (INSERT ... SELECT over generate_series) in its
own transaction, through the application role and bound to that tenant, so row-level security checks every
row and every constraint holds. Randomness comes from `hashint8extended(key, seed)`, so the same seed, shape
and end date give the same rows whatever the order or parallelism. A tenant that already exists is skipped,
which makes a second run with the same seed a no-op and an interrupted run resumable.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import typer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.demo_catalogue import CITY_CAPS, COMPANY_WORDS, HOMES
from bot.demo_sql import INSERT_TRIPS, INSERT_USERS
from storage.database import Database
from storage.errors import InvalidInput


@dataclass(frozen=True)
class DemoShape:
    """How much to generate: tenants, travellers per tenant, completed trips per traveller, and when."""

    tenants: int
    users: int
    trips: int
    seed: int = 7
    until: dt.date = dt.date(2026, 11, 30)
    years: int = 3

    def __post_init__(self) -> None:
        if not 1 <= self.tenants <= 100_000:
            raise InvalidInput("--tenants must be between 1 and 100,000.")
        if not 1 <= self.users <= 10_000:
            raise InvalidInput("--users must be between 1 and 10,000 per tenant.")
        if not 0 <= self.trips <= 10_000:
            raise InvalidInput("--trips must be between 0 and 10,000 per traveller.")
        if not 1 <= self.years <= 20:
            raise InvalidInput("--years must be between 1 and 20.")
        if not 0 <= self.seed < 2**31:
            raise InvalidInput("--seed must be a whole number from 0 to 2147483647.")

    @property
    def analytics_rows(self) -> int:
        return self.tenants * self.users * self.trips


@dataclass(frozen=True)
class DemoSummary:
    """What a run wrote: tenants created now, tenants that already existed, and trips written."""

    created: int
    skipped: int
    trips: int


def _uuid(*parts: object) -> uuid.UUID:
    return uuid.UUID(bytes=hashlib.md5(":".join(map(str, parts)).encode()).digest())  # noqa: S324 - ids, not security


def demo_tenant_id(seed: int, number: int) -> uuid.UUID:
    """The id of demo tenant `number` (1-based) for `seed`; the same in SQL as md5(seed:tenant:n)::uuid."""
    return _uuid(seed, "tenant", number)


def demo_user_id(seed: int, tenant_number: int, user_number: int) -> uuid.UUID:
    """The id of demo traveller `user_number` (1-based; 1 is the tenant's admin) of demo tenant `tenant_number`."""
    return _uuid(seed, "user", tenant_number, user_number)


@dataclass(frozen=True)
class _Tenant:
    number: int
    tenant_id: uuid.UUID
    name: str
    currency: str
    fx: str
    home_airport: str
    home_region: str


def _tenant(shape: DemoShape, number: int) -> _Tenant:
    digest = hashlib.sha256(f"{shape.seed}:home:{number}".encode()).digest()
    currency, fx, airport, region = HOMES[digest[0] % len(HOMES)]
    first, second = COMPANY_WORDS
    name = f"{first[digest[1] % len(first)]} {second[digest[2] % len(second)]}"
    if shape.tenants > len(first) * len(second):
        name += f" {number:04d}"
    return _Tenant(number, demo_tenant_id(shape.seed, number), name, currency, fx, airport, region)


def _preferences(tenant: _Tenant, *, advance_days: int) -> dict[str, object]:
    fx = float(tenant.fx)
    return {
        "currency": tenant.currency,
        "home_airport": tenant.home_airport,
        "policy.trip_budget": {"amount": round(2500 * fx), "currency": tenant.currency},
        "policy.hotel.max_nightly_rate": {"amount": round(170 * fx), "currency": tenant.currency},
        "policy.hotel.city_caps": {
            city: {"amount": int(amount), "currency": currency}
            for city, (currency, amount) in CITY_CAPS.items()
        },
        "policy.advance_booking_days": advance_days,
    }


async def _write_tenant(session: AsyncSession, shape: DemoShape, tenant: _Tenant) -> bool:
    """Write one whole tenant in the session's transaction; False when it already exists."""
    await session.execute(text("SET LOCAL synchronous_commit = off"))
    created = await session.execute(
        text(
            "INSERT INTO tenants (id, name) VALUES (:tenant, :name) ON CONFLICT (id) DO NOTHING RETURNING id"
        ),
        {"tenant": tenant.tenant_id, "name": tenant.name},
    )
    if created.first() is None:
        return False
    advance_days = (0, 7, 14)[tenant.number % 3]
    preferences = _preferences(tenant, advance_days=advance_days)
    await session.execute(
        text(
            "INSERT INTO tenant_preferences (tenant_id, preference_key, preference_value) "
            "SELECT :tenant, key, value FROM jsonb_each(CAST(:prefs AS jsonb))"
        ),
        {"tenant": tenant.tenant_id, "prefs": json.dumps(preferences)},
    )
    domain = f"{tenant.name.lower().replace(' ', '-')}-{tenant.number}.example"
    params = {
        "tenant": tenant.tenant_id,
        "tenant_no": tenant.number,
        "seed": shape.seed,
        "users": shape.users,
        "trips": shape.trips,
        "years": shape.years,
        "until": shape.until,
        "currency": tenant.currency,
        "fx": float(tenant.fx),
        "home_airport": tenant.home_airport,
        "home_region": tenant.home_region,
        "advance_days": advance_days,
        "domain": domain,
        "timezone": "America/New_York" if tenant.home_region == "na" else "Europe/Berlin",
        "max_nightly": preferences["policy.hotel.max_nightly_rate"]["amount"],  # type: ignore[index]
    }
    await session.execute(text(INSERT_USERS), params)
    if shape.trips:
        await session.execute(text(INSERT_TRIPS), params)
    await session.execute(
        text(
            "INSERT INTO audit_log (tenant_id, actor, action, entity, entity_id, details) "
            "VALUES (:tenant, 'operator', 'demo_data.generate', 'tenant', :tenant_text, CAST(:details AS jsonb))"
        ),
        {
            "tenant": tenant.tenant_id,
            "tenant_text": str(tenant.tenant_id),
            "details": json.dumps({"seed": shape.seed, "users": shape.users, "trips": shape.trips}),
        },
    )
    return True


async def generate_demo_data(
    db: Database,
    shape: DemoShape,
    *,
    workers: int = 2,
    on_tenant: Callable[[int], None] | None = None,
) -> DemoSummary:
    """Generate `shape` through the application role, `workers` tenants at a time.

    `on_tenant(trips)` is called after each tenant (for a progress bar) with the trips it wrote.
    """
    numbers = iter(range(1, shape.tenants + 1))
    created = skipped = trips = 0

    async def worker() -> None:
        nonlocal created, skipped, trips
        for number in numbers:
            tenant = _tenant(shape, number)
            async with db.tenant(tenant.tenant_id) as session:
                wrote = await _write_tenant(session, shape, tenant)
            written = shape.users * shape.trips if wrote else 0
            created, skipped, trips = created + wrote, skipped + (not wrote), trips + written
            if on_tenant is not None:
                on_tenant(written)

    await asyncio.gather(*(worker() for _ in range(max(1, workers))))
    return DemoSummary(created=created, skipped=skipped, trips=trips)


async def refresh_statistics(owner: Database) -> None:
    """VACUUM ANALYZE the spend tables after a bulk load (as the owner), so plans and index-only scans fit."""
    async with owner.engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        for table in (
            "users.tenant_users",
            "tenant_preferences",
            "itineraries",
            "itinerary_details",
            "bookings",
            "user_travel_history",
            "travel_analytics",
            "completed_trips",
        ):
            await autocommit.execute(text(f"VACUUM (ANALYZE) {table}"))


def demo_data_command(
    tenants: Annotated[int, typer.Option(min=1, help="Tenants (companies) to create.")] = 3,
    users: Annotated[int, typer.Option(min=1, help="Travellers per tenant; the first is its admin.")] = 10,
    trips: Annotated[int, typer.Option(min=0, help="Completed trips per traveller.")] = 20,
    seed: Annotated[int, typer.Option(min=0, help="The same seed and --until give the same data.")] = 7,
    years: Annotated[int, typer.Option(min=1, max=20, help="Years of history before --until.")] = 3,
    until: Annotated[
        str | None, typer.Option(help="The day the history runs up to, YYYY-MM-DD (default: today, UTC).")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, max=16, help="Tenants written at a time.")] = 2,
) -> None:
    """Generate realistic demo tenants, travellers, trips, bookings, history and analytics."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from bot.cli import endpoints, out, run

    async def generate() -> tuple[DemoShape, DemoSummary, bool]:
        try:
            end = dt.date.fromisoformat(until) if until else dt.datetime.now(dt.UTC).date()
        except ValueError:
            raise InvalidInput(f"--until '{until}' is not a date written as YYYY-MM-DD.") from None
        shape = DemoShape(tenants=tenants, users=users, trips=trips, seed=seed, until=end, years=years)
        app = Database(where.database_url, pool_size=workers + 1)
        owner = Database(where.owner_url, pool_size=1) if where.owner_url else None
        try:
            with Progress(
                TextColumn("[bold]Demo data"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("tenants"),
                TextColumn("{task.fields[trips]:,} trips"),
                TimeElapsedColumn(),
                console=out,
            ) as progress:
                task = progress.add_task("tenants", total=shape.tenants, trips=0)

                def advance(written: int) -> None:
                    progress.update(task, advance=1, trips=progress.tasks[task].fields["trips"] + written)

                summary = await generate_demo_data(app, shape, workers=workers, on_tenant=advance)
            if owner is not None and summary.created:
                await refresh_statistics(owner)
            return shape, summary, owner is not None
        finally:
            await app.dispose()
            if owner is not None:
                await owner.dispose()

    where = endpoints()
    shape, summary, vacuumed = run(generate)
    out.print(
        f"[green]Created {summary.created} {'tenant' if summary.created == 1 else 'tenants'}[/green] with {summary.trips:,} trips"
        + (f"; {summary.skipped} were already there" if summary.skipped else "")
        + f". Seed {shape.seed}, history up to {shape.until.isoformat()} (pass --until to repeat it)."
    )
    if not vacuumed:
        out.print(
            "[dim]Set DATABASE_OWNER_URL to refresh planner statistics now; autovacuum will otherwise.[/dim]"
        )
