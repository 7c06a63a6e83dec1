"""Free text -> quote facts: one message can carry everything; context decides ambiguous numbers."""
import datetime as dt

import pytest

from quotes.parsing import (cn_numerals_to_digits, cn_to_int, is_abandon, looks_like_question, normalize_province,
                            parse_quote_text, split_correction)

TODAY = dt.date(2026, 7, 15)


def parse(aliases, text, asked=None, product=None):
    return parse_quote_text(text, today=TODAY, product_aliases=aliases, requested_slot=asked, product=product).found()


@pytest.mark.parametrize("text,asked,product,expected", [
    # the example: everything at once
    ("我妈58岁想买百万医疗 月缴", None, None,
     {"product": "medical_million", "relation": "parent", "age": 58, "payment_mode": "monthly"}),
    ("我想给我爸买医疗险 他62了", None, None, {"product": "medical_million", "relation": "parent", "age": 62}),
    ("30岁男 重疾险多少钱", None, None, {"product": "critical_illness", "age": 30}),
    ("给我老公买个意外险 他是快递员", None, None,
     {"product": "accident", "relation": "spouse", "occupation_class": 3}),
    ("1元意外险怎么买 我28岁 程序员 10万的", None, None,
     {"product": "accident", "relation": "self", "age": 28, "occupation_class": 1, "coverage_cny": 100000,
      "payment_mode": "monthly"}),
    ("意外险100万保额多少钱", None, None, {"product": "accident", "coverage_cny": 1000000}),
    ("重疾险50万保额一年要交多少", None, None, {"product": "critical_illness", "coverage_cny": 500000}),
    ("给老婆买重疾 30万 20年交 保终身 月缴", None, None,
     {"product": "critical_illness", "relation": "spouse", "coverage_cny": 300000, "payment_years": 20,
      "cover_to": "lifetime", "payment_mode": "monthly"}),
    ("我在广东 台风险3个月多少钱", None, None,
     {"product": "typhoon", "relation": "self", "province": "广东", "term_months": 3}),
    ("已经认证了 有网约车证", None, "driver_accident", {"product": "driver_accident", "driver_certified": True}),
    ("我跑滴滴的 想买司机意外险 还没认证", None, None, {"product": "driver_accident", "relation": "self", "driver_certified": False}),
    ("网约车司机险按天买 我45岁", None, None,
     {"product": "driver_accident", "payment_mode": "daily", "age": 45, "relation": "self"}),
    ("手机3999买的 上个月激活的", None, "screen", {"phone_price_cny": 3999.0, "phone_activation_days": 30}),
    ("5999的手机", None, None, {"phone_price_cny": 5999.0}),
    ("iPhone 15 6999", "phone_price_cny", "screen", {"phone_price_cny": 6999.0}),
    ("1.2万的折叠屏手机 半年前买的", None, "screen", {"phone_price_cny": 12000.0, "phone_activation_days": 183}),
    ("激活200天了", "phone_activation_days", "screen", {"phone_activation_days": 200}),
    ("2026年3月激活", None, "screen", {"phone_activation_days": 136}),
    ("6月1日买的", "phone_activation_days", "screen", {"phone_activation_days": 44}),
])
def test_messages(aliases, text, asked, product, expected):
    assert parse(aliases, text, asked, product) == expected


@pytest.mark.parametrize("text,asked,product,expected", [
    # ages, birth dates and babies
    ("35", "insured_age", "medical_million", {"age": 35}),
    ("男 32", "insured_age", "accident", {"age": 32}),
    ("五十八岁", "insured_age", None, {"age": 58}),
    ("我妈今年58", None, None, {"relation": "parent", "age": 58}),
    ("1990年5月出生", None, None, {"age": 36}),
    ("1990年7月20日出生", None, None, {"age": 35}),
    ("2000年1月1日", "insured_age", "critical_illness", {"age": 26}),
    ("1965年生", None, None, {"age": 61}),
    ("孩子3个月大", None, "medical_million", {"relation": "child", "age": 0, "age_days": 90}),
    ("宝宝出生20天", None, "medical_million", {"relation": "child", "age": 0, "age_days": 20}),
    ("宝宝刚满月", None, None, {"relation": "child", "age": 0, "age_days": 30}),
    ("2026年6月1日出生的宝宝", None, None, {"relation": "child", "age": 0, "age_days": 44}),
    ("女儿 5岁", None, None, {"relation": "child", "age": 5}),
    ("不对 是60岁", "payment_mode", "medical_million", {"age": 60}),
    # cover to 70 is not an age, a 3-month term is not a baby
    ("保到70岁", "cover_to", "critical_illness", {"cover_to": "age70"}),
    ("保至70周岁 30年交", None, "critical_illness", {"cover_to": "age70", "payment_years": 30}),
    ("3个月", "term_months", "typhoon", {"term_months": 3}),
    ("一个月", "term_months", "typhoon", {"term_months": 1}),
    ("一个季度", None, "typhoon", {"term_months": 3}),
])
def test_ages_terms_and_context(aliases, text, asked, product, expected):
    assert parse(aliases, text, asked, product) == expected


@pytest.mark.parametrize("text,asked,product,expected", [
    ("50万", "coverage_cny", "accident", {"coverage_cny": 500000}),
    ("50", "coverage_cny", "critical_illness", {"coverage_cny": 500000}),
    ("五十万", "coverage_cny", "accident", {"coverage_cny": 500000}),
    ("一百万的", "coverage_cny", "accident", {"coverage_cny": 1000000}),
    ("500000", "coverage_cny", "accident", {"coverage_cny": 500000}),
    ("职业3类", None, "accident", {"occupation_class": 3}),
    ("三类", "occupation_class", "accident", {"occupation_class": 3}),
    ("3", "occupation_class", "accident", {"occupation_class": 3}),
    ("外卖骑手", "occupation_class", "accident", {"occupation_class": 4}),
    ("我在工地干活 建筑工人", "occupation_class", "accident", {"occupation_class": 5}),
    ("20", "payment_years", "critical_illness", {"payment_years": 20}),
    ("交30年", "payment_years", "critical_illness", {"payment_years": 30}),
    ("年缴", "payment_mode", "medical_million", {"payment_mode": "annual"}),
    ("一次性交清", "payment_mode", "medical_million", {"payment_mode": "annual"}),
    ("按月交吧", "payment_mode", "medical_million", {"payment_mode": "monthly"}),
    ("按天", "payment_mode", "driver_accident", {"payment_mode": "daily"}),
    ("深圳", "province", "typhoon", {"province": "广东"}),
    ("浙江杭州", "province", "typhoon", {"province": "浙江"}),
    ("我在厦门", "province", "typhoon", {"province": "福建"}),
    ("长沙", "province", "typhoon", {"province": "湖南"}),
    ("没有", "driver_certified", "driver_accident", {"driver_certified": False}),
    ("有的", "driver_certified", "driver_accident", {"driver_certified": True}),
    ("是的 有证", "driver_certified", "driver_accident", {"driver_certified": True}),
    ("还没认证", "driver_certified", "driver_accident", {"driver_certified": False}),
])
def test_single_answers(aliases, text, asked, product, expected):
    assert parse(aliases, text, asked, product) == expected


@pytest.mark.parametrize("text,relation", [
    ("给我妈", "parent"), ("我爸", "parent"), ("爸妈", "parent"), ("给我老婆", "spouse"), ("我老公", "spouse"),
    ("孩子", "child"), ("给儿子买", "child"), ("我自己", "self"), ("本人", "self"), ("我35岁", "self"),
    ("给我朋友买", "other"), ("给奶奶买", "other"), ("女朋友", "other"), ("婆婆", "other"),
])
def test_relations(aliases, text, relation):
    assert parse(aliases, text).get("relation") == relation


@pytest.mark.parametrize("text,asked,product", [
    ("百万医疗等待期多久", None, "medical_million"),   # 'How long is the waiting period' is not an age
    ("好的", "insured_age", "medical_million"),
    ("我也说不好", "coverage_cny", "accident"),
    ("3", "insured_relation", "medical_million"),       # a bare number answers only the question it fits
    ("12345678901", "insured_age", "accident"),          # a phone number is not an age
    ("理赔3个月了还没到账", "insured_age", "medical_million"),
])
def test_nothing_is_read_into_unrelated_text(aliases, text, asked, product):
    found = parse(aliases, text, asked, product)
    found.pop("product", None)
    assert found == {}


@pytest.mark.parametrize("text", ["算了 不买了", "不要了", "先不买了 以后再说", "取消", "不用了谢谢"])
def test_abandon(aliases, text):
    assert is_abandon(text)
    assert parse_quote_text(text, today=TODAY, product_aliases=aliases).abandon


@pytest.mark.parametrize("text", ["不对 是60岁", "58岁", "我妈", "月缴"])
def test_not_abandon(text):
    assert not is_abandon(text)


def test_corrections_are_split():
    assert split_correction("不是58 是60") == ("58", "60")
    assert split_correction("不是我妈，是我爸") == ("我妈", "我爸")
    assert split_correction("不对 是60岁") is None


@pytest.mark.parametrize("text,question", [("等待期多久", True), ("既往症赔不赔", True), ("什么情况不赔？", True),
                                           ("35岁", False), ("月缴", False), ("给我妈买", False)])
def test_question_detection(text, question):
    assert looks_like_question(text) is question


@pytest.mark.parametrize("run,value", [("五十八", 58), ("六十", 60), ("十二", 12), ("一百零五", 105), ("八千五", 8500),
                                       ("三千九百九十九", 3999), ("一九九零", 1990), ("两", 2), ("十", 10)])
def test_chinese_numerals(run, value):
    assert cn_to_int(run) == value


def test_numeral_conversion_in_text():
    assert cn_numerals_to_digits("我妈五十八岁 保额五十万") == "我妈58岁 保额50万"


@pytest.mark.parametrize("text,province", [("广东", "广东"), ("广东省", "广东"), ("深圳市南山区", "广东"),
                                           ("海口", "海南"), ("上海", "上海"), ("火星", None), ("", None)])
def test_provinces(text, province):
    assert normalize_province(text) == province
