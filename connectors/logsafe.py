"""Pseudonyms for user ids in logs: OpenIDs and external user ids are personal data."""
from __future__ import annotations

import hashlib


def pseudonym(user_id: str) -> str:
    """A stable, non-reversible short tag for ``user_id`` so log lines can be correlated."""
    if not user_id:
        return "-"
    return "u_" + hashlib.sha256(("insurebot:" + user_id).encode("utf-8")).hexdigest()[:12]
