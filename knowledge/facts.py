"""The product sheet as checkable facts: what every answer, clause article and quote text must agree with.

Each rule carries the fact it protects (an id, the sheet's statement and where it comes from), so a
contradiction found in a sentence can be shown to an editor as "this sentence, this fact". The figures
are read from `products.yml` itself (numbers, and the few facts the sheet writes as text, parsed here);
`terms.yml` holds the terms the sheet leaves to the project's clause documents (grace periods).
Changing a figure in the sheet changes what the checker expects, without touching this module.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Iterable, Mapping, Optional

import yaml

SERVICE = "service"  # facts that hold whatever product a sentence is about

# how sentences name each product; longest first when matching (网约车司机意外险 before 意外险)
PRODUCT_NAMES: Mapping[str, tuple[str, ...]] = {
    "medical_million": ("百万医疗险", "百万医疗", "普惠住院医疗", "住院医疗险", "医疗险"),
    "accident": ("综合意外险", "1元意外险", "一元意外险", "意外险"),
    "critical_illness": ("重大疾病保险", "长期重疾险", "重疾险"),
    "screen": ("手机碎屏险", "碎屏险"),
    "typhoon": ("台风天气险", "台风险", "天气险"),
    "driver_accident": ("网约车司机专属意外险", "网约车司机意外险", "司机意外险", "司机险", "网约车司机", "网约车"),
}


@dataclass(frozen=True)
class Fact:
    """One statement of the sheet, as an editor reads it."""

    id: str
    product: str
    statement: str
    source: str


@dataclass(frozen=True)
class NumberRule:
    """A number written next to `keyword` must be one of `allowed` (0 also reads "无/没有/不设 keyword").

    `qualifiers` narrow the allowed values by what the number is about: the nearest qualifier word
    before the keyword (within the sentence, or the clause for `qualifier_scope="segment"`) picks
    its own allowed set (一般医疗 1万 vs 重大疾病医疗 0 免赔)."""

    fact: Fact
    keyword: str
    allowed: frozenset[Decimal]
    units: frozenset[str]
    qualifiers: tuple[tuple[str, frozenset[Decimal], Fact], ...] = ()
    qualifier_scope: str = "sentence"
    negation_is_zero: bool = True


@dataclass(frozen=True)
class RangeRule:
    """An age range "A至B周岁" about the product must be the sheet's range."""

    fact: Fact
    low: str   # "28天" or "18"
    high: Decimal


@dataclass(frozen=True)
class PatternRule:
    """A sentence matching `when` (and not `unless`) contradicts the fact."""

    fact: Fact
    when: re.Pattern[str]
    unless: Optional[re.Pattern[str]] = None


@dataclass(frozen=True)
class FactTable:
    facts: tuple[Fact, ...]
    numbers: tuple[NumberRule, ...]
    ranges: tuple[RangeRule, ...]
    patterns: tuple[PatternRule, ...]
    products: Mapping[str, dict] = field(default_factory=dict)

    def rules_for(self, product: str) -> tuple[list[NumberRule], list[RangeRule], list[PatternRule]]:
        return ([r for r in self.numbers if r.fact.product == product],
                [r for r in self.ranges if r.fact.product == product],
                [r for r in self.patterns if r.fact.product == product])


def _d(value: object) -> Decimal:
    return Decimal(str(value))


def _wan(amount_cny: object) -> str:
    value = _d(amount_cny)
    return f"{value / 10000:g}万" if value >= 10000 and value % 10000 == 0 else f"{value:g}元"


class _Builder:
    def __init__(self) -> None:
        self.facts: list[Fact] = []
        self.numbers: list[NumberRule] = []
        self.ranges: list[RangeRule] = []
        self.patterns: list[PatternRule] = []

    def fact(self, fid: str, product: str, statement: str, source: str) -> Fact:
        fact = Fact(fid, product, statement, source)
        self.facts.append(fact)
        return fact

    def number(self, fact: Fact, keyword: str, allowed: Iterable[object], units: Iterable[str],
               qualifiers: Iterable[tuple[str, Iterable[object], Fact]] = (), qualifier_scope: str = "sentence",
               negation_is_zero: bool = True) -> None:
        self.numbers.append(NumberRule(fact, keyword, frozenset(_d(v) for v in allowed), frozenset(units),
                                       tuple((q, frozenset(_d(v) for v in vals), f) for q, vals, f in qualifiers),
                                       qualifier_scope, negation_is_zero))

    def pattern(self, fact: Fact, when: str, unless: Optional[str] = None) -> None:
        self.patterns.append(PatternRule(fact, re.compile(when), re.compile(unless) if unless else None))


DAYS = ("天", "日")
CNY = ("元", "")


def _ages(b: _Builder, pid: str, raw: Mapping, who: str = "被保险人") -> None:
    ages = raw.get("insured_age") or raw.get("policyholder_age") or {}
    if "max_years" not in ages:
        low = ages.get("min_years")
        if low is not None:
            fact = b.fact(f"{pid}.age", pid, f"{'投保人' if 'policyholder_age' in raw else who}需年满{low}周岁",
                          "products.yml policyholder_age")
            b.pattern(fact, rf"年满(?!{low}周岁)\d+周岁")
        return
    low = f"{ages['min_days']}天" if "min_days" in ages else str(ages["min_years"])
    shown = f"出生满{ages['min_days']}天" if "min_days" in ages else f"{ages['min_years']}"
    fact = b.fact(f"{pid}.age", pid, f"{who}{shown}至{ages['max_years']}周岁可投保", "products.yml insured_age")
    b.ranges.append(RangeRule(fact, low, _d(ages["max_years"])))
    if raw.get("renew_until_age"):
        renew = b.fact(f"{pid}.renew_age", pid, f"最高可续保至{raw['renew_until_age']}周岁", "products.yml renew_until_age")
        b.pattern(renew, rf"续保?[^，。；]{{0,6}}?至(?!{raw['renew_until_age']}周岁)\d+周岁")


def _waiting(b: _Builder, pid: str, raw: Mapping, accident_free: bool) -> None:
    days = raw["waiting_period_days"]
    statement = f"等待期{days}天" if days else "无等待期"
    fact = b.fact(f"{pid}.waiting_period", pid, statement + ("（意外导致的无等待期）" if accident_free else ""),
                  "products.yml waiting_period_days")
    # "意外伤害导致的，无等待期": 0 is right once the sentence has named accidents (or renewal) before it
    qualifiers = [("意外", [0, days], fact), ("续保", [0, days], fact)] if accident_free else []
    b.number(fact, "等待期", [days], DAYS, qualifiers)


def _cooling_off(b: _Builder, pid: str, raw: Mapping) -> None:
    days = raw.get("cooling_off_days", 0)
    statement = f"犹豫期{days}天，犹豫期内退保全额退还已交保费" if days else "不设犹豫期，可随时退保，退还未满期净保费"
    fact = b.fact(f"{pid}.cooling_off", pid, statement, "products.yml cooling_off_days")
    b.number(fact, "犹豫期", [days], DAYS)


def _medical(b: _Builder, pid: str, raw: Mapping, terms: Mapping) -> None:
    sums, ded, ratio = raw["sum_insured_cny"], raw["deductible_cny"], raw["payout_ratio"]
    zero = terms["critical_illness_medical_deductible_cny"]
    general = b.fact(f"{pid}.deductible.general", pid, f"一般医疗年度免赔额{_wan(ded)}元", "products.yml deductible_cny")
    critical = b.fact(f"{pid}.deductible.critical_illness_medical", pid, f"重大疾病医疗{zero}免赔（恶性肿瘤等重大疾病的治疗）",
                      "products.yml deductible_cny（重大疾病医疗 0 免赔）")
    b.number(general, "免赔", [ded, zero], CNY + ("万",),
             [("一般医疗", [ded], general)] + [(word, [zero], critical) for word in ("重大疾病", "重疾", "恶性肿瘤", "癌症")])
    cap_general = b.fact(f"{pid}.sum.general", pid, f"一般医疗年度保额{_wan(sums['general'])}", "products.yml sum_insured_cny")
    cap_critical = b.fact(f"{pid}.sum.critical_illness_medical", pid,
                          f"重大疾病医疗年度保额{_wan(sums['critical_illness_medical'])}（与一般医疗合计以此为限）",
                          "products.yml sum_insured_cny；条款 重大疾病医疗保险金")
    # "与一般医疗累计最高600万": the shared cap words outrank the cover named inside them
    caps = [("一般医疗", [sums["general"]], cap_general)] + [
        (word, [sums["critical_illness_medical"]], cap_critical) for word in ("重大疾病", "重疾", "累计", "合计")]
    for keyword in ("最高", "保额"):
        b.number(cap_general, keyword, [sums["general"], sums["critical_illness_medical"]], ("万", "元"), caps,
                 negation_is_zero=False)
    shared = _wan(sums["critical_illness_medical"])
    b.pattern(cap_critical, re.escape(shared), r"累计|合计|共用|共享|一共|总共|总额")
    full, partial = (int(_d(v) * 100) for v in (ratio["with_social_insurance"], ratio["without_social_insurance"]))
    ratio_fact = b.fact(f"{pid}.payout_ratio", pid,
                        f"有社保（经社保结算）按{full}%赔付，无社保按{partial}%赔付", "products.yml payout_ratio")
    b.number(ratio_fact, "赔", [full, partial], ("%",), negation_is_zero=False)
    b.pattern(ratio_fact, rf"(?<!\d){partial}%", r"无社保|没有社保|没社保|未参加社会基本医疗保险|不参加社保")
    _waiting(b, pid, raw, accident_free=True)


def _accident(b: _Builder, pid: str, raw: Mapping, terms: Mapping) -> None:
    options = raw["sum_insured_cny_options"]
    cover = b.fact(f"{pid}.sum", pid, "意外身故/伤残保额可选" + "、".join(_wan(v) for v in options),
                   "products.yml sum_insured_cny_options")
    medical = b.fact(f"{pid}.accident_medical", pid,
                     f"意外医疗最高{_wan(raw['accident_medical_cny'])}，{terms['accident_medical_deductible_cny']}元免赔，"
                     f"社保范围内{terms['accident_medical_payout_percent']}%赔付",
                     "products.yml accident_medical_cny")
    b.number(cover, "保额", options, ("万", "元"), [("意外医疗", [raw["accident_medical_cny"]], medical)],
             negation_is_zero=False)
    b.number(medical, "最高", [raw["accident_medical_cny"], *options], ("万", "元"),
             [("意外医疗", [raw["accident_medical_cny"]], medical)], negation_is_zero=False)
    no_deductible = b.fact(f"{pid}.death_disability_deductible", pid, "意外身故/伤残保险金无免赔额", "products.yml（免赔只在意外医疗）")
    b.number(medical, "免赔", [terms["accident_medical_deductible_cny"], 0], CNY,
             [("意外医疗", [terms["accident_medical_deductible_cny"]], medical),
              ("身故", [0], no_deductible), ("伤残", [0], no_deductible)])
    b.number(medical, "赔", [terms["accident_medical_payout_percent"]], ("%",), negation_is_zero=False)
    promo = b.fact(f"{pid}.first_month", pid, str(raw["first_month_promo"]), "products.yml first_month_promo")
    b.pattern(promo, r"首月(只要|仅需|仅|只需)?1元", r"次月起[^。]{0,12}(正常保费|按月缴|每月\d)")
    occupations = b.fact(f"{pid}.occupations", pid, str(raw["occupations"]), "products.yml occupations")
    b.pattern(occupations, r"[5５五]-?[6６六]类(高危)?职业(也|都)?(可以|可|能)投")
    _waiting(b, pid, raw, accident_free=False)


def _critical(b: _Builder, pid: str, raw: Mapping, terms: Mapping) -> None:
    sums = raw["sum_insured_cny"]
    sum_fact = b.fact(f"{pid}.sum", pid, f"保额{_wan(sums['min'])}至{_wan(sums['max'])}，每档{_wan(sums['step'])}",
                      "products.yml sum_insured_cny")
    allowed = range(int(sums["min"]), int(sums["max"]) + 1, int(sums["step"]))
    b.number(sum_fact, "保额", allowed, ("万", "元"), negation_is_zero=False)
    for count, label, percent, times in re.findall(r"(\d+)种(\S+?)（(?:赔付)?(\d+)%(?:保额)?，限(\d+)次）",
                                                  str(raw["coverage"])):
        fact = b.fact(f"{pid}.coverage.{label}", pid, f"{count}种{label}：赔付{percent}%保额，限{times}次",
                      "products.yml coverage")
        word = "重疾" if label.startswith("重大疾病") else label
        b.pattern(fact, rf"(?<!\d)(?!{count})\d+种{label}")
        b.pattern(fact, rf"{word}[^，。；、]{{0,6}}?(?<!\d)(?!{percent}%)\d+%")
        b.pattern(fact, rf"{word}[^，。；]{{0,12}}?限(?!{times}次)\d+次")
    years = b.fact(f"{pid}.payment_years", pid, "交费期间可选" + "/".join(map(str, raw["payment_years_options"])) + "年",
                   "products.yml payment_years_options")
    b.pattern(years, r"(?<![\d/])(?!(?:" + "|".join(map(str, raw["payment_years_options"])) + r")年)\d+年交")
    _waiting(b, pid, raw, accident_free=True)


def _screen(b: _Builder, pid: str, raw: Mapping, terms: Mapping) -> None:
    days = re.search(r"激活后(\d+)天内", str(raw["eligibility"]))
    window = days.group(1) if days else "180"
    fact = b.fact(f"{pid}.activation", pid, f"手机激活后{window}天内投保：到期时手机已激活约一年，同一部手机不能再投保",
                  "products.yml eligibility")
    b.number(fact, "激活后", [window], DAYS, negation_is_zero=False)
    b.pattern(fact, r"重新验机|(到期|届满)[^。]{0,12}(重新投保|续保|再次投保)",
              r"不能|无法|不可|不支持|没法|不自动|不再|换了?新手机|新手机|另一部")
    claim = b.fact(f"{pid}.claim_settlement", pid, "维修费在保险金额内由保险与维修点直接结算，超出保险金额的部分由用户自付",
                   "products.yml claim；条款 赔偿方式")
    b.pattern(claim, r"直接结算|不用[你您]?先?垫付|无需先?行?垫付", r"保险金额|保额|超出|超过")
    found = re.search(r"限赔(\d+)次", str(raw["term"]))
    times = found.group(1) if found else "1"
    limit = b.fact(f"{pid}.claims_per_term", pid, f"保障期内限赔{times}次", "products.yml term")
    b.pattern(limit, rf"限赔(?!{times}次)\d+次")
    _waiting(b, pid, raw, accident_free=False)


def _typhoon(b: _Builder, pid: str, raw: Mapping, terms: Mapping) -> None:
    pay = raw["payout_cny"]
    fact = b.fact(f"{pid}.payout", pid, f"每次预警赔付：橙色{pay['orange']}元、红色{pay['red']}元（橙色升级为红色按两次预警分别赔付）",
                  "products.yml payout_cny")
    b.number(fact, "橙色预警", [pay["orange"]], ("元",), negation_is_zero=False)
    b.number(fact, "红色预警", [pay["red"]], ("元",), negation_is_zero=False)
    b.pattern(fact, r"橙色[^。]{0,12}升级|升级为红色", r"分别|各自|两次|每次")
    times = terms["typhoon_max_payouts"]
    limit = b.fact(f"{pid}.max_payouts", pid, f"保障期内最多赔付{times}次", "products.yml payout_cny 注")
    b.pattern(limit, rf"最多(赔付?|给付)(?!{times}次)\d+次")
    window = re.search(r"(\d+月\d+日)至(\d+月\d+日)", str(raw["term"]))
    start, end = window.groups() if window else ("6月1日", "10月31日")
    sale = b.fact(f"{pid}.sale_window", pid, f"每年{start}至{end}可投保", "products.yml term")
    b.pattern(sale, r"\d+月\d+日\s*(至|到|-|~)\s*\d+月\d+日", rf"{start}\s*(至|到|-|~)\s*{end}")
    b.pattern(sale, r"重新购买|重新投保|再次购买|再买|续保", re.escape(start))
    regions = b.fact(f"{pid}.regions", pid, "可投保地区：" + "、".join(raw["sale_regions"]), "products.yml sale_regions")
    b.pattern(regions, r"(江苏|山东|湖南|江西|台湾|香港|澳门|全国)[^。]{0,6}(可以|可|能)(投保|买)")
    claim = b.fact(f"{pid}.claim", pid, str(raw["claim"]), "products.yml claim")
    days = re.search(r"(\d+)个工作日", str(raw["claim"]))
    b.number(claim, "工作日", [days.group(1) if days else 3], ("个",), negation_is_zero=False)
    _waiting(b, pid, raw, accident_free=False)


def _driver(b: _Builder, pid: str, raw: Mapping, terms: Mapping) -> None:
    covers = str(raw["covers"])
    death = re.search(r"伤残(\d+)万元", covers)
    med = re.search(r"意外医疗(\d+)万元", covers)
    allowance = re.search(r"每天(\d+)元（最长(\d+)天）", covers)
    cover = b.fact(f"{pid}.covers", pid, covers, "products.yml covers")
    values = [int(death.group(1)) * 10000 if death else 500000, int(med.group(1)) * 10000 if med else 50000]
    b.number(cover, "保额", values, ("万", "元"), negation_is_zero=False)
    b.number(cover, "最高", values, ("万", "元"), negation_is_zero=False)
    if allowance:
        b.pattern(cover, rf"每天(?!{allowance.group(1)}元)\d+元")
        b.pattern(cover, rf"最长(?!{allowance.group(2)}天)\d+天")
    _waiting(b, pid, raw, accident_free=False)


# the rules of each product, by id: each product's sheet entry has fields of its own
PRODUCT_RULES = {"medical_million": _medical, "accident": _accident, "critical_illness": _critical, "screen": _screen,
                 "typhoon": _typhoon, "driver_accident": _driver}


def _grace(b: _Builder, products: Mapping[str, dict], terms: Mapping) -> None:
    for pid, days in (terms.get("grace_period_days") or {}).items():
        if pid not in products:
            raise ValueError(f"terms.yml: grace_period_days names an unknown product {pid}")
        fact = b.fact(f"{pid}.grace_period", pid, f"逾期未交保费有{days}天宽限期，宽限期内保障照常", "terms.yml grace_period_days")
        b.number(fact, "宽限期", [days], DAYS)


def _service(b: _Builder, service: Mapping) -> None:
    cooling = b.fact("service.cover_during_cooling_off", SERVICE,
                     "合同次日零时生效，犹豫期内同样有保障（等待期照常适用）；犹豫期只决定退保能否全额退费",
                     "products.yml cooling_off_days；条款 保险期间")
    b.pattern(cooling, r"犹豫期[^。]{0,12}(出险|确诊|发生[^。]{0,6}事故)[^。]{0,8}(不赔|不予|不承担|不负责)")
    who = b.fact("service.policyholder", SERVICE,
                 "产品资料只规定被保险人的条件，没有限定投保人须为被保险人本人（可为配偶、子女、父母投保）",
                 "products.yml（各产品未限定投保人）")
    b.pattern(who, r"投保人[^。]{0,6}(应为|须为|必须是|只能是|限于)[^。]{0,4}被保险人本人|只能(给|为)?(自己|本人)(投保|买)")
    deadline = service["claim_report_deadline_days"]
    fact = b.fact("service.claim_report_deadline", SERVICE, f"出险后{deadline}日内报案", "products.yml claim_report_deadline_days")
    b.pattern(fact, rf"(?<!\d)(?!{deadline}日)\d+日内[^。，]{{0,6}}报案")
    sla = re.search(r"平均([\d.]+)天结案", str(service["claim_sla"]))
    limit = re.search(r"不超过(\d+)天", str(service["claim_sla"]))
    fact = b.fact("service.claim_sla", SERVICE, str(service["claim_sla"]), "products.yml claim_sla")
    if sla:
        b.pattern(fact, rf"平均(?!{re.escape(sla.group(1))}天)[\d.]+天结案")
    if limit:
        b.pattern(fact, rf"一般案件不超过(?!{limit.group(1)}天)\d+天")
    hours = re.search(r"(\d\d:\d\d)-(\d\d:\d\d)", str(service["human_agent_hours"]))
    fact = b.fact("service.human_hours", SERVICE, str(service["human_agent_hours"]), "products.yml human_agent_hours")
    if hours:
        b.pattern(fact, r"\d\d:\d\d\s*[-至到~]\s*\d\d:\d\d", re.escape(f"{hours.group(1)}-{hours.group(2)}"))
    response = service["complaint_response_hours"]
    fact = b.fact("service.complaint_response", SERVICE, f"投诉{response}小时内响应", "products.yml complaint_response_hours")
    b.pattern(fact, rf"(?<!\d)(?!{response}小时)\d+小时内(响应|回复|联系)")
    retention = service["data_retention_days"]
    fact = b.fact("service.retention", SERVICE, f"会话与操作日志至少保留{retention}天", "products.yml data_retention_days")
    b.pattern(fact, rf"(保留|保存)(?!{retention}天)\d+天|至少保留(?!{retention}天)\d+天")


def build_fact_table(sheet: Mapping, terms: Optional[Mapping] = None) -> FactTable:
    """The fact table of `sheet` (products.yml, parsed) and `terms` (terms.yml, parsed)."""
    b, terms = _Builder(), dict(terms or {})
    products = {p["id"]: p for p in sheet["products"]}
    for pid, raw in products.items():
        if pid in PRODUCT_RULES:
            PRODUCT_RULES[pid](b, pid, raw, terms)
        else:
            _waiting(b, pid, raw, accident_free=False)
        _ages(b, pid, raw)
        _cooling_off(b, pid, raw)
    _grace(b, products, terms)
    _service(b, sheet.get("service") or {})
    return FactTable(tuple(b.facts), tuple(b.numbers), tuple(b.ranges), tuple(b.patterns), products)


def load_fact_table(content_dir: Path) -> FactTable:
    sheet = yaml.safe_load((content_dir / "products.yml").read_text(encoding="utf-8"))
    terms_path = content_dir / "terms.yml"
    terms = yaml.safe_load(terms_path.read_text(encoding="utf-8")) if terms_path.exists() else {}
    return build_fact_table(sheet, terms)
