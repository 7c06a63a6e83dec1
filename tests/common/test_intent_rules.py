"""The deterministic intent corrections (bot/intent_rules.py), run without Rasa on normalized text."""
import pytest

from bot.intent_rules import carries_quote_facts, corrected_intent
from common.textnorm import normalize_user_text


@pytest.mark.parametrize("text", [
    "俺娘今年六十五了 还能买那个百万医疗不 一年一交", "孩他爸40 重疾 保额30万 保终身 缴20年 年缴 有没有轻症",
    "自己 32 焊工 意外险 10w 年交", "我水电工 三十九 意外鲜 五十万 每个月扣",
    "老婆在三亚酒店上班 27岁 给她买个台风险 一个月的", "29岁 自己买 重疾 保额20万 保终身 交20年 年缴 有优惠吗",
])
def test_a_full_quote_request_with_a_question_is_a_quote(text):
    normalized = normalize_user_text(text)
    assert carries_quote_facts(normalized)
    assert corrected_intent("ask_question", normalized) == "ask_quote"
    assert corrected_intent("nlu_fallback", normalized) == "ask_quote"


@pytest.mark.parametrize("text", ["百万医疗60岁还能买吗", "重疾险等待期多久", "意外险猝死赔不赔", "给我妈买百万医疗"])
def test_questions_and_bare_requests_keep_their_intent(text):
    assert not carries_quote_facts(normalize_user_text(text))
    assert corrected_intent("ask_question", normalize_user_text(text)) is None


def test_a_hand_off_or_complaint_is_never_turned_into_a_quote():
    text = normalize_user_text("给我妈买百万医疗 她58 月缴 转人工")
    assert corrected_intent("request_human", text) is None and corrected_intent("complaint", text) is None


@pytest.mark.parametrize("text", ["我跑滴滴 ３５ 已认证 司机险 按月", "网约车司机保险 我32 认证好了 包月",
                                  "婆娘也在跑滴滴 她31 已认证 司机专属意外险 按天"])
def test_a_quote_request_without_price_words_stays_a_quote(text):
    assert corrected_intent("ask_quote", normalize_user_text(text)) is None
