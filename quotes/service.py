"""QuoteService: the single entry point for a quote (API, Rasa action and tests all use it).

request -> checked inputs -> suitability (refusal with reason + alternative) -> price from the
versioned rate table -> QuoteResult with quote id, validity, exclusions and waiting period.
`show()` renders the user-facing message and writes the proof-of-display record first: a quote
whose display cannot be recorded is not shown. "Now" is injectable (tests, the typhoon window).
"""
from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from quotes.audit import DisplayRecord, DisplayRecorder
from quotes.catalogue import Catalogue, Product, load_catalogue
from quotes.clauses import ClauseFacts, load_all_clause_facts
from quotes.eligibility import DAYS_PER_YEAR, Applicant, MissingFact, Refusal, check_eligibility, suggest_alternative
from quotes.parsing import normalize_province
from quotes.pricing import NoRate, Price, price
from quotes.rates import PublishedRateTables, RateTable, load_rate_tables

log = logging.getLogger(__name__)

CN_TZ = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")  # China has no DST: a fixed offset is exact
DEFAULT_PAYMENT_YEARS = 20
DEFAULT_COVER_TO = "lifetime"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def new_quote_id(now: dt.datetime) -> str:
    """'Q20261124' + 8 random hex digits: sortable by day, unguessable, short enough to read out."""
    return f"Q{now.astimezone(CN_TZ):%Y%m%d}{secrets.token_hex(4).upper()}"


class QuoteInputError(ValueError):
    """The request cannot be priced as given; `field` names the input (the API answers 422)."""

    def __init__(self, field: str, reason: str):
        self.field, self.reason = field, reason
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True)
class QuoteRequest:
    product_id: str
    age: Optional[int] = None
    age_days: Optional[int] = None
    coverage: Optional[int] = None
    payment_mode: Optional[str] = None
    occupation_class: Optional[int] = None
    phone_price_cny: Optional[float] = None
    activation_days: Optional[int] = None
    province: Optional[str] = None
    driver_certified: Optional[bool] = None
    term_months: Optional[int] = None
    payment_years: Optional[int] = None
    cover_to: Optional[str] = None
    relation: Optional[str] = None


@dataclass(frozen=True)
class QuoteResult:
    quote_id: str
    product: Product
    eligible: bool
    reason: Optional[str]
    refusal: Optional[Refusal]
    alternative: Optional[Product]
    price: Optional[Price]
    payment_mode: Optional[str]
    applicant: Applicant
    facts: Mapping[str, Any]
    rate_version: str
    clause: ClauseFacts
    quoted_at: dt.datetime
    valid_until: Optional[dt.datetime]
    message: str = field(default="", compare=False)

    @property
    def waiting_period_days(self) -> int:
        return self.product.waiting_period_days

    @property
    def premium(self) -> Optional[Decimal]:
        return self.price.premium if self.price else None

    def to_api(self) -> dict[str, Any]:
        """The `POST /api/quotes` response body (the fixed names external evaluation uses; extras after them)."""
        p = self.price
        return {
            "quote_id": self.quote_id,
            "eligible": self.eligible,
            "reason": self.reason,
            "premium_cny": float(p.premium) if p else None,
            "payment_mode": self.payment_mode,
            "exclusions_citation": self.clause.exclusions_citation,
            "waiting_period_days": self.waiting_period_days,
            "rate_version": self.rate_version,
            "product_id": self.product.id,
            "product_name": self.product.name,
            "first_period_premium_cny": float(p.first_period_premium) if p and p.first_period_premium is not None else None,
            "base_premium_cny": float(p.base_premium) if p else None,
            "breakdown": [line.to_dict() for line in p.breakdown] if p else [],
            "exclusions_summary": self.clause.exclusions_summary,
            "clause_version": self.clause.version,
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "alternative_product_id": self.alternative.id if self.alternative else None,
            "message": self.message,
        }


class QuoteService:
    def __init__(self, catalogue: Catalogue, rates: Mapping[str, RateTable], clauses: Mapping[str, ClauseFacts], *,
                 clock: Callable[[], dt.datetime] = utc_now,
                 id_factory: Callable[[dt.datetime], str] = new_quote_id,
                 recorder: Optional[DisplayRecorder] = None, business_date: Optional[dt.date] = None):
        missing = [pid for pid in catalogue.ids() if pid not in rates or pid not in clauses]
        if missing:
            raise ValueError(f"no rate table or clause document for {missing}")
        # PublishedRateTables follows the ops console's published version: keep it, do not copy it
        self.rates = rates if isinstance(rates, PublishedRateTables) else dict(rates)
        self.catalogue, self.clauses = catalogue, dict(clauses)
        self.clock, self.id_factory, self.recorder = clock, id_factory, recorder
        # the date eligibility, ages and sale windows are judged on (staging and benchmarks set it); records keep real time
        self.business_date = business_date

    @classmethod
    def from_content_dir(cls, content_dir: Path, *, rate_source: Optional[Callable] = None,
                         **kwargs: Any) -> "QuoteService":
        """products.yml, rates/*.yml and clauses/*.md from one content directory (settings.knowledge_dir).

        `rate_source` (ops.rates_source.published_rate_fetcher): follow the rate tables published in
        the ops console instead, with the files as the fallback."""
        content_dir = Path(content_dir)
        catalogue = load_catalogue(content_dir / "products.yml")
        rates = load_rate_tables(content_dir / "rates", catalogue)
        if rate_source is not None:
            rates = PublishedRateTables(rates, catalogue, rate_source)
        clauses = load_all_clause_facts(content_dir / "clauses", {pid: catalogue.get(pid).raw for pid in catalogue.ids()})
        return cls(catalogue, rates, clauses, **kwargs)


    def today(self, now: Optional[dt.datetime] = None) -> dt.date:
        """The business date: `business_date` when set, else `now` (default: the clock) in Beijing time."""
        return self.business_date or (now or self.clock()).astimezone(CN_TZ).date()

    # -- inputs -------------------------------------------------------------------------------
    def product(self, product_id: str) -> Product:
        if product_id not in self.catalogue:
            raise QuoteInputError("product_id", f"unknown product '{product_id}'; one of {self.catalogue.ids()}")
        return self.catalogue.get(product_id)

    @staticmethod
    def _age(req: QuoteRequest) -> tuple[Optional[int], Optional[int]]:
        if req.age is not None and req.age_days is not None:
            derived = int(req.age_days // DAYS_PER_YEAR)
            if abs(derived - req.age) > 1:
                raise QuoteInputError("age_days", f"{req.age_days} days is {derived} years, not age {req.age}")
        return req.age, req.age_days

    @staticmethod
    def _coverage(product: Product, req: QuoteRequest) -> Optional[int]:
        options = product.coverage_options
        if not options:
            return None  # no sum insured to choose (screen, typhoon): a given value is irrelevant
        if req.coverage is None:
            if len(options) == 1:
                return options[0]
            raise QuoteInputError("coverage", f"required for {product.id}: one of {list(options)} (CNY)")
        if req.coverage not in options:
            raise QuoteInputError("coverage", f"{req.coverage} is not offered by {product.id}: one of {list(options)}")
        return req.coverage

    @staticmethod
    def _payment_mode(product: Product, req: QuoteRequest) -> str:
        if req.payment_mode is None:
            if product.default_payment_mode:
                return product.default_payment_mode
            raise QuoteInputError("payment_mode", f"required for {product.id}: one of {list(product.payment_modes)}")
        if req.payment_mode not in product.payment_modes:
            raise QuoteInputError("payment_mode", f"'{req.payment_mode}' is not offered by {product.id}: "
                                                  f"one of {list(product.payment_modes)}")
        return req.payment_mode

    @staticmethod
    def _option(product: Product, name: str, value: Any, options: tuple, default: Any) -> Any:
        if not options:
            return None
        if value is None:
            return default
        if value not in options:
            raise QuoteInputError(name, f"{value!r} is not offered by {product.id}: one of {list(options)}")
        return value

    def _province(self, product: Product, req: QuoteRequest) -> Optional[str]:
        if req.province is None or not product.sale_regions:
            return None
        province = normalize_province(req.province)
        if province is None:
            raise QuoteInputError("province", f"'{req.province}' is not a Chinese province or city name (e.g. 广东)")
        return province

    # -- the quote ----------------------------------------------------------------------------
    def quote(self, req: QuoteRequest, *, partial: bool = False) -> QuoteResult:
        """Check and price `req`. partial=True: refuse on the facts known so far, and raise
        QuoteInputError only when the known facts pass but a needed one is missing."""
        product = self.product(req.product_id)
        age, age_days = self._age(req)
        if product.max_phone_age_days is not None and req.phone_price_cny is not None and req.phone_price_cny <= 0:
            raise QuoteInputError("phone_price_cny", "must be greater than 0")
        who = Applicant(age_years=age, age_days=age_days, relation=req.relation,
                        occupation_class=req.occupation_class if product.refused_occupation_classes else None,
                        phone_price_cny=req.phone_price_cny, activation_days=req.activation_days,
                        province=self._province(product, req), driver_certified=req.driver_certified)
        now = self.clock()
        today = self.today(now)
        clause = self.clauses[product.id]
        table = self.rates[product.id]
        try:
            refusal = check_eligibility(product, who, today, partial=partial)
        except MissingFact as exc:
            raise QuoteInputError(exc.field, exc.reason) from exc
        facts: dict[str, Any] = {"product_id": product.id, "age": who.years, "age_days": age_days,
                                 "relation": req.relation, "occupation_class": who.occupation_class,
                                 "phone_price_cny": who.phone_price_cny, "activation_days": who.activation_days,
                                 "province": who.province, "driver_certified": who.driver_certified,
                                 "today": today.isoformat()}
        facts = {k: v for k, v in facts.items() if v is not None}
        quote_id = self.id_factory(now)
        if refusal is not None:
            alternative = suggest_alternative(self.catalogue, product, who, today)
            log.info("quote refused", extra={"event": "quote.refused", "quote_id": quote_id, "product": product.id,
                                             "code": refusal.code, "alternative": alternative.id if alternative else None})
            return QuoteResult(quote_id, product, False, refusal.reason, refusal, alternative, None,
                               req.payment_mode, who, facts, table.version, clause, now, None)

        coverage = self._coverage(product, req)
        mode = self._payment_mode(product, req)
        inputs = {
            "age": who.years, "coverage": coverage, "phone_price": who.phone_price_cny, "province": who.province,
            "occupation_class": who.occupation_class,
            "term_months": self._option(product, "term_months", req.term_months, product.term_months_options,
                                        product.term_months_options[0] if product.term_months_options else None),
            "payment_years": self._option(product, "payment_years", req.payment_years, product.payment_years_options,
                                          DEFAULT_PAYMENT_YEARS),
            "cover_to": self._option(product, "cover_to", req.cover_to, product.cover_to_options, DEFAULT_COVER_TO),
        }
        try:
            priced = price(table, inputs, mode)
        except NoRate as exc:
            raise QuoteInputError(exc.field, exc.reason) from exc
        facts.update({k: v for k, v in inputs.items() if v is not None and k not in ("age", "phone_price")})
        facts["payment_mode"] = mode
        valid_until = now + dt.timedelta(hours=table.validity_hours)
        log.info("quote priced", extra={"event": "quote.priced", "quote_id": quote_id, "product": product.id,
                                        "premium": str(priced.premium), "mode": mode, "rate_version": table.version})
        return QuoteResult(quote_id, product, True, None, None, None, priced, mode, who, facts, table.version,
                           clause, now, valid_until)

    def show(self, result: QuoteResult, *, user_id: str, channel: str,
             understood_from: Optional[Mapping[str, str]] = None) -> QuoteResult:
        """Render the message and record its display (before anyone sees it); returns the result with
        `message` set. `understood_from` ({slot: the user's words}) is stored with the priced facts, so
        the record shows what was understood and from which words. Raises audit.DisplayNotRecorded
        when the record cannot be written."""
        from quotes.messages import render

        message = render(result, self.catalogue)
        if self.recorder is not None:
            self.recorder.record(DisplayRecord(
                quote_id=result.quote_id, product_id=result.product.id, clause_version=result.clause.version,
                rate_version=result.rate_version, eligible=result.eligible, premium_cny=result.premium,
                payment_mode=result.payment_mode, user_id=user_id, channel=channel, shown_at=self.clock(),
                message=message,
                facts={**result.facts, **({"understood_from": dict(understood_from)} if understood_from else {})}))
        else:
            log.warning("quote shown without a display recorder", extra={"event": "quote.unrecorded",
                                                                         "quote_id": result.quote_id})
        return replace(result, message=message)


def business_date_of(value: str) -> Optional[dt.date]:
    """settings.quote_business_date ('2026-07-15' or empty) as a date; a bad value is a clear start-up error."""
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"QUOTE_BUSINESS_DATE must be YYYY-MM-DD, got {value!r}") from exc
