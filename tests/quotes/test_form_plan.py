"""The quote form's rules without Rasa: questions per product, early refusal, corrections, switching."""
import datetime as dt

import pytest

from quotes import form_plan

TODAY = dt.date(2026, 7, 15)


def interpret(catalogue, aliases, text, slots=None, asked=None, intent="inform", entities=(), context=None):
    return form_plan.interpret(text, slots=slots or {}, catalogue=catalogue, aliases=aliases, today=TODAY,
                               requested_slot=asked, intent=intent, entities=entities, context_product=context)


@pytest.mark.parametrize("product_id,slots", [
    ("medical_million", ["quote_product", "insured_relation", "insured_age", "payment_mode"]),
    ("accident", ["quote_product", "insured_relation", "insured_age", "occupation_class", "coverage_cny",
                  "payment_mode"]),
    ("critical_illness", ["quote_product", "insured_relation", "insured_age", "coverage_cny", "cover_to",
                          "payment_years", "payment_mode"]),
    ("screen", ["quote_product", "insured_age", "phone_price_cny", "phone_activation_days"]),
    ("typhoon", ["quote_product", "insured_relation", "insured_age", "province", "term_months"]),
    ("driver_accident", ["quote_product", "insured_relation", "insured_age", "driver_certified", "payment_mode"]),
])
def test_each_product_asks_only_what_it_needs(catalogue, product_id, slots):
    assert form_plan.plan(catalogue.get(product_id)) == slots
    assert set(slots) <= set(form_plan.FORM_SLOTS)
    for slot in slots:
        assert form_plan.question(slot, catalogue.get(product_id))


def test_questions_offer_the_products_options(catalogue):
    assert "10万 / 50万 / 100万" in form_plan.question("coverage_cny", catalogue.get("accident"))
    assert "10万-50万" in form_plan.question("coverage_cny", catalogue.get("critical_illness"))
    assert "首月1元" in form_plan.question("payment_mode", catalogue.get("accident"))
    assert "按天" in form_plan.question("payment_mode", catalogue.get("driver_accident"))
    assert "广东" in form_plan.question("province", catalogue.get("typhoon"))


def test_required_slots_stop_early_on_a_refusal(catalogue):
    slots = {"quote_product": "critical_illness", "insured_relation": "parent", "insured_age": 58}
    assert form_plan.required_slots(catalogue, slots, TODAY) == ["quote_product", "insured_relation", "insured_age"]
    slots["insured_age"] = 40
    assert "coverage_cny" in form_plan.required_slots(catalogue, slots, TODAY)
    assert form_plan.required_slots(catalogue, {}, TODAY) == ["quote_product"]
    winter = dt.date(2026, 11, 24)   # typhoon outside its sale window: nothing more to ask
    assert form_plan.required_slots(catalogue, {"quote_product": "typhoon"}, winter) == ["quote_product"]


def test_one_message_fills_everything(catalogue, aliases):
    result = interpret(catalogue, aliases, "我妈58岁想买百万医疗 月缴", intent="ask_quote")
    assert result.updates == {"quote_product": "medical_million", "insured_relation": "parent", "insured_age": 58,
                              "payment_mode": "monthly"}
    assert not result.notes


def test_correction_mid_form(catalogue, aliases):
    slots = {"quote_product": "medical_million", "insured_relation": "parent", "insured_age": 58}
    result = interpret(catalogue, aliases, "不对 是60岁", slots, asked="payment_mode")
    assert result.updates == {"insured_age": 60}
    assert result.notes == ["好的，已改为：60周岁"]
    bare = interpret(catalogue, aliases, "不是58 是60", slots, asked="payment_mode")
    assert bare.updates == {"insured_age": 60}
    person = interpret(catalogue, aliases, "不是我妈 是我爸", slots, asked="payment_mode")
    assert person.updates == {}  # still a parent: nothing changes


def test_correction_right_after_a_quote(catalogue, aliases):
    baby = {"quote_product": "medical_million", "insured_relation": "child", "insured_age": 0, "insured_age_days": 20,
            "payment_mode": "annual"}
    result = interpret(catalogue, aliases, "不对 是40天", baby, asked=None)
    assert result.updates == {"insured_age_days": 40}
    adult = {"quote_product": "medical_million", "insured_relation": "parent", "insured_age": 58}
    assert interpret(catalogue, aliases, "不对 是60", adult, asked=None).updates == {"insured_age": 60}


def test_another_person_does_not_inherit_the_age(catalogue, aliases):
    slots = {"quote_product": "accident", "insured_relation": "parent", "insured_age": 58, "occupation_class": 1}
    result = interpret(catalogue, aliases, "不是给我妈 是给我老婆", slots, asked="coverage_cny")
    assert result.updates == {"insured_relation": "spouse", "insured_age": None, "occupation_class": None}
    with_age = interpret(catalogue, aliases, "给我老婆 她35岁", slots, asked="coverage_cny")
    assert with_age.updates == {"insured_relation": "spouse", "insured_age": 35, "occupation_class": None}


def test_switching_product_clears_its_choices(catalogue, aliases):
    slots = {"quote_product": "accident", "insured_relation": "self", "insured_age": 35, "coverage_cny": 500000,
             "payment_mode": "monthly", "occupation_class": 1}
    result = interpret(catalogue, aliases, "那重疾险呢", slots, asked=None, intent="ask_quote")
    assert result.updates["quote_product"] == "critical_illness"
    assert result.updates["coverage_cny"] is None and result.updates["payment_mode"] is None
    assert "insured_age" not in result.updates  # same person


def test_context_product_and_accepted_alternative(catalogue, aliases):
    context = interpret(catalogue, aliases, "多少钱", {}, asked=None, intent="ask_quote", context="screen")
    assert context.updates["quote_product"] == "screen"
    slots = {"quote_product": "critical_illness", "insured_age": 58, "quote_alternative": "medical_million"}
    yes = interpret(catalogue, aliases, "好的", slots, asked=None, intent="affirm")
    assert yes.updates["quote_product"] == "medical_million" and yes.updates["quote_alternative"] is None
    located = interpret(catalogue, aliases, "好的", {"province": "海南"}, asked=None, intent="affirm")
    assert located.updates == {"quote_product": "typhoon"}
    mid_form = interpret(catalogue, aliases, "好的", {"quote_product": "accident"}, asked="coverage_cny", intent="affirm")
    assert mid_form.updates == {}


def test_location_entity_and_abandon(catalogue, aliases):
    slots = {"quote_product": "typhoon"}
    located = interpret(catalogue, aliases, '/share_location{"province": "海南"}', slots, asked="province",
                        intent="share_location", entities=[{"entity": "province", "value": "海南"}])
    assert located.updates == {"province": "海南"}
    gone = interpret(catalogue, aliases, "算了 不买了", slots, asked="province", intent="deny")
    assert gone.abandon and gone.updates == {}


def test_occupation_word_is_explained(catalogue, aliases):
    result = interpret(catalogue, aliases, "外卖骑手", {"quote_product": "accident"}, asked="occupation_class")
    assert result.updates == {"occupation_class": 4}
    assert result.notes == ["已按「外卖骑手」计为职业类别4类"]


@pytest.mark.parametrize("slot,value,slots,kept,message", [
    ("coverage_cny", 200000, {"quote_product": "accident"}, None, "10万 / 50万 / 100万"),
    ("coverage_cny", 500000, {"quote_product": "accident"}, 500000, None),
    ("payment_mode", "daily", {"quote_product": "medical_million"}, None, "年缴或月缴"),
    ("payment_mode", "monthly", {"quote_product": "typhoon"}, None, None),
    ("insured_age", 0, {"quote_product": "medical_million"}, None, "出生多少天"),
    ("insured_age", 0, {"quote_product": "medical_million", "insured_age_days": 40}, 0, None),
    ("insured_age", 150, {}, None, "年龄"),
    ("province", "深圳", {"quote_product": "typhoon"}, "广东", None),
    ("province", "火星", {"quote_product": "typhoon"}, None, "省份"),
    ("occupation_class", 7, {"quote_product": "accident"}, None, "1-6类"),
    ("term_months", 2, {"quote_product": "typhoon"}, None, "1个月还是3个月"),
    ("quote_product", "pet", {}, None, "哪款产品"),
])
def test_validation(catalogue, slot, value, slots, kept, message):
    got, text = form_plan.validate_slot(slot, value, slots, catalogue)
    assert got == kept
    assert (text is None) if message is None else (message in text)


def test_request_from_slots(catalogue):
    request = form_plan.request_from_slots({"quote_product": "accident", "insured_age": 35.0, "coverage_cny": 500000.0,
                                            "occupation_class": 3.0, "payment_mode": "monthly",
                                            "insured_relation": "self"})
    assert (request.product_id, request.age, request.coverage, request.occupation_class) == ("accident", 35, 500000, 3)


def test_the_words_of_each_fact_are_kept_and_follow_corrections(catalogue, aliases):
    first = interpret(catalogue, aliases, "上周刚激活的手机 5999 碎屏险 我28")
    assert first.updates["phone_activation_days"] == 7
    assert first.evidence == {"quote_product": "碎屏险", "insured_age": "我28", "phone_price_cny": "5999",
                              "phone_activation_days": "上周"}
    slots = {**first.updates, "quote_evidence": first.evidence}
    fixed = interpret(catalogue, aliases, "其实是前天激活的", slots=slots, asked="phone_activation_days")
    assert fixed.updates == {"phone_activation_days": 2} and "已改为" in fixed.notes[0]
    assert fixed.evidence["phone_activation_days"] == "前天" and fixed.evidence["insured_age"] == "我28"


def test_a_fact_in_the_first_message_is_never_asked_again(catalogue, aliases):
    result = interpret(catalogue, aliases, "我是外卖骑手 30岁 想买意外险 保额50万 年交")
    slots = dict(result.updates)
    needed = form_plan.required_slots(catalogue, slots, TODAY)
    assert needed and all(slots.get(s) is not None for s in needed), needed   # nothing left to ask
    assert slots["occupation_class"] == 4 and slots["insured_relation"] == "self"
