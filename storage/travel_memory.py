"""Each traveller's travel memory: facts they asked the assistant to keep, and notes from completed trips."""

from __future__ import annotations

import datetime as dt
import uuid

from pgvector.sqlalchemy import VECTOR
from sqlalchemy import (
    BigInteger,
    Computed,
    DateTime,
    Identity,
    Index,
    Integer,
    String,
    UniqueConstraint,
    delete,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import TSVECTOR, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.audit import Actor, record_audit
from storage.errors import InvalidInput, NotFound
from storage.models import Base, Booking, Itinerary, of_tenant, of_user
from storage.policy_documents import Embedding
from storage.sessions import current_tenant

MAX_FACT_CHARS = 500
MAX_MEMORIES = 200  # per traveller; the oldest traveller-stated fact makes room


class TravelMemory(Base):
    """One remembered fact of one traveller."""

    __tablename__ = "travel_memories"
    __table_args__ = (
        of_tenant(),
        of_user(),
        UniqueConstraint("tenant_id", "user_id", "source_key"),
        Index("travel_memories_user", "tenant_id", "user_id", "created_at"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    memory_id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column()
    fact: Mapped[str] = mapped_column(String(MAX_FACT_CHARS))
    source: Mapped[str] = mapped_column(String(20))
    source_key: Mapped[str | None] = mapped_column(String(100))
    search: Mapped[object] = mapped_column(
        TSVECTOR, Computed("to_tsvector('english', fact)", persisted=True), deferred=True
    )
    embedding: Mapped[object] = mapped_column(VECTOR(), nullable=True, deferred=True)
    embedding_model: Mapped[str | None] = mapped_column(String(200))
    embedding_dimensions: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


def clean_fact(fact: str) -> str:
    cleaned = " ".join(fact.split())
    if not cleaned:
        raise InvalidInput("There is nothing to remember in an empty note.")
    if len(cleaned) > MAX_FACT_CHARS:
        raise InvalidInput(f"A note to remember can be at most {MAX_FACT_CHARS} characters.")
    return cleaned


async def remember_fact(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    fact: str,
    source: str = "traveller",
    source_key: str | None = None,
    embedding: Embedding | None = None,
) -> TravelMemory | None:
    """Keep a fact for the traveller; a note with the same `source_key` is kept only once (None then)."""
    values = {
        "tenant_id": current_tenant(session),
        "user_id": user_id,
        "fact": clean_fact(fact),
        "source": source,
        "source_key": source_key,
        "embedding": list(embedding.vector) if embedding else None,
        "embedding_model": embedding.model if embedding else None,
        "embedding_dimensions": embedding.dimensions if embedding else None,
    }
    statement = (
        insert(TravelMemory)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["tenant_id", "user_id", "source_key"])
        .returning(TravelMemory.memory_id)
    )
    memory_id = await session.scalar(statement)
    if memory_id is None:
        return None
    await _make_room(session, user_id=user_id)
    await record_audit(
        session,
        actor=Actor.user(user_id) if source == "traveller" else Actor("system"),
        action="memory.remember",
        entity="travel_memory",
        entity_id=str(memory_id),
    )
    return await session.get(TravelMemory, (current_tenant(session), memory_id))


async def _make_room(session: AsyncSession, *, user_id: uuid.UUID) -> None:
    oldest = (
        select(TravelMemory.memory_id)
        .where(TravelMemory.user_id == user_id)
        .order_by(TravelMemory.created_at.desc(), TravelMemory.memory_id.desc())
        .offset(MAX_MEMORIES)
    )
    await session.execute(delete(TravelMemory).where(TravelMemory.memory_id.in_(oldest)))


async def list_memories(session: AsyncSession, *, user_id: uuid.UUID) -> list[TravelMemory]:
    statement = (
        select(TravelMemory)
        .where(TravelMemory.user_id == user_id)
        .order_by(TravelMemory.created_at, TravelMemory.memory_id)
    )
    return list((await session.scalars(statement)).all())


async def forget_memory(session: AsyncSession, *, user_id: uuid.UUID, memory_id: int) -> TravelMemory:
    """Delete one of the traveller's own memories."""
    found = await session.scalar(
        select(TravelMemory).where(TravelMemory.user_id == user_id, TravelMemory.memory_id == memory_id)
    )
    if found is None:
        raise NotFound(f"You have no memory with the id {memory_id}; /me memory lists them.")
    await session.delete(found)
    await record_audit(
        session,
        actor=Actor.user(user_id),
        action="memory.forget",
        entity="travel_memory",
        entity_id=str(memory_id),
    )
    return found


async def note_completed_trip(session: AsyncSession, *, itinerary_id: uuid.UUID) -> TravelMemory | None:
    """A memory of an ended trip (where, when, which hotel, its rating if given), kept once per trip."""
    trip = await session.scalar(select(Itinerary).where(Itinerary.itinerary_id == itinerary_id))
    if (
        trip is None or trip.user_id is None
    ):  # a trip written elsewhere without a traveller: nobody to remember it
        return None
    hotels = (
        await session.scalars(
            select(Booking).where(
                Booking.itinerary_id == itinerary_id,
                Booking.booking_type == "hotel",
                Booking.status == "confirmed",
            )
        )
    ).all()
    stays = [
        str(hotel.booking_details.get("description") or hotel.booking_details.get("vendor") or "").strip()
        + (f" (rated {hotel.booking_details['rating']})" if hotel.booking_details.get("rating") else "")
        for hotel in hotels
    ]
    places = ", ".join(trip.places) or "a trip"
    fact = f"Travelled to {places}, {trip.start_date:%d %b %Y}–{trip.end_date:%d %b %Y}"
    if any(stays):
        fact += "; stayed at " + "; ".join(stay for stay in stays if stay)
    return await remember_fact(
        session,
        user_id=trip.user_id,
        fact=fact[:MAX_FACT_CHARS],
        source="trip",
        source_key=f"trip:{itinerary_id}",
    )


_RELEVANT = """
    SELECT memory_id, fact FROM travel_memories
    WHERE user_id = CAST(:user AS uuid)
    ORDER BY {order}, created_at DESC, memory_id DESC
    LIMIT :limit"""


async def relevant_memories(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    request: str,
    limit: int = 5,
    query: Embedding | None = None,
) -> list[str]:
    """The traveller's memories most relevant to `request`: matching ones first, then the most recent.

    A traveller keeps at most a few hundred notes, so this is an exact search over their own rows.
    """
    params: dict[str, object] = {"user": str(user_id), "limit": limit, "request": request}
    lexical = "ts_rank(search, replace(websearch_to_tsquery('english', :request)::text, ' & ', ' | ')::tsquery) DESC"
    if query is not None:
        dims = int(query.dimensions)
        order = (
            f"(CASE WHEN embedding_model = :model AND embedding_dimensions = {dims} "
            f"THEN embedding::vector({dims}) <=> CAST(:vector AS vector({dims})) END) ASC NULLS LAST, {lexical}"
        )
        params.update(model=query.model, vector=query.literal())
    else:
        order = lexical
    rows = await session.execute(text(_RELEVANT.format(order=order)), params)
    return [f"#{memory_id} {fact}" for memory_id, fact in rows.all()]
