"""Facts as tests: the shipped content agrees with the product sheet, and every known contradiction,
reintroduced into a draft, is found with its sentence and its fact."""
from __future__ import annotations

import dataclasses
import re

import pytest
import yaml

from knowledge.corpus import KnowledgeSnapshot
from knowledge.factcheck import Document, FactChecker, instruction_phrases, sentences
from knowledge.facts import build_fact_table, load_fact_table
from tests.conftest import CONTENT_DIR


@pytest.fixture(scope="module")
def checker() -> FactChecker:
    return FactChecker.from_content(CONTENT_DIR)


def _with_faq_answer(snapshot: KnowledgeSnapshot, faq_id: str, answer: str) -> KnowledgeSnapshot:
    faqs = tuple(dataclasses.replace(f, answer=answer) if f.id == faq_id else f for f in snapshot.faqs)
    assert any(f.id == faq_id for f in faqs), faq_id
    return dataclasses.replace(snapshot, faqs=faqs)


def _with_article(snapshot: KnowledgeSnapshot, product: str, article_no: int, text: str) -> KnowledgeSnapshot:
    docs = []
    for doc in snapshot.clause_docs:
        if doc.product_id == product:
            articles = [dataclasses.replace(a, text=text) if a.article_no == article_no else a for a in doc.articles]
            doc = dataclasses.replace(doc, articles=articles)
        docs.append(doc)
    return dataclasses.replace(snapshot, clause_docs=tuple(docs))


def test_shipped_knowledge_base_agrees_with_the_sheet(checker, snapshot):
    findings = checker.check_snapshot(snapshot)
    assert not findings, "\n".join(f.message() for f in findings)


def test_the_table_covers_every_product_and_the_service_rules(checker):
    products = {f.product for f in checker.table.facts}
    assert products == set(checker.table.products) | {"service"}
    ids = {f.id for f in checker.table.facts}
    for pid in checker.table.products:
        assert {f"{pid}.waiting_period", f"{pid}.cooling_off", f"{pid}.age"} <= ids, pid
    assert {"medical_million.grace_period", "accident.grace_period", "critical_illness.grace_period"} <= ids


# Each contradiction the knowledge base once shipped, put back into a draft: (where, old text, fact id).
FAQ_REGRESSIONS = [
    ("outpatient_deductible", "faq.claim.outpatient",
     "百万医疗险主要保住院，恶性肿瘤门诊放化疗、肾透析等特殊门诊和门诊手术也视同住院，同样适用1万免赔额和等待期。",
     "medical_million.deductible.critical_illness_medical"),
    ("screen_direct_settlement", "faq.claim.screen",
     "审核通过后到指定维修点维修；维修或换屏费用由保险和维修点直接结算，不用你垫付。", "screen.claim_settlement"),
    ("screen_duration_settlement", "faq.claim.duration",
     "碎屏险的维修费由保险和维修点直接结算，不用你先垫付。", "screen.claim_settlement"),
    ("screen_renewal", "faq.policy.renewal", "碎屏险到期需重新投保并重新验机。", "screen.activation"),
    ("cooling_off_claims", "faq.cancel.cooling_off",
     "只有重疾险有犹豫期，为15天；犹豫期内退保全额退还已交保费，不扣任何费用（犹豫期内出险不赔）。",
     "service.cover_during_cooling_off"),
    ("grace_period_one_year", "faq.payment.failed",
     "长期重疾险有60天宽限期。百万医疗险、综合意外险等一年期产品月缴的没有宽限期，扣款失败后保障会停止。",
     "accident.grace_period"),
    ("grace_period_medical", "faq.payment.failed", "百万医疗险月缴的，扣款失败有30天宽限期。",
     "medical_million.grace_period"),
    ("social_insurance_narrow", "faq.product.medical.coverage",
     "一般医疗保额300万；就医未经社保结算的按60%赔付。", "medical_million.payout_ratio"),
    ("shared_cap", "faq.product.medical.coverage",
     "一般医疗保额300万，年度免赔额1万；重大疾病（如癌症）医疗保额600万，0免赔。", "medical_million.sum.critical_illness_medical"),
    ("typhoon_rebuy", "faq.policy.renewal", "台风天气险到期后重新购买即可。", "typhoon.sale_window"),
    ("family_typhoon", "faq.purchase.for_family", "可以给家人买，不过台风天气险只能给本人买。", "service.policyholder"),
    ("one_yuan_promo", "faq.product.accident.coverage", "可年缴或月缴，月缴版首月1元。", "accident.first_month"),
    ("wrong_waiting", "faq.product.waiting_period", "各产品：百万医疗险等待期60天，重疾险等待期90天。",
     "medical_million.waiting_period"),
    ("wrong_age", "faq.purchase.age_limit", "综合意外险18至70周岁可投保。", "accident.age"),
    ("wrong_typhoon_payout", "faq.claim.typhoon", "台风红色预警赔300元。", "typhoon.payout"),
    ("wrong_deadline", "faq.claim.deadline", "请在出险后30日内报案。", "service.claim_report_deadline"),
    ("carried_product", "faq.cancel.refund",
     "重疾险15天犹豫期内退保全额退。犹豫期30天内退保也能全额退。", "critical_illness.cooling_off"),
]

CLAUSE_REGRESSIONS = [
    ("screen_renewal_clause", "screen", 9,
     "第九条 本合同不自动续保。保险期间届满后如需继续保障，投保人应重新投保，并重新上传验机照片，经保险人审核同意后另行签发保险单。",
     "screen.activation"),
    ("screen_settlement_clause", "screen", 12,
     "第十二条 审核通过后，被保险人可选择到保险人指定维修点维修。维修费用由保险人与维修点直接结算，被保险人无需先行垫付；超出保险金额的部分由被保险人向维修点支付。",
     "screen.claim_settlement"),
    ("typhoon_upgrade_merge", "typhoon", 2,
     "第二条 同一次台风过程中，投保位置所在区县的预警由橙色升级为红色的，按一次预警、红色预警标准给付500元；已按橙色预警给付200元的，补足差额300元。",
     "typhoon.payout"),
    ("critical_cooling_off_clause", "critical_illness", 7,
     "第七条 自投保人签收电子保险单之日起15日为犹豫期。犹豫期内发生的保险事故，保险人不承担给付保险金的责任。",
     "service.cover_during_cooling_off"),
    ("driver_policyholder", "driver_accident", 8,
     "第八条 投保时年满18周岁至60周岁（含），并已完成网约车平台司机认证的网约车司机可作为被保险人，投保人应为被保险人本人。",
     "service.policyholder"),
    ("medical_deductible_clause", "medical_million", 10,
     "第十条 一般医疗保险金的年度免赔额为10000元，由被保险人自付。重大疾病医疗保险金的免赔额为10000元。",
     "medical_million.deductible.critical_illness_medical"),
    ("grace_clause", "medical_million", 8,
     "第八条 本合同保险期间为1年。按月缴费的，每期保险费自应缴日起给予30日宽限期。", "medical_million.grace_period"),
]

WORDING_REGRESSIONS = [
    ("sure_pay", "faq.product.critical.coverage", "重疾险保障110种重大疾病，确诊即赔100%保额，限1次。", "wording.1"),
    ("both_pay", "faq.product.critical_vs_medical", "两者不冲突，得了重疾可以都赔。", "wording.2"),
    ("guarantee_fund", "faq.service.company", "保单权益受法律和保险保障基金制度保护。", "wording.4"),
    ("never_sold", "faq.privacy.data_use", "你的个人信息不会出售给任何人。", "wording.5"),
    ("end_to_end", "faq.privacy.data_use", "敏感信息全程加密传输和存储。", "wording.6"),
    ("steps_cover", "faq.activity.steps", "每天步数达到活动要求，就可以按规则兑换额外保额。", "wording.7"),
    ("its_true", "faq.product.accident.one_yuan", "是真的～这是综合意外险的月缴版，首月只要1元，次月起按月缴正常保费自动扣费。",
     "wording.9"),
]

PROMISE_REGRESSIONS = [
    ("my_policies_page", "faq.policy.query", "在保险小助手里点「我的保单」，就能看到你名下的全部保单。", "promise.my_policies"),
    ("report_command", "faq.claim.process", "出险后10日内报案，直接发“我要报案”给我。", "promise.my_policies"),
    ("progress_command", "faq.claim.progress", "也可以直接发“查理赔进度”给我，我帮你查。", "promise.my_policies"),
    ("unknown_entry", "faq.purchase.invoice", "保单生效后找到发票入口，填写抬头后提交。", "promise.unknown"),
    ("unknown_command", "faq.policy.change_info", "直接回复“修改手机号”给我就能改。", "promise.unknown"),
]


def _assert_found(checker, draft, fact_id, text):
    findings = checker.check_snapshot(draft)
    hits = [f for f in findings if f.fact.id == fact_id]
    assert hits, f"{fact_id} not found in: {[f.message() for f in findings]}"
    message = hits[0].message()
    assert hits[0].sentence in text and hits[0].sentence in message
    assert hits[0].fact.statement in message and fact_id in message


@pytest.mark.parametrize("name,faq_id,text,fact_id", FAQ_REGRESSIONS + WORDING_REGRESSIONS + PROMISE_REGRESSIONS,
                         ids=[r[0] for r in FAQ_REGRESSIONS + WORDING_REGRESSIONS + PROMISE_REGRESSIONS])
def test_a_contradiction_in_an_faq_answer_is_found(checker, snapshot, name, faq_id, text, fact_id):
    _assert_found(checker, _with_faq_answer(snapshot, faq_id, text), fact_id, text)


@pytest.mark.parametrize("name,product,article_no,text,fact_id", CLAUSE_REGRESSIONS, ids=[r[0] for r in CLAUSE_REGRESSIONS])
def test_a_contradiction_in_a_clause_article_is_found(checker, snapshot, name, product, article_no, text, fact_id):
    _assert_found(checker, _with_article(snapshot, product, article_no, text), fact_id, text)


def test_figures_come_from_the_sheet_not_from_the_checker(snapshot):
    """Change the sheet's medical waiting period: the shipped '30天' sentences now disagree."""
    sheet = yaml.safe_load((CONTENT_DIR / "products.yml").read_text(encoding="utf-8"))
    terms = yaml.safe_load((CONTENT_DIR / "terms.yml").read_text(encoding="utf-8"))
    for product in sheet["products"]:
        if product["id"] == "medical_million":
            product["waiting_period_days"] = 45
    from knowledge.factcheck import load_wording

    changed = FactChecker(build_fact_table(sheet, terms), load_wording(CONTENT_DIR))
    ids = {f.fact.id for f in changed.check_snapshot(snapshot)}
    assert ids == {"medical_million.waiting_period"}


def test_terms_taken_from_the_sheet_comments_still_stand_there():
    raw = (CONTENT_DIR / "products.yml").read_text(encoding="utf-8")
    terms = yaml.safe_load((CONTENT_DIR / "terms.yml").read_text(encoding="utf-8"))
    assert f"重大疾病医疗 {terms['critical_illness_medical_deductible_cny']} 免赔" in raw
    assert f"{terms['accident_medical_deductible_cny']}元免赔，{terms['accident_medical_payout_percent']}%赔付" in raw
    assert f"最多赔付{terms['typhoon_max_payouts']}次" in raw


def test_grace_periods_in_terms_are_the_clause_documents_own(snapshot):
    terms = yaml.safe_load((CONTENT_DIR / "terms.yml").read_text(encoding="utf-8"))
    texts = {d.product_id: " ".join(a.text for a in d.articles) for d in snapshot.clause_docs}
    for pid, days in terms["grace_period_days"].items():
        assert re.search(rf"{days}日(为)?宽限期", texts[pid]), pid


def test_a_run_of_product_names_scopes_the_figure_to_each_of_them(checker):
    ok = [Document("t", "手机碎屏险、台风天气险等待期3天。")]
    assert not checker.check(ok)
    bad = checker.check([Document("t", "手机碎屏险、综合意外险等待期3天。")])
    assert [f.fact.id for f in bad] == ["accident.waiting_period"]


def test_a_figure_about_another_product_is_not_judged_by_the_documents_product(checker):
    # a medical FAQ naming the accident product's own figure
    assert not checker.check([Document("t", "因意外受伤看门诊，综合意外险意外医疗最高2万，100元免赔。", ("medical_million",))])
    assert not checker.check([Document("t", "网约车司机接单期间受伤，意外医疗最高5万。", ("accident",))])


def test_negations_read_as_zero(checker):
    assert [f.fact.id for f in checker.check([Document("t", "重疾险无等待期。")])] == ["critical_illness.waiting_period"]
    assert not checker.check([Document("t", "重疾险因意外伤害导致的，无等待期。")])
    assert not checker.check([Document("t", "百万医疗险不设犹豫期，可随时退保。")])


def test_sentences_and_instruction_phrases():
    assert sentences("一。二；三！") == ["一。", "二；", "三！"]
    assert instruction_phrases("发送“转人工”，或在微信「支付设置」里点击发票入口") == ["转人工", "支付设置", "点击发票入口"]


def test_load_fact_table_reads_the_content_dir():
    table = load_fact_table(CONTENT_DIR)
    assert len(table.facts) >= 40 and table.numbers and table.ranges and table.patterns
