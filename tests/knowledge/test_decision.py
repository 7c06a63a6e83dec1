"""The decision, topic grouping, follow-ups and text normalisation, without the model."""
from __future__ import annotations

import pytest

from knowledge.decision import Thresholds, decide, group_topics, topic_key
from knowledge.followup import follow_up_query
from knowledge.textnorm import match_key, normalize

T = Thresholds(answer=0.4, clarify=0.5, option=0.1)


def test_a_clear_lead_is_answered():
    d = decide(group_topics(["a", "b"], [0.9, 0.3]), T, foreign=False)
    assert (d.decision, d.reason, [t.key for t in d.topics]) == ("answer", "confident", ["a"])
    assert d.margin == pytest.approx(0.6)


def test_a_likely_but_unclear_best_is_clarified_with_the_options_that_score():
    d = decide(group_topics(["a", "b", "c", "d"], [0.6, 0.5, 0.05, 0.4]), T, foreign=False)
    assert d.decision == "clarify"
    assert [t.key for t in d.topics] == ["a", "b", "d"]  # c scores below the option threshold
    d = decide(group_topics(["a", "b", "c"], [0.6, 0.5, 0.12]), T, foreign=False)
    assert [t.key for t in d.topics] == ["a", "b", "c"]


def test_an_unlikely_best_is_refused_and_a_foreign_topic_always():
    assert decide(group_topics(["a", "b"], [0.45, 0.3]), T, foreign=False).reason == "low_confidence"
    assert decide(group_topics(["a", "b"], [0.99, 0.0]), T, foreign=True).reason == "foreign_term"
    assert decide([], T, foreign=False).reason == "no_candidates"


def test_an_faq_and_its_clause_section_share_a_topic_and_the_best_score():
    faqs = {"coverage": "faq.product.medical.coverage", "waiting_period": "faq.product.waiting_period"}
    keys = [topic_key("faq.product.medical.coverage", "faq", None, (), "medical_million", faqs),
            topic_key("clause.medical_million.coverage", "clause", "coverage", ("medical_million",), "medical_million", faqs),
            topic_key("faq.claim.process", "faq", None, (), "medical_million", faqs)]
    assert keys[0] == keys[1] == "medical_million:coverage" and keys[2] == "faq.claim.process"
    topics = group_topics(keys, [0.7, 0.65, 0.1])
    assert [(t.key, t.score, t.members) for t in topics] == [("medical_million:coverage", 0.7, [0, 1]),
                                                             ("faq.claim.process", 0.1, [2])]
    # alone, an FAQ and its article split the lead (0.05); together they are answered
    assert decide(topics, T, foreign=False).decision == "answer"
    # without a product in the question a general FAQ is its own topic
    assert topic_key("faq.product.waiting_period", "faq", None, (), None, {}) == "faq.product.waiting_period"


def test_ties_keep_the_candidate_order():
    assert [t.key for t in group_topics(["b", "a"], [0.5, 0.5])] == ["b", "a"]


def test_normalise_turns_traditional_and_full_width_into_simplified_half_width():
    assert normalize("百萬醫療險　等待期多久？") == "百万医疗险 等待期多久?"
    assert match_key("  人工客服，什么时间在线？？😊") == match_key("人工客服什么时间在线") == "人工客服什么时间在线"
    assert match_key("ＡＢＣ１２３") == "abc123"


@pytest.fixture(scope="module")
def vocab():
    from knowledge.vocabulary import load_vocabulary
    from tests.conftest import CONTENT_DIR

    return load_vocabulary(CONTENT_DIR)


@pytest.mark.parametrize("text,previous,expected", [
    ("那重疾险呢", "百万医疗险等待期多久", "重疾险等待期多久"),
    ("换成碎屏险呢？", "百万医疗险等待期多久", "碎屏险等待期多久"),
    ("意外险的呢", "等待期多久", "意外险等待期多久"),
    ("那重疾险呢", None, "那重疾险呢"),
    ("重疾险保什么", "百万医疗险等待期多久", "重疾险保什么"),        # a question of its own
    ("那月缴呢", "百万医疗险等待期多久", "那月缴呢"),                # no product: the context keeps it
    ("那百万医疗险呢", "百万医疗险等待期多久", "那百万医疗险呢"),    # the same product again
])
def test_a_bare_product_follow_up_carries_the_previous_question_over(vocab, text, previous, expected):
    assert follow_up_query(vocab, text, previous) == expected


def test_sections_take_the_longest_word_so_a_negation_is_not_coverage(vocab):
    assert vocab.sections_named("重疾险不保什么") == {"exclusions"}
    assert vocab.sections_named("重疾险保什么") == {"coverage"}


def test_a_public_scheme_is_foreign_only_without_one_of_our_products(vocab):
    assert vocab.foreign_term("医保卡丢了怎么补办") == "医保卡"
    assert vocab.foreign_term("没用医保卡结算 百万医疗赔多少") is None
    assert vocab.foreign_term("看病没用医保卡结算 还能报销吗") is None
    assert vocab.foreign_term("职工医保住院报销比例是多少") == "职工医保"
    assert vocab.foreign_term("医保卡里的钱能给家人用吗") == "医保卡"
    assert vocab.foreign_term("网约车险保什么") is None          # our product, not 车险
    assert vocab.foreign_term("平安的百万医疗怎么样") == "平安"  # another company's product
