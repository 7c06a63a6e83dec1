"""Quote API: `POST /api/quotes` (field names are fixed: external evaluation uses them).

Malformed input answers 422 naming the field and the reason (pydantic for types and ranges, the
quote library for product rules such as "coverage must be one of ..."). An ineligible person gets
`eligible: false`, a reason and no premium. Every answer is recorded as displayed (quotes.audit).
"""
from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Literal, Optional

from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field

from quotes.audit import DisplayNotRecorded, DisplayRecorder
from quotes.service import QuoteInputError, QuoteRequest, QuoteService, business_date_of

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["quotes"])
_build_lock = threading.Lock()


class QuoteIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    product_id: str = Field(..., min_length=1, max_length=40, description="e.g. medical_million")
    age: Optional[int] = Field(None, ge=0, le=120, description="age in completed years")
    age_days: Optional[int] = Field(None, ge=0, le=45000, description="age in days, instead of age (infants)")
    coverage: Optional[int] = Field(None, gt=0, description="sum insured in CNY; omit where the product has one option")
    payment_mode: Optional[Literal["annual", "monthly", "daily"]] = None
    occupation_class: Optional[int] = Field(None, ge=1, le=6, description="accident")
    phone_price_cny: Optional[float] = Field(None, gt=0, le=200000, description="screen")
    activation_days: Optional[int] = Field(None, ge=0, le=36500, description="screen: days since activation")
    province: Optional[str] = Field(None, min_length=1, max_length=40, description="typhoon, e.g. 广东")
    driver_certified: Optional[bool] = Field(None, description="driver_accident")
    term_months: Optional[Literal[1, 3]] = Field(None, description="typhoon cover term (default 1)")
    payment_years: Optional[Literal[10, 20, 30]] = Field(None, description="critical_illness (default 20)")
    cover_to: Optional[Literal["age70", "lifetime"]] = Field(None, description="critical_illness (default lifetime)")


class BreakdownOut(BaseModel):
    item: str
    kind: str
    amount_cny: Optional[float] = None
    factor: Optional[float] = None


class QuoteOut(BaseModel):
    quote_id: str
    eligible: bool
    reason: Optional[str]
    premium_cny: Optional[float]
    payment_mode: Optional[str]
    exclusions_citation: str
    waiting_period_days: int
    rate_version: str
    product_id: str
    product_name: str
    first_period_premium_cny: Optional[float] = None
    base_premium_cny: Optional[float] = None
    breakdown: list[BreakdownOut] = []
    exclusions_summary: str
    clause_version: str
    valid_until: Optional[str] = None
    alternative_product_id: Optional[str] = None
    message: str


def get_quote_service(request: Request) -> QuoteService:
    """One QuoteService per app, built on first use from the app's settings and database."""
    service = getattr(request.app.state, "quote_service", None)
    if service is None:
        with _build_lock:
            service = getattr(request.app.state, "quote_service", None)
            if service is None:
                app_state = getattr(request.app.state, "app_state", None)
                if app_state is not None:
                    settings, engine = app_state.settings, app_state.engine
                else:  # an app wired with this router only (tests, tools)
                    from common.settings import load_settings
                    from storage.db import get_engine

                    settings = load_settings()
                    engine = get_engine(settings.app_database_url)
                from ops.rates_source import published_rate_fetcher  # rate tables as published in the ops console

                service = QuoteService.from_content_dir(settings.knowledge_dir, recorder=DisplayRecorder(engine),
                                                        rate_source=published_rate_fetcher(engine, settings.knowledge_dir),
                                                        business_date=business_date_of(settings.quote_business_date))
                request.app.state.quote_service = service
    return service


def _client_ref(request: Request) -> str:
    """Who was shown the quote: an explicit caller id header, else the client address (pseudonymised)."""
    caller = request.headers.get("x-insurebot-user")
    if caller:
        return caller[:128]
    return f"api:{request.client.host if request.client else 'unknown'}"


def _quote(service: QuoteService, body: QuoteIn, user: str) -> dict[str, Any]:
    req = QuoteRequest(**body.model_dump())
    result = service.quote(req)
    return service.show(result, user_id=user, channel="api").to_api()


@router.post("/quotes", response_model=QuoteOut)
async def create_quote(body: QuoteIn, request: Request) -> dict[str, Any]:
    service = await asyncio.to_thread(get_quote_service, request)
    try:
        return await asyncio.to_thread(_quote, service, body, _client_ref(request))
    except QuoteInputError as exc:
        raise RequestValidationError([{"type": "value_error", "loc": ("body", exc.field),
                                       "msg": f"{exc.field}: {exc.reason}", "input": getattr(body, exc.field, None)}])
    except DisplayNotRecorded as exc:
        log.error("quote display not recorded", extra={"event": "quote.not_recorded", "error": str(exc)})
        raise HTTPException(status_code=503, detail="quote could not be recorded; try again later") from exc
