"""`travelmate chat`: the console channel, a REPL on the same conversation service as Slack and Telegram."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from agent.cards import money_text
from agent.context import Context
from agent.replies import AgentReply, ConfirmationRequest, ItineraryCard
from agent.tools import Decision
from bot.console_input import LineReader, PipeReader, interruptible
from bot.operator_commands import create_tenant_with_admin, find_tenant
from bot.product import Product
from storage.console_outbox import console_messages, mark_console_messages_read
from storage.database import Database
from storage.errors import DomainError, NotFound
from storage.money import amount_text
from storage.tenants import find_user_by_email, get_user, list_users

DEMO_TENANT = "Demo Company"
QUIT = ("/quit", "/exit", "/q")


async def console_identity(
    product: Product, owner: Database, *, tenant: str | None, user: str | None
) -> Context:
    """The tenant and user to chat as: the ones named, or a demo company with its admin on first run."""
    if tenant is None:
        try:
            found = await find_tenant(owner, DEMO_TENANT)
        except NotFound:
            found, _ = await create_tenant_with_admin(
                product.db,
                owner,
                name=DEMO_TENANT,
                admin_name="Demo Admin",
                admin_email="admin@demo.example",
                timezone="Europe/Berlin",
            )
    else:
        found = await find_tenant(owner, tenant)
    async with product.db.tenant(found.id) as session:
        if user is None:
            admins = await list_users(session, role="admin") or await list_users(session)
            if not admins:
                raise NotFound(f"{found.name} has no users yet; add one with `travelmate user add`.")
            person = admins[0]
        else:
            try:
                person = await get_user(session, user_id=uuid.UUID(user))
            except ValueError:
                match = await find_user_by_email(session, email=user)
                if match is None:
                    raise NotFound(f"No user {user} in {found.name}.") from None
                person = match
    return Context(
        tenant_id=found.id,
        user_id=person.user_id,
        role=person.role,  # type: ignore[arg-type]
        channel="console",
        timezone=person.timezone,
        locale=person.locale,
        display_name=person.display_name,
    )


def card_table(card: ItineraryCard) -> Table:
    table = Table(title=escape(f"{card.title} [{card.status}]"), title_justify="left")
    for column in ("Day", "Date", "What", "Cost", "Policy"):
        table.add_column(column, justify="right" if column == "Cost" else "left")
    for day in card.days:
        for index, item in enumerate(day.items):
            cost = amount_text(item.cost, item.currency) if item.cost is not None and item.currency else ""
            policy = (
                f"[red]{escape('; '.join(item.violations))}[/red]" if item.violations else "[green]ok[/green]"
            )
            if item.notes:
                policy += f"\n[dim]{escape('; '.join(item.notes))}[/dim]"
            if item.alternatives:
                policy += f"\n[yellow]{escape('; '.join(item.alternatives))}[/yellow]"
            table.add_row(
                str(day.day_number) if index == 0 else "",
                f"{day.date:%a %d %b}" if index == 0 else "",
                escape(f"{item.kind}: {item.description}"),
                cost,
                policy,
            )
    caption = [f"Estimated total: {money_text(card.totals)}"]
    if card.budget_line:
        caption.append(escape(card.budget_line))
    caption += [f"[red]{escape(reason)}[/red]" for reason in card.trip_violations]
    table.caption = "\n".join(caption)
    return table


class ConsoleChannel:
    """Reads lines, answers them, and asks y/n for confirmations."""

    def __init__(
        self,
        product: Product,
        ctx: Context,
        *,
        conversation: str,
        console: Console | None = None,
        charts_dir: Path,
        reader: LineReader | None = None,
    ) -> None:
        self.product, self.ctx, self.conversation = product, ctx, conversation
        self.out = console or Console()
        self.charts_dir = charts_dir
        self.reader = reader or PipeReader(self.out)

    async def ask(self, prompt: str) -> str | None:
        """A line, or None at the end of input; Ctrl-C at the prompt gives back an empty line."""
        try:
            return await self.reader.read(prompt)
        except KeyboardInterrupt:
            return ""

    async def run(self) -> None:
        self.out.print(
            Panel(
                f"AITravelMate — chatting as {self.ctx.display_name} ({self.ctx.role}). "
                "Type /help for commands; Ctrl-C cancels, Ctrl-D or /quit leaves.",
                expand=False,
            )
        )
        await self.show_outbox()
        while (line := await self.ask("[bold cyan]you ›[/bold cyan] ")) is not None:
            text = line.strip()
            if not text:
                continue
            if text.lower() in QUIT:
                break
            await self.answer(text)
        self.out.print("Goodbye.")

    async def show_outbox(self) -> None:
        """Reminders and flight alerts that arrived while the console was closed."""
        db = self.product.db
        async with db.tenant(self.ctx.tenant_id) as session:
            messages = await console_messages(session, user_id=self.ctx.user_id)
            for message in messages:
                self.out.print(f"[yellow]⏰ {escape(message.body)}[/yellow]")
            await mark_console_messages_read(
                session,
                user_id=self.ctx.user_id,
                message_ids=[m.message_id for m in messages],
                now=dt.datetime.now(dt.UTC),
            )

    async def answer(self, text: str) -> None:
        try:
            if text.startswith("/"):
                reply = await interruptible(self.product.commands.run(self.ctx, text))
            else:
                with self.out.status("Thinking…", spinner="dots"):
                    reply = await interruptible(
                        self.product.conversation.handle_message(self.ctx, self.conversation, text)
                    )
            await self.show(reply)
        except asyncio.CancelledError:
            # Only this turn was cancelled (Ctrl-C); a turn that does not finish changes nothing.
            self.out.print("[yellow]Cancelled.[/yellow]")
        except DomainError as error:
            self.out.print(f"[red]{error.message}[/red]")

    async def show(self, reply: AgentReply) -> None:
        # The sentence introduces what follows it ("1 trip:", "Here is your Berlin draft."), as in Slack.
        if reply.outcome is not None and reply.outcome.summary not in reply.text:
            self.out.print(f"[bold]{escape(reply.outcome.summary)}[/bold]", highlight=False)
        if reply.text and reply.confirmation is None:
            self.out.print(f"[bold green]travelmate ›[/bold green] {escape(reply.text)}", highlight=False)
        for card in reply.cards:
            self.out.print(card_table(card))
        for attachment in reply.attachments:
            self.charts_dir.mkdir(parents=True, exist_ok=True)
            path = self.charts_dir / f"{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}-{attachment.filename}"
            path.write_bytes(attachment.content)
            self.out.print(f"[dim]{attachment.title}: saved to {path}[/dim]")
        if reply.confirmation is not None:
            await self.confirm(reply.confirmation)

    async def confirm(self, request: ConfirmationRequest) -> None:
        self.out.print(card_table(request.card))
        for violation in request.violations:
            self.out.print(f"[red]Out of policy:[/red] {escape(violation)}")
        if request.needs_approval or request.approved_later:
            self.out.print(f"[yellow]{escape(request.approval_note)}[/yellow]")
        question = "Send this trip for approval?" if request.needs_approval else "Book this trip?"
        answer = (await self.ask(f"{question} \\[y/n] ") or "n").strip().lower()
        justification = None
        if answer in ("y", "yes") and request.needs_justification:
            justification = (await self.ask("Why is it needed? (justification) ") or "").strip() or None
            if not justification:
                self.out.print(
                    "[yellow]Without a justification an out-of-policy trip cannot be booked.[/yellow]"
                )
        decision = Decision(
            approved=answer in ("y", "yes")
            and (justification is not None or not request.needs_justification),
            justification=justification,
        )
        working = "Sending for approval…" if request.needs_approval else "Booking…"
        with self.out.status(working if decision.approved else "Cancelling…", spinner="dots"):
            reply = await interruptible(
                self.product.conversation.resume(
                    self.ctx, self.conversation, decision, itinerary_id=request.itinerary_id
                )
            )
        await self.show(reply)
