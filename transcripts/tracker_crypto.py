"""Rasa's tracker store encrypted at rest: the ``data`` column of its ``events`` table (SM4-GCM).

Rasa keeps every event of a conversation -- user texts, bot replies, slot values such as a phone
number -- as JSON in ``events.data``. The store (connectors.rasa_stores.ResilientSQLTrackerStore)
writes that JSON sealed with the transcript keys (:mod:`transcripts.crypto`), bound to the sender id,
so a row copied to another conversation does not decrypt. The columns Rasa queries on (sender id,
type, timestamp, intent and action names) stay readable: they hold no user text.

Rows written before encryption (plain JSON) and the neutral rows of an erasure stay readable as
they are; ``python -m transcripts rotate`` re-seals every row under the active key.
"""
from __future__ import annotations

from typing import Optional

from transcripts.crypto import PREFIX, KeyRing


def _aad(sender_id: str) -> bytes:
    return b"rasa-event\x00" + sender_id.encode("utf-8")


def is_sealed(stored: Optional[str]) -> bool:
    return bool(stored) and stored.startswith(PREFIX + ".")  # type: ignore[union-attr]


def seal_event_data(keyring: KeyRing, sender_id: str, data_json: str) -> str:
    return keyring.encrypt(data_json, _aad(sender_id))


def open_event_data(keyring: Optional[KeyRing], sender_id: str, stored: Optional[str]) -> Optional[str]:
    """The event's JSON text; plain rows pass through. Raises DecryptionError for a modified or moved row."""
    if not is_sealed(stored):
        return stored
    if keyring is None:
        raise ValueError("an encrypted tracker event needs the transcript keys")
    return keyring.decrypt(stored, _aad(sender_id))  # type: ignore[arg-type]
