"""Key rotation: re-seal every stored secret under the newest TRAVELMATE_ENCRYPTION_KEY."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import InvalidToken
from sqlalchemy import text

from storage.database import Database
from storage.secrets import EncryptionKeyError, SecretBox

# Checkpoint values sealed by agent.checkpoints carry this suffix on their type.
_SEALED_CHECKPOINT = "%+fernet"


@dataclass(frozen=True)
class Rotation:
    slack_installations: int
    checkpoints: int
    checkpoint_writes: int


async def reseal_everything(owner: Database, box: SecretBox, *, batch: int = 500) -> Rotation:
    """Re-seal Slack installations and encrypted checkpoints with the first key of `box`, in batches.

    Runs as the owner role: it is an operator's maintenance across every tenant and reads no plaintext
    into logs. After it, the old keys can be removed from TRAVELMATE_ENCRYPTION_KEY.
    """

    def reseal_bytes(value: Any) -> bytes:
        try:
            return box.reseal_bytes(bytes(value))
        except InvalidToken:
            raise EncryptionKeyError(
                "A checkpoint value cannot be decrypted with any configured key."
            ) from None

    installations = await _reseal(
        owner, "slack_installations", "installation_id", "installation_encrypted", box.reseal, batch=batch
    )
    checkpoints = 0
    for column, type_column in (("checkpoint", "type"), ("metadata", "metadata_type")):
        checkpoints += await _reseal(
            owner,
            "conversation_checkpoints",
            "(tenant_id, thread_id, checkpoint_ns)",
            column,
            reseal_bytes,
            batch=batch,
            sealed=(type_column, _SEALED_CHECKPOINT),
        )
    writes = await _reseal(
        owner,
        "conversation_checkpoint_writes",
        "(tenant_id, thread_id, checkpoint_ns, checkpoint_id, task_id, idx)",
        "blob",
        reseal_bytes,
        batch=batch,
        sealed=("type", _SEALED_CHECKPOINT),
    )
    return Rotation(installations, checkpoints, writes)


async def _reseal(
    owner: Database,
    table: str,
    key: str,
    column: str,
    reseal: Callable[[Any], Any],
    *,
    batch: int,
    sealed: tuple[str, str] | None = None,
) -> int:
    """Walk `table` in key order, one batch per transaction, replacing `column` with its re-sealed value.

    `sealed` is (type column, LIKE pattern): only values whose type says they are sealed are touched.
    """
    sealed_only = f"AND {sealed[0]} LIKE :sealed" if sealed else ""
    done, last = 0, ""
    while True:
        async with owner.unscoped() as session:
            rows = (
                await session.execute(
                    text(
                        f"SELECT {key}::text AS k, {column} AS v FROM {table} WHERE {key}::text > :last {sealed_only} "
                        f"ORDER BY 1 LIMIT :n"
                    ),
                    {"last": last, "n": batch, "sealed": sealed[1] if sealed else None},
                )
            ).all()
            for row in rows:
                await session.execute(
                    text(f"UPDATE {table} SET {column} = :v WHERE {key}::text = :k"),
                    {"v": reseal(row.v), "k": row.k},
                )
        done += len(rows)
        if len(rows) < batch:
            return done
        last = rows[-1].k
