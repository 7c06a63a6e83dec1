"""Knowledge search API: `POST /api/knowledge/search` (used by the action server and external evaluation)."""
from __future__ import annotations

import logging
from typing import Optional

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field, field_validator

from knowledge.search import MAX_QUERY_CHARS
from knowledge.service import IndexNotReady
from web.deps import StateDep

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/knowledge", tags=["knowledge"])


class SearchRequest(BaseModel):
    query: str = Field(..., description="the user's question", max_length=MAX_QUERY_CHARS)
    top_k: int = Field(5, ge=1, le=20)
    context_product: Optional[str] = Field(None, description="product from earlier turns, e.g. medical_million")

    @field_validator("query")
    @classmethod
    def not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("query must not be empty")
        return value


class HitOut(BaseModel):
    id: str
    kind: str
    score: float
    title: str
    text: str
    citation: str
    product: Optional[str] = None
    section: Optional[str] = None


class SearchResponse(BaseModel):
    hits: list[HitOut]
    answerable: bool
    confidence: float = Field(0.0, description="re-ranker margin over the runner-up; `answerable` thresholds it")
    product: Optional[str] = None
    reason: str = ""
    index_version: str


@router.post("/search", response_model=SearchResponse)
def search(body: SearchRequest, state: StateDep) -> SearchResponse:
    try:
        index = state.knowledge.index
    except IndexNotReady as exc:
        raise HTTPException(status_code=503, detail=f"knowledge index not ready: {exc}") from exc
    result = index.search(body.query, top_k=body.top_k, context_product=body.context_product)
    log.info("knowledge search", extra={"event": "knowledge.search", "answerable": result.answerable,
                                        "top": result.hits[0].id if result.hits else None,
                                        "ms": result.timings_ms})
    return SearchResponse(hits=[HitOut(**h.to_dict()) for h in result.hits], answerable=result.answerable,
                          confidence=result.confidence, product=result.product, reason=result.reason, index_version=index.version)
