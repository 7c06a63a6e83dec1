"""Versioned premium rate tables (knowledge/content/rates/<product_id>.yml), loaded and validated.

Data ops edit these files; nothing here trusts them. Every problem is reported with file, row
and reason, and the business rules a table must keep are checked before a quote can use it:
bands cover every eligible age exactly once, options match products.yml, instalments never cost
less than paying at once (monthly x 12 >= annual), and for health products older never costs less.
`validate_rate_dir` is the entry point for ops tooling (`python -m quotes validate`).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from itertools import groupby
from pathlib import Path
from typing import Any, Mapping, Optional

import yaml

from quotes.catalogue import Catalogue, Product, format_cny

RANGE_DIMENSIONS = ("age", "phone_price")
EXACT_DIMENSIONS = ("coverage", "province")
KNOWN_DIMENSIONS = RANGE_DIMENSIONS + EXACT_DIMENSIONS
KNOWN_FACTORS = {"occupation_class": int, "term_months": int, "payment_years": int, "cover_to": str}
BASES = ("per_policy", "per_10k")
TOP_KEYS = {"product_id", "version", "effective_from", "base_period", "validity_hours", "basis",
            "dimensions", "base_premiums", "factors", "payment_modes"}


class RateTableError(ValueError):
    """One or more rate tables are unusable; `problems` lists each as 'file: where: why'."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid rate table(s):\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class BaseRow:
    keys: Mapping[str, Any]  # age/phone_price: (low, high or None); coverage: int; province: str
    premium: Decimal
    index: int

    def matches(self, values: Mapping[str, Any]) -> bool:
        for dim, key in self.keys.items():
            value = values.get(dim)
            if value is None:
                return False
            if dim in RANGE_DIMENSIONS:
                low, high = key
                if value < low or (high is not None and value >= high + 1):
                    return False
            elif value != key:
                return False
        return True

    def describe(self) -> str:
        parts = []
        for dim, key in self.keys.items():
            if dim == "age":
                parts.append(f"{key[0]}-{key[1]}周岁")
            elif dim == "phone_price":
                parts.append(f"手机价格{key[0]}元以上" if key[1] is None else f"手机价格{key[0]}-{key[1]}元")
            elif dim == "coverage":
                parts.append(f"保额{format_cny(key)}")
            else:
                parts.append(str(key))
        return "，".join(parts)


@dataclass(frozen=True)
class ModeRate:
    mode: str
    label: str
    unit: str
    factor: Decimal
    periods: int
    first_period_premium: Optional[Decimal] = None


@dataclass(frozen=True)
class RateTable:
    product_id: str
    version: str
    effective_from: dt.date
    base_period: str
    validity_hours: int
    basis: str
    dimensions: tuple[str, ...]
    rows: tuple[BaseRow, ...]
    factors: Mapping[str, Mapping[Any, Decimal]]
    payment_modes: Mapping[str, ModeRate]
    source: str

    def find_row(self, values: Mapping[str, Any]) -> Optional[BaseRow]:
        return next((row for row in self.rows if row.matches(values)), None)


def _decimal(value: Any, where: str, problems: list[str], *, positive: bool = True) -> Optional[Decimal]:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        problems.append(f"{where}: expected a number, got {value!r}")
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        problems.append(f"{where}: expected a number, got {value!r}")
        return None
    if not number.is_finite() or (positive and number <= 0):
        problems.append(f"{where}: must be a positive number, got {value!r}")
        return None
    return number


def _range(value: Any, where: str, problems: list[str]) -> Optional[tuple[int, Optional[int]]]:
    ok = isinstance(value, list) and len(value) == 2 and isinstance(value[0], int) and not isinstance(value[0], bool)
    ok = ok and (value[1] is None or (isinstance(value[1], int) and not isinstance(value[1], bool)))
    if not ok:
        problems.append(f"{where}: expected [low, high] whole numbers (high may be null), got {value!r}")
        return None
    low, high = value
    if low < 0 or (high is not None and high < low):
        problems.append(f"{where}: range {value!r} is empty or negative")
        return None
    return low, high


def parse_rate_table(data: Any, source: str) -> RateTable:
    """Structural parse of one table; raises RateTableError listing every problem found."""
    problems: list[str] = []
    if not isinstance(data, Mapping):
        raise RateTableError([f"{source}: expected a mapping at the top level"])
    missing = sorted(TOP_KEYS - set(data))
    if missing:
        problems.append(f"{source}: missing keys {missing}")
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        problems.append(f"{source}: unknown keys {unknown} (typo?)")
    if problems:
        raise RateTableError(problems)

    version = data["version"]
    if not isinstance(version, (str, int, float)) or not str(version).strip():
        problems.append(f"{source}: version must be a non-empty string")
    try:
        effective = dt.date.fromisoformat(str(data["effective_from"]))
    except ValueError:
        problems.append(f"{source}: effective_from must be a date YYYY-MM-DD, got {data['effective_from']!r}")
        effective = dt.date.min
    hours = data["validity_hours"]
    if not isinstance(hours, int) or isinstance(hours, bool) or not 1 <= hours <= 24 * 30:
        problems.append(f"{source}: validity_hours must be a whole number of hours (1-720), got {hours!r}")
    if data["basis"] not in BASES:
        problems.append(f"{source}: basis must be one of {list(BASES)}, got {data['basis']!r}")
    dims = data["dimensions"]
    if not isinstance(dims, list) or any(d not in KNOWN_DIMENSIONS for d in dims) or len(set(dims)) != len(dims):
        problems.append(f"{source}: dimensions must be distinct names from {list(KNOWN_DIMENSIONS)}, got {dims!r}")
        dims = []

    rows: list[BaseRow] = []
    raw_rows = data["base_premiums"]
    if not isinstance(raw_rows, list) or not raw_rows:
        problems.append(f"{source}: base_premiums must be a non-empty list")
        raw_rows = []
    for i, raw in enumerate(raw_rows):
        where = f"{source}: base_premiums[{i}]"
        if not isinstance(raw, Mapping):
            problems.append(f"{where}: expected a mapping")
            continue
        expected = set(dims) | {"premium"}
        if set(raw) != expected:
            problems.append(f"{where}: keys must be exactly {sorted(expected)}, got {sorted(raw)}")
            continue
        keys: dict[str, Any] = {}
        for dim in dims:
            if dim in RANGE_DIMENSIONS:
                keys[dim] = _range(raw[dim], f"{where}.{dim}", problems)
            elif dim == "coverage":
                ok = isinstance(raw[dim], int) and not isinstance(raw[dim], bool) and raw[dim] > 0
                keys[dim] = raw[dim] if ok else problems.append(f"{where}.coverage: expected CNY as a whole number")
            else:
                keys[dim] = str(raw[dim]).strip() or problems.append(f"{where}.{dim}: must not be empty")
        premium = _decimal(raw["premium"], f"{where}.premium", problems)
        if premium is not None and None not in keys.values():
            rows.append(BaseRow(keys, premium, i))

    factors: dict[str, dict[Any, Decimal]] = {}
    raw_factors = data["factors"] or {}
    if not isinstance(raw_factors, Mapping):
        problems.append(f"{source}: factors must be a mapping")
        raw_factors = {}
    for name, table in raw_factors.items():
        where = f"{source}: factors.{name}"
        if name not in KNOWN_FACTORS:
            problems.append(f"{where}: unknown factor (known: {sorted(KNOWN_FACTORS)})")
            continue
        if not isinstance(table, Mapping) or not table:
            problems.append(f"{where}: expected a non-empty mapping value -> multiplier")
            continue
        key_type = KNOWN_FACTORS[name]
        factors[name] = {}
        for key, value in table.items():
            if not isinstance(key, key_type) or isinstance(key, bool):
                problems.append(f"{where}: key {key!r} must be a {key_type.__name__}")
                continue
            number = _decimal(value, f"{where}.{key}", problems)
            if number is not None:
                factors[name][key] = number

    modes: dict[str, ModeRate] = {}
    raw_modes = data["payment_modes"]
    if not isinstance(raw_modes, Mapping) or not raw_modes:
        problems.append(f"{source}: payment_modes must be a non-empty mapping")
        raw_modes = {}
    for mode, spec in raw_modes.items():
        where = f"{source}: payment_modes.{mode}"
        if not isinstance(spec, Mapping) or not {"label", "unit", "factor", "periods"} <= set(spec):
            problems.append(f"{where}: needs label, unit, factor and periods")
            continue
        extra = set(spec) - {"label", "unit", "factor", "periods", "first_period_premium"}
        if extra:
            problems.append(f"{where}: unknown keys {sorted(extra)}")
        factor = _decimal(spec["factor"], f"{where}.factor", problems)
        periods = spec["periods"]
        if not isinstance(periods, int) or isinstance(periods, bool) or periods < 1:
            problems.append(f"{where}.periods: must be a whole number >= 1, got {periods!r}")
            continue
        first = None
        if spec.get("first_period_premium") is not None:
            first = _decimal(spec["first_period_premium"], f"{where}.first_period_premium", problems)
        if factor is not None:
            modes[str(mode)] = ModeRate(str(mode), str(spec["label"]), str(spec["unit"]), factor, periods, first)

    if problems:
        raise RateTableError(problems)
    return RateTable(str(data["product_id"]), str(version).strip(), effective, str(data["base_period"]), hours,
                     data["basis"], tuple(dims), tuple(rows), factors, modes, source)


def _check_ranges(table: RateTable, dim: str, start: int, end: Optional[int], problems: list[str]) -> None:
    """Rows grouped by their other keys must tile [start, end] (end None: open-ended) exactly."""
    others = [d for d in table.dimensions if d != dim]

    def group_key(row: BaseRow) -> tuple:
        return tuple(str(row.keys[d]) for d in others)

    rows = sorted(table.rows, key=lambda r: (group_key(r), r.keys[dim][0]))
    for key, group in groupby(rows, key=group_key):
        label = f" for {dict(zip(others, key))}" if others else ""
        expected = start
        group = list(group)
        for row in group:
            low, high = row.keys[dim]
            if low != expected:
                kind = "overlap" if low < expected else "gap"
                problems.append(f"{table.source}: base_premiums[{row.index}]: {dim} band {[low, high]}{label} "
                                f"leaves a {kind} (expected it to start at {expected})")
            if high is None:
                if row is not group[-1]:
                    problems.append(f"{table.source}: base_premiums[{row.index}]: only the last {dim} band may be open")
                expected = None
                break
            expected = high + 1
        if end is None and expected is not None:
            problems.append(f"{table.source}: the last {dim} band{label} must be open-ended ([low, null])")
        elif end is not None and (expected is None or expected <= end):
            problems.append(f"{table.source}: {dim} bands{label} stop before {end}")


def validate_rate_table(table: RateTable, product: Product) -> list[str]:
    """Business rules between a parsed table and its product; returns the problems (empty when valid)."""
    problems: list[str] = []
    src = table.source
    if table.product_id != product.id:
        problems.append(f"{src}: product_id '{table.product_id}' does not match '{product.id}'")

    if "age" in table.dimensions:
        start = 0 if product.age.min_days is not None else int(product.age.min_years or 0)
        _check_ranges(table, "age", start, product.age.max_years if product.age.max_years is not None else 120,
                      problems)
    if "phone_price" in table.dimensions:
        _check_ranges(table, "phone_price", 0, None, problems)

    if table.basis == "per_10k":
        if "coverage" in table.dimensions:
            problems.append(f"{src}: a per_10k table must not also list coverage as a dimension")
        if not product.coverage_options:
            problems.append(f"{src}: per_10k pricing needs sum insured options in products.yml")
    elif len(product.coverage_options) > 1 and "coverage" not in table.dimensions:
        problems.append(f"{src}: {product.id} has several sum insured options: add 'coverage' to dimensions")
    if "coverage" in table.dimensions:
        found = {row.keys["coverage"] for row in table.rows}
        if found != set(product.coverage_options):
            problems.append(f"{src}: coverage values {sorted(found)} must equal products.yml options "
                            f"{sorted(product.coverage_options)}")
    if "province" in table.dimensions:
        found = {row.keys["province"] for row in table.rows}
        if found != set(product.sale_regions):
            problems.append(f"{src}: provinces {sorted(found)} must equal the sale regions {sorted(product.sale_regions)}")
    elif product.sale_regions and "province" not in table.dimensions:
        pass  # one price for every sale region is allowed

    seen: dict[tuple, int] = {}
    for row in table.rows:
        key = tuple((d, str(row.keys[d])) for d in table.dimensions)
        if key in seen:
            problems.append(f"{src}: base_premiums[{row.index}] duplicates base_premiums[{seen[key]}]")
        seen[key] = row.index

    required_factors: dict[str, set] = {}
    if product.refused_occupation_classes:
        required_factors["occupation_class"] = set(range(1, 7)) - set(product.refused_occupation_classes)
    if product.term_months_options:
        required_factors["term_months"] = set(product.term_months_options)
    if product.payment_years_options:
        required_factors["payment_years"] = set(product.payment_years_options)
    if len(product.cover_to_options) > 1:
        required_factors["cover_to"] = set(product.cover_to_options)
    for name, keys in required_factors.items():
        have = set(table.factors.get(name, {}))
        if have != keys:
            problems.append(f"{src}: factors.{name} must price exactly {sorted(keys, key=str)}, got {sorted(have, key=str)}")
    for name in set(table.factors) - set(required_factors):
        problems.append(f"{src}: factors.{name} does not apply to {product.id}")

    if set(table.payment_modes) != set(product.payment_modes):
        problems.append(f"{src}: payment_modes {sorted(table.payment_modes)} must equal products.yml "
                        f"{sorted(product.payment_modes)}")
    for mode in table.payment_modes.values():
        where = f"{src}: payment_modes.{mode.mode}"
        if mode.factor * mode.periods < 1:
            problems.append(f"{where}: factor {mode.factor} x {mode.periods} payments < 1: paying in instalments "
                            f"would cost less than the base premium")
        if mode.first_period_premium is not None:
            if mode.periods < 2:
                problems.append(f"{where}: a first-period promotion needs more than one payment")
            elif mode.factor * (mode.periods - 1) < 1:
                problems.append(f"{where}: with the first-period promotion the instalments would cost less than "
                                f"the base premium; raise the factor")
            if product.first_month_promo_cny is None:
                problems.append(f"{where}: products.yml announces no first-month promotion for {product.id}")
            elif mode.first_period_premium != product.first_month_promo_cny:
                problems.append(f"{where}: first_period_premium {mode.first_period_premium} differs from products.yml "
                                f"(首月{product.first_month_promo_cny}元)")
    if product.first_month_promo_cny is not None and not any(
            m.first_period_premium is not None for m in table.payment_modes.values()):
        problems.append(f"{src}: products.yml announces 首月{product.first_month_promo_cny}元: "
                        f"set first_period_premium on the monthly mode")

    if product.is_health and "age" in table.dimensions:
        others = [d for d in table.dimensions if d != "age"]
        rows = sorted(table.rows, key=lambda r: (tuple(str(r.keys[d]) for d in others), r.keys["age"][0]))
        for _, group in groupby(rows, key=lambda r: tuple(str(r.keys[d]) for d in others)):
            group = list(group)
            for younger, older in zip(group, group[1:]):
                if older.premium < younger.premium:
                    problems.append(f"{src}: base_premiums[{older.index}]: health product premium drops with age "
                                    f"({younger.premium} -> {older.premium}); older must never cost less")
    return problems


def _load_one(path: Path, product: Product) -> tuple[Optional[RateTable], list[str]]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        return None, [f"{path.name}: cannot read: {exc}"]
    try:
        table = parse_rate_table(data, path.name)
    except RateTableError as exc:
        return None, exc.problems
    return table, validate_rate_table(table, product)


def validate_rate_dir(rates_dir: Path, catalogue: Catalogue) -> list[str]:
    """Every problem of every table in `rates_dir` (empty list: all valid). Never raises on bad data."""
    problems: list[str] = []
    rates_dir = Path(rates_dir)
    for product_id, product in catalogue.products.items():
        path = rates_dir / f"{product_id}.yml"
        if not path.exists():
            problems.append(f"{path.name}: missing (every product in products.yml needs a rate table)")
            continue
        problems += _load_one(path, product)[1]
    for path in sorted(rates_dir.glob("*.yml")):
        if path.stem not in catalogue:
            problems.append(f"{path.name}: no product '{path.stem}' in products.yml")
    return problems


def load_rate_tables(rates_dir: Path, catalogue: Catalogue) -> dict[str, RateTable]:
    """All tables, validated; raises RateTableError with every problem if any table is unusable."""
    problems = validate_rate_dir(rates_dir, catalogue)
    if problems:
        raise RateTableError(problems)
    tables = {}
    for product_id, product in catalogue.products.items():
        table, _ = _load_one(Path(rates_dir) / f"{product_id}.yml", product)
        assert table is not None
        tables[product_id] = table
    return tables


# --- rate tables as texts (the ops console keeps them as versioned documents in the database) -------------
def _parse_text(product_id: str, text: str, product: Product) -> tuple[Optional[RateTable], list[str]]:
    source = f"{product_id}.yml"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return None, [f"{source}: not valid YAML: {exc}"]
    try:
        table = parse_rate_table(data, source)
    except RateTableError as exc:
        return None, exc.problems
    return table, validate_rate_table(table, product)


def validate_rate_texts(texts: Mapping[str, str], catalogue: Catalogue) -> list[str]:
    """Like validate_rate_dir, for {product_id: YAML text}; every problem, never raises on bad data."""
    problems: list[str] = []
    for product_id, product in catalogue.products.items():
        if product_id not in texts:
            problems.append(f"{product_id}.yml: missing (every product in products.yml needs a rate table)")
            continue
        problems += _parse_text(product_id, texts[product_id], product)[1]
    problems += [f"{pid}.yml: no product '{pid}' in products.yml" for pid in sorted(texts) if pid not in catalogue]
    return problems


def rate_tables_from_texts(texts: Mapping[str, str], catalogue: Catalogue) -> dict[str, RateTable]:
    """All tables from texts, validated; raises RateTableError listing every problem."""
    problems = validate_rate_texts(texts, catalogue)
    if problems:
        raise RateTableError(problems)
    return {pid: _parse_text(pid, texts[pid], product)[0] for pid, product in catalogue.products.items()}


class PublishedRateTables(Mapping[str, RateTable]):
    """Rate tables that follow the published version of the ops console, for a long-lived QuoteService.

    `fetch()` returns (version key, {product_id: YAML text}) of the published version, or None when
    there is none; it is called at most every `ttl_s` seconds. A version whose tables do not validate
    is refused (logged) and the last good tables keep serving: a quote never uses a broken table.
    """

    def __init__(self, fallback: Mapping[str, RateTable], catalogue: Catalogue, fetch, *, ttl_s: float = 2.0):
        import threading

        self._tables: dict[str, RateTable] = dict(fallback)
        self._catalogue, self._fetch, self._ttl = catalogue, fetch, ttl_s
        self._version: Any = None
        self._checked_at = float("-inf")
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        import logging
        import time

        now = time.monotonic()
        if now - self._checked_at < self._ttl or not self._lock.acquire(blocking=False):
            return
        try:
            self._checked_at = now
            published = self._fetch()
            if published is None or published[0] == self._version:
                return
            version, texts = published
            try:
                self._tables = rate_tables_from_texts(texts, self._catalogue)
            except RateTableError as exc:
                logging.getLogger(__name__).error("published rate tables refused; previous tables keep serving",
                                                  extra={"event": "quotes.rates_refused", "version": str(version),
                                                         "problems": exc.problems[:5]})
            self._version = version
        except Exception:  # the database being away must not break quoting: keep the tables we have
            logging.getLogger(__name__).warning("could not check the published rate tables",
                                                extra={"event": "quotes.rates_check_failed"}, exc_info=True)
        finally:
            self._lock.release()

    @property
    def version(self) -> Any:
        return self._version

    def __getitem__(self, product_id: str) -> RateTable:
        self._refresh()
        return self._tables[product_id]

    def __iter__(self):
        return iter(self._tables)

    def __len__(self) -> int:
        return len(self._tables)
