"""`travelmate trips export`: a traveller's upcoming trips as an ICS calendar file, for operators and scripts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:  # the calendar library loads only when a calendar is made
    from agent.trip_calendar import TripCalendar
    from storage.database import Database

trips_app = typer.Typer(help="Travellers' trips.", no_args_is_help=True)


@trips_app.command("export")
def trips_export(
    tenant: Annotated[str, typer.Option("--tenant", "-t", help="Tenant id or exact name.")],
    user: Annotated[str, typer.Option("--user", "-u", help="The traveller's email.")],
    output: Annotated[
        Path | None, typer.Option(help="Where to write the .ics file (default: ./<email>-trips.ics).")
    ] = None,
) -> None:
    """Write a traveller's upcoming confirmed trips as an ICS file: flights, hotel stays and meetings."""
    from bot.cli import out, with_databases

    email, calendar = with_databases(
        lambda app_db, owner_db: _calendar(app_db, owner_db, tenant=tenant, email=user)
    )
    target = output or Path(f"{email.split('@')[0]}-trips.ics")
    target.write_bytes(calendar.content)
    out.print(f"Wrote {calendar.events} events of {calendar.trips} trips to {target}", soft_wrap=True)


async def _calendar(app: Database, owner: Database, *, tenant: str, email: str) -> tuple[str, TripCalendar]:
    from agent.trip_calendar import upcoming_trip_calendar
    from bot.operator_commands import find_tenant
    from storage.errors import NotFound
    from storage.tenants import find_user_by_email

    found = await find_tenant(owner, tenant)
    async with app.tenant(found.id) as session:
        person = await find_user_by_email(session, email=email)
        if person is None:
            raise NotFound(f"No user with the email {email} in {found.name}.")
        calendar = await upcoming_trip_calendar(
            session, user_id=person.user_id, home_zone=person.timezone, now=dt.datetime.now(dt.UTC)
        )
    return person.email or email, calendar


def register_trips(app: typer.Typer) -> None:
    app.add_typer(trips_app, name="trips")
