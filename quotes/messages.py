"""The quote and refusal messages users see (Simplified Chinese, WeChat-sized).

Compliance content is not optional here: every message carries the exclusions summary with its
clause citation and the waiting period, and a first-month promotion always states the price from
the second month. tests/quotes/test_messages.py checks all of it for every product.
"""
from __future__ import annotations

from decimal import Decimal

from quotes.catalogue import COVER_TO_LABELS, RELATION_LABELS, Catalogue, format_cny
from quotes.service import CN_TZ, QuoteResult


def money(amount: Decimal) -> str:
    """Decimal('1496.00') -> '1496', Decimal('134.64') -> '134.64'."""
    text = f"{amount:.2f}"
    return text[:-3] if text.endswith(".00") else text


def _person(result: QuoteResult) -> str:
    facts, product = result.facts, result.product
    subject = "投保人（机主）" if product.age.subject == "policyholder" else "被保险人"
    relation = facts.get("relation")
    age = facts.get("age")
    parts = []
    if relation and product.age.subject == "insured":
        parts.append(RELATION_LABELS.get(relation, relation))
    if facts.get("age_days") is not None and (age or 0) < 1:
        parts.append(f"出生{facts['age_days']}天")
    elif age is not None:
        parts.append(f"{age}周岁")
    return f"{subject}：{'，'.join(parts)}" if parts else ""


def _cover(result: QuoteResult) -> str:
    f, p = result.facts, result.product
    parts = []
    if f.get("coverage"):
        label = "意外身故/伤残保额" if p.kind == "short_term_accident" else "保额"
        parts.append(f"{label}{format_cny(f['coverage'])}")
    if f.get("occupation_class") is not None:
        parts.append(f"职业类别{f['occupation_class']}类")
    if f.get("cover_to"):
        parts.append(COVER_TO_LABELS.get(f["cover_to"], f["cover_to"]))
    if f.get("payment_years"):
        parts.append(f"{f['payment_years']}年交")
    if f.get("phone_price_cny") is not None:
        parts.append(f"手机价格{money(Decimal(str(f['phone_price_cny'])))}元，已激活{f.get('activation_days', 0)}天")
    if f.get("province"):
        parts.append(f"投保位置：{f['province']}")
    if f.get("term_months"):
        parts.append(f"保障{f['term_months']}个月")
    if f.get("driver_certified"):
        parts.append("已完成网约车司机认证")
    return "保障：" + "，".join(parts) if parts else ""


def _premium_line(result: QuoteResult) -> str:
    p = result.price
    assert p is not None
    if p.first_period_premium is not None:
        return (f"保费：首月{money(p.first_period_premium)}元，次月起每月{money(p.premium)}元"
                f"（共{p.payments}期，首年合计{money(p.total_for_base_period)}元；到期自动扣费，可随时关闭）")
    if p.payments > 1 and result.payment_mode == "monthly":
        return (f"保费：每月{money(p.premium)}元（{p.payments}期合计{money(p.total_for_base_period)}元；"
                f"年缴为{money(p.base_premium)}元/年）")
    return f"保费：{money(p.premium)}{p.unit}，{p.mode_label}"


def _breakdown_line(result: QuoteResult) -> str:
    """'计算：基础保费（18-40周岁，保额50万）138元 × 职业类别3类系数1.4 = 1年保费193.20元；月缴每期 = 193.20 × 0.092 = 17.78元'"""
    p = result.price
    assert p is not None
    text, base = "计算：", None
    for line in p.breakdown:
        if line.kind == "base":
            text += f"{line.item}{money(line.amount_cny)}元"
        elif line.kind == "factor":
            text += f" × {line.item}{line.factor:g}"
        elif line.kind == "period":
            base = line.amount_cny
            text += f" = {line.item}{money(line.amount_cny)}元"
        elif line.kind == "mode" and base is not None:
            text += f"；{line.item} = {money(base)} × {line.factor:g} = {money(line.amount_cny)}元"
    return text


def waiting_text(result: QuoteResult) -> str:
    days = result.waiting_period_days
    if days == 0:
        return f"等待期：无等待期，生效即保障（{result.clause.waiting_citation}）"
    extra = "，意外导致的无等待期" if result.product.id in ("medical_million", "critical_illness") else ""
    return f"等待期：{days}天{extra}（{result.clause.waiting_citation}）"


def exclusions_text(result: QuoteResult) -> str:
    return f"⚠️ 责任免除（摘要）：{result.clause.exclusions_summary}。详见{result.clause.exclusions_citation}"


def render_quote(result: QuoteResult) -> str:
    valid = result.valid_until.astimezone(CN_TZ) if result.valid_until else None
    lines = [
        f"【{result.product.short_name}报价】",
        _person(result),
        _cover(result),
        _premium_line(result),
        _breakdown_line(result),
        waiting_text(result),
        exclusions_text(result),
        f"报价单号{result.quote_id}，有效期至{valid:%m月%d日 %H:%M}" if valid else f"报价单号{result.quote_id}",
        f"（费率版本{result.rate_version}，条款版本{result.clause.version}；实际以投保页面及保险合同为准）",
        "回复“免责条款”可看全文；信息有误直接告诉我，比如“不对 是60岁”。",
    ]
    return "\n".join(line for line in lines if line)


CORRECTION_EXAMPLES = {"relation": "不对 是给我老婆买", "occupation_class": "不对 是职业3类",
                       "province": "不对 我在广州", "activation_days": "不对 是上个月激活的",
                       "driver_certified": "不对 已经认证了"}


def render_refusal(result: QuoteResult, catalogue: Catalogue) -> str:
    refusal = result.refusal
    assert refusal is not None
    lines = [f"抱歉，{result.reason}，暂时不能为您报价{result.product.short_name}。"]
    if result.alternative is not None:
        alt = result.alternative
        lines.append(f"可以考虑{alt.short_name}（{alt.age.describe()}可投保），需要的话回复“好的”，我帮您报价。")
    elif refusal.code == "outside_sale_window":
        (m, d), _ = result.product.sale_window  # type: ignore[misc]
        lines.append(f"每年{m}月{d}日起可以再来找我投保～")
    elif refusal.code == "too_young" and refusal.field == "age_days":
        pass  # the reason already says when the baby can be insured
    else:
        example = CORRECTION_EXAMPLES.get(refusal.field, "不对 是60岁")
        lines.append(f"如信息有误，直接告诉我正确的即可，比如“{example}”；其他问题也可以回复“转人工”。")
    lines.append(f"（参考编号{result.quote_id}）")
    return "\n".join(lines)


def render(result: QuoteResult, catalogue: Catalogue) -> str:
    return render_quote(result) if result.eligible else render_refusal(result, catalogue)
