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
    previous_query: Optional[str] = Field(None, max_length=MAX_QUERY_CHARS,
                                          description="the conversation's previous question: '那重疾险呢' asks it again of 重疾险")

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


class ChoiceOut(BaseModel):
    id: str
    label: str = Field(..., description="what an option shows: the FAQ's standard question or the clause citation")
    hit: HitOut
    companion: Optional[HitOut] = Field(None, description="the same topic's clause article (or FAQ), cited beside it")


class SearchResponse(BaseModel):
    hits: list[HitOut]
    decision: str = Field(..., description="answer | clarify | refuse")
    options: list[str] = Field(default_factory=list, description="clarify: the item ids offered, in the order shown")
    choices: list[ChoiceOut] = Field(default_factory=list, description="the answer (one) or the options")
    answerable: bool = Field(..., description="decision == 'answer'")
    confidence: float = Field(0.0, description="re-ranker margin of the best topic over the runner-up")
    top_score: float = Field(0.0, description="re-ranker probability of the best topic")
    thresholds: dict[str, float] = Field(default_factory=dict)
    product: Optional[str] = None
    reason: str = Field("", description="exact_match | confident | exclusions | clarify | low_confidence | foreign_term | no_candidates")
    matched: Optional[str] = Field(None, description="the indexed question the message equals (exact_match)")
    foreign_term: Optional[str] = Field(None, description="the product, company or scheme we do not handle it names")
    query: str = Field("", description="the question as searched (normalised; a follow-up made whole)")
    index_version: str


@router.post("/search", response_model=SearchResponse)
def search(body: SearchRequest, state: StateDep) -> SearchResponse:
    try:
        index = state.knowledge.index
    except IndexNotReady as exc:
        raise HTTPException(status_code=503, detail=f"knowledge index not ready: {exc}") from exc
    result = index.search(body.query, top_k=body.top_k, context_product=body.context_product,
                          previous_query=body.previous_query)
    log.info("knowledge search", extra={"event": "knowledge.search", "decision": result.decision,
                                        "reason": result.reason, "top": result.hits[0].id if result.hits else None,
                                        "ms": result.timings_ms})
    return SearchResponse(hits=[HitOut(**h.to_dict()) for h in result.hits], decision=result.decision,
                          options=result.options, choices=[ChoiceOut(**c.to_dict()) for c in result.choices],
                          answerable=result.answerable, confidence=result.confidence, top_score=result.top_score,
                          thresholds=result.thresholds, product=result.product, reason=result.reason,
                          matched=result.matched, foreign_term=result.foreign_term, query=result.query,
                          index_version=index.version)
