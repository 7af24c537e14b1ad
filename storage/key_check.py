"""At start-up, the configured TRAVELMATE_ENCRYPTION_KEY must open what is already stored."""

from __future__ import annotations

from sqlalchemy import text

from storage.database import Database
from storage.secrets import EncryptionKeyError, SecretBox


async def check_stored_secrets(db: Database, keys: str | None) -> None:
    """Raise `EncryptionKeyError` (one sentence naming TRAVELMATE_ENCRYPTION_KEY) when the configured keys
    cannot open the newest sealed Slack installation or conversation; a process started anyway would leave
    its users without any answer."""
    async with db.unscoped() as session:
        samples = (await session.execute(text("SELECT kind, sealed FROM sealed_samples()"))).all()
    if not samples:
        return
    kinds = " and ".join(sorted({str(kind) for kind, _ in samples}))
    if not keys or not keys.strip():
        raise EncryptionKeyError(
            f"The stored {kinds} are encrypted, but TRAVELMATE_ENCRYPTION_KEY is not set; "
            "set it to the key they were sealed with."
        )
    box = SecretBox(keys)
    for _kind, sealed in samples:
        try:
            box.open_bytes(bytes(sealed))
        except EncryptionKeyError:
            raise EncryptionKeyError(
                f"TRAVELMATE_ENCRYPTION_KEY cannot open the stored {kinds}; set it to the key they were sealed "
                "with (while rotating, keep the old key after the new one)."
            ) from None


__all__ = ["check_stored_secrets"]
