"""`travelmate policy add` and `travelmate policy reindex`: the company's policy documents from the shell."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from agent.embeddings import build_embedder, reembed
from agent.library_commands import added_sentence, read_local_file
from agent.policy_library import PolicyLibrary
from bot import operator_commands as operations
from storage.audit import OPERATOR
from storage.database import Database
from storage.policy_documents import ensure_vector_index
from storage.settings import get_settings
from storage.vectors import EMBEDDED_TABLES, stale_counts

policy_app = typer.Typer(help="The company's travel-policy documents.", no_args_is_help=True)
out = Console()


@policy_app.command("add")
def policy_add(
    file: Annotated[Path, typer.Argument(help="A Markdown, PDF or plain-text policy document.")],
    tenant: Annotated[str, typer.Option("--tenant", "-t", help="Tenant id or exact name.")],
) -> None:
    """Add a travel-policy document to a tenant; the agent cites it when asked about policy."""
    from bot.cli import with_databases

    filename, content = read_local_file(str(file))

    async def add(app_db: Database, owner_db: Database) -> str:
        found = await operations.find_tenant(owner_db, tenant)
        library = PolicyLibrary(app_db, build_embedder(get_settings()))
        document, passages = await library.add(
            tenant_id=found.id, actor=OPERATOR, filename=filename, content=content, is_admin=True
        )
        return f"{found.name}: {added_sentence(document.title, passages)}"

    out.print(f"[green]{with_databases(add)}[/green]")


@policy_app.command("reindex")
def policy_reindex(
    tenant: Annotated[
        str | None, typer.Option("--tenant", "-t", help="Only this tenant (default: every tenant).")
    ] = None,
) -> None:
    """Embed every policy passage and travel memory again with the configured embedding model (after a change)."""
    from bot.cli import with_databases

    embedder = build_embedder(get_settings())
    if embedder is None:
        out.print(
            "No embedding model is configured (TRAVELMATE_EMBEDDING_MODEL), so policy search is full text "
            "and there is nothing to embed."
        )
        return

    async def reindex(app_db: Database, owner_db: Database) -> dict[str, int]:
        only = (await operations.find_tenant(owner_db, tenant)).id if tenant else None
        async with owner_db.unscoped() as session:
            if await ensure_vector_index(session, dimensions=embedder.dimensions):
                out.print(f"Created the vector index for {embedder.dimensions} dimensions.")
            stale = {
                table.label: {
                    tenant_id: count
                    for tenant_id, count in (
                        await stale_counts(
                            session, table, model=embedder.model, dimensions=embedder.dimensions
                        )
                    ).items()
                    if only is None or tenant_id == only
                }
                for table in EMBEDDED_TABLES
            }
        done = dict.fromkeys(stale, 0)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=out) as progress:
            for table in EMBEDDED_TABLES:
                task = progress.add_task(
                    f"Embedding {table.label} with {embedder.model}", total=sum(stale[table.label].values())
                )
                for tenant_id in sorted(stale[table.label]):
                    done[table.label] += await reembed(
                        app_db,
                        embedder,
                        table,
                        tenant_id=tenant_id,
                        progress=functools.partial(progress.advance, task),
                    )
        return done

    done = with_databases(reindex)
    out.print(
        f"[green]Embedded {done['passages']} passages and {done['memories']} memories with {embedder.model} "
        f"({embedder.dimensions} dimensions).[/green]"
    )
