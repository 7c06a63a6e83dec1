"""Privacy admin API (admin only): legal holds, a purge on demand, encryption status. docs/privacy.md.

Holds are set with the user id and listed by subject key + masked id only; every change is in the
hash-chained audit log (transcripts.holds appends in the same transaction).
"""
from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from transcripts import holds
from transcripts.crypto import KeyConfigError, KeyRing
from transcripts.store import TranscriptStore
from web.auth import AdminUser
from web.deps import StateDep
from web.privacy_runtime import run_purge

router = APIRouter(tags=["privacy"])


class HoldIn(BaseModel):
    user_id: str = Field(..., min_length=1, max_length=200, pattern=r"\S")
    reason: str = Field(..., min_length=1, max_length=200, pattern=r"\S")


@router.get("/api/privacy/holds")
def list_holds(state: StateDep, user: AdminUser) -> dict[str, Any]:
    return {"holds": [h.as_dict() for h in holds.list_holds(state.engine)]}


@router.post("/api/privacy/holds", status_code=201)
def set_hold(body: HoldIn, state: StateDep, user: AdminUser) -> dict[str, Any]:
    try:
        return holds.set_hold(state.engine, body.user_id, body.reason, user).as_dict()
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc


@router.delete("/api/privacy/holds/{ref}")
def clear_hold(ref: str, state: StateDep, user: AdminUser) -> dict[str, Any]:
    """``ref``: the subject key from the list, or the user id."""
    if not holds.clear_hold(state.engine, ref, user):
        raise HTTPException(status_code=404, detail="no legal hold for this user")
    return {"cleared": True}


@router.post("/api/privacy/purge")
async def purge_now(state: StateDep, user: AdminUser) -> dict[str, Any]:
    """Run the retention purge now (it also runs periodically); the result is audited."""
    return await asyncio.to_thread(run_purge, state, user)


@router.get("/api/privacy/status")
def status(state: StateDep, user: AdminUser) -> dict[str, Any]:
    """Active key id and rows per key id (what `python -m transcripts rotate` still has to move); no key material."""
    settings = state.settings
    try:
        ring = KeyRing.from_settings(settings)
    except KeyConfigError as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from exc
    return {"active_key": ring.active_id, "development_key": ring.is_dev,
            "rows_per_key": TranscriptStore(state.engine, ring).key_usage(),
            "holds": len(holds.list_holds(state.engine)), "retention_days": settings.transcript_retention_days,
            "quote_display_retention_days": settings.quote_display_retention_days,
            "purge_interval_hours": settings.privacy_purge_interval_s / 3600}
