"""One test per way users state a quote fact that used to be misread (and the extractors behind them)."""
import datetime as dt

import pytest

from quotes.parsing import parse_quote_text
from quotes.runtime import get_product_aliases

TODAY = dt.date(2026, 7, 15)


def parse(text, **kwargs):
    return parse_quote_text(text, today=TODAY, product_aliases=get_product_aliases(), **kwargs)


@pytest.mark.parametrize("text,relation,age", [
    ("她33 百万医疗 月缴", None, 33), ("本人35 意外险", "self", 35), ("媳妇27 想买重疾", "spouse", 27),
    ("我30 百万医疗", "self", 30), ("本人25 程序员", "self", 25), ("老公三十八 百万医疗 年缴", "spouse", 38),
    ("给我娘买 俺娘六十了", "parent", 60), ("老汉儿今年58 百万医疗", "parent", 58),
])
def test_ages_after_a_person_or_pronoun(text, relation, age):
    parsed = parse(text)
    assert parsed.age == age and parsed.relation == relation
    assert str(age) in parsed.evidence["age"]


@pytest.mark.parametrize("text,field,value", [
    ("重疾险 保额四十万", "coverage_cny", 400000), ("五十二歲 百万医疗", "age", 52),
    ("重疾险 交二十年 保终身", "payment_years", 20), ("意外险 职业三类 30岁", "occupation_class", 3),
])
def test_chinese_numerals_and_traditional_characters(text, field, value):
    assert getattr(parse(text), field) == value


def test_a_babys_age_in_months():
    parsed = parse("宝宝刚满3个月 百万医疗 年缴")
    assert (parsed.relation, parsed.age, parsed.age_days) == ("child", 0, 90)
    assert parse("闺女八个月大 买重疾").age_days == 240


def test_one_in_a_year_is_not_part_of_the_sum():
    parsed = parse("重疾险 老婆30 保额50万 一年交多少")
    assert parsed.coverage_cny == 500000 and parsed.payment_mode == "annual"


@pytest.mark.parametrize("text,klass", [("我是外卖骑手 30岁 意外险 50万 年交", 4), ("我快递员 35 意外险", 3),
                                        ("意外险 28岁 程序员 10万 月缴", 1), ("在工地搬砖 意外险", 5),
                                        ("码农一枚 意外险", 1), ("开大货车的 意外险", 4)])
def test_an_occupation_named_in_the_first_message(text, klass):
    assert parse(text).occupation_class == klass


def test_the_user_speaking_of_himself_is_self():
    assert parse("我是外卖骑手 30岁 意外险").relation == "self"
    assert parse("跑滴滴的 想买司机意外险 38岁 已认证 按天").relation == "self"
    assert parse("网约车司机险 我自己开 40岁").relation == "self"
    assert parse("手机碎屏险 我28 5999的手机 上周激活").relation is None   # screen: the buyer is the phone owner


def test_one_day_is_the_daily_plan():
    parsed = parse("网约车司机险 买一天 已认证 40岁")
    assert parsed.payment_mode == "daily" and parsed.driver_certified is True


def test_last_week_is_seven_days():
    parsed = parse("上周刚激活的手机 5999 碎屏险 我28")
    assert parsed.phone_activation_days == 7 and parsed.phone_price_cny == 5999 and parsed.age == 28
    assert parsed.evidence["phone_activation_days"] == "上周"


def test_traditional_request_is_read_whole():
    parsed = parse("給我媽買百萬醫療 她今年五十二歲 年繳")
    assert parsed.found() == {"product": "medical_million", "relation": "parent", "age": 52, "payment_mode": "annual"}


def test_evidence_keeps_the_words_of_each_fact():
    parsed = parse("给我妈买百万医疗 她今年58 月缴")
    assert parsed.evidence == {"product": "百万医疗", "relation": "给我妈", "age": "今年58", "payment_mode": "月缴"}
