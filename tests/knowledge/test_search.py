"""Retrieval with the real model: own questions, product awareness, citations, unanswerable near-misses."""
import subprocess
import sys
import uuid

import numpy as np
import pytest

from common.settings import REPO_ROOT
from tests.conftest import MODEL_DIR, ONNX_DIR


def answered_ids(result) -> set[str]:
    """The items an answer states: the one it leads with and the one cited beside it."""
    if result.decision != "answer":
        return set()
    choice = result.choices[0]
    return {choice.id} | ({choice.companion.id} if choice.companion else set())


def test_every_standard_question_is_answered_with_its_faq(knowledge_index, snapshot):
    wrong = []
    for faq in snapshot.faqs:
        result = knowledge_index.search(faq.question, top_k=3)
        if result.hits[0].id != faq.id or faq.id not in answered_ids(result):
            wrong.append((faq.id, result.decision, result.reason, [h.id for h in result.hits]))
    assert wrong == []


def test_standard_questions_in_traditional_characters_get_the_same_answers(knowledge_index, snapshot):
    import opencc

    to_traditional = opencc.OpenCC("s2t")
    differ = []
    for faq in snapshot.faqs:
        simplified = knowledge_index.search(faq.question, top_k=3)
        traditional = knowledge_index.search(to_traditional.convert(faq.question), top_k=3)
        if (traditional.decision, [c.id for c in traditional.choices]) != (simplified.decision, [c.id for c in simplified.choices]):
            differ.append((faq.question, to_traditional.convert(faq.question)))
    assert differ == []


@pytest.mark.parametrize("query,context,expected", [
    ("百万医疗险等待期多久", None, "clause.medical_million.waiting_period"),
    ("重疾险等待期", None, "clause.critical_illness.waiting_period"),
    ("等待期是什么", None, "faq.product.waiting_period"),
    ("那等待期呢", "critical_illness", "clause.critical_illness.waiting_period"),
    ("碎屏险条款里哪些情况不赔", None, "clause.screen.exclusions"),
])
def test_product_awareness(knowledge_index, query, context, expected):
    result = knowledge_index.search(query, top_k=3, context_product=context)
    assert expected in answered_ids(result), (result.decision, result.reason, [c.id for c in result.choices])


def test_an_faq_and_its_clause_article_are_one_answer(knowledge_index):
    """The FAQ explains in plain words, the article behind it is cited: neither costs the other its answer."""
    result = knowledge_index.search("百万医疗险保什么", top_k=3)
    assert result.decision == "answer"
    assert result.choices[0].id == "faq.product.medical.coverage"
    assert result.choices[0].companion is not None and result.choices[0].companion.id == "clause.medical_million.coverage"
    clause_first = knowledge_index.search("百万医疗险等待期多久", top_k=3).choices[0]
    assert clause_first.id == "clause.medical_million.waiting_period"
    assert clause_first.companion is not None and clause_first.companion.id == "faq.product.waiting_period"


def test_clause_hits_carry_product_section_and_a_citation(knowledge_index):
    hit = knowledge_index.search("百万医疗险条款里哪些情况不赔", top_k=1).hits[0]
    assert hit.kind == "clause" and hit.product == "medical_million" and hit.section == "exclusions"
    assert hit.citation.startswith("《百万医疗险条款》第") and hit.citation.endswith("责任免除")
    assert hit.text.startswith(hit.citation.split("》")[1].split()[0])


PRODUCT_NAMES = {"medical_million": "百万医疗险", "accident": "意外险", "critical_illness": "重疾险",
                 "screen": "碎屏险", "typhoon": "台风险", "driver_accident": "网约车司机意外险"}


@pytest.mark.parametrize("product", sorted(PRODUCT_NAMES))
@pytest.mark.parametrize("template", ["{}哪些情况不赔", "{}不保什么", "{}免责条款"])
def test_exclusions_of_every_product_are_answered(knowledge_index, product, template):
    result = knowledge_index.search(template.format(PRODUCT_NAMES[product]), top_k=3)
    assert result.decision == "answer", (result.reason, result.confidence)
    assert result.choices[0].id == f"clause.{product}.exclusions"


@pytest.mark.parametrize("query,expected", [
    ("扣款失败了怎么办", "faq.payment.failed"),
    ("可以按月交保费吗", "faq.payment.monthly"),
    ("保单什么时候生效", "faq.purchase.effective_date"),
    ("怎么修改受益人", "faq.policy.beneficiary"),
])
@pytest.mark.parametrize("context", ["medical_million", "typhoon"])
def test_general_questions_are_answered_whatever_product_the_conversation_is_about(knowledge_index, query,
                                                                                    expected, context):
    """A product known from earlier turns must not turn a general FAQ question into 'I don't know'."""
    result = knowledge_index.search(query, top_k=3, context_product=context)
    assert expected in answered_ids(result), (result.decision, result.confidence)


@pytest.mark.parametrize("query", ["车险怎么买", "社保断缴了怎么办", "惠民保和你们的有啥区别", "养老金每月能领多少",
                                   "拼多多运费险怎么理赔", "10086话费怎么查", "平安的百万医疗怎么样", "医保卡丢了怎么补办"])
def test_what_we_do_not_handle_is_refused(knowledge_index, query):
    result = knowledge_index.search(query)
    assert result.decision == "refuse" and result.reason == "foreign_term", (query, result.reason)
    assert result.foreign_term


@pytest.mark.parametrize("query", ["帮我订一份外卖", "明天天气怎么样", "帮我叫个车去火车站", "讲个笑话吧"])
def test_requests_that_are_not_about_insurance_are_not_answered(knowledge_index, query):
    assert knowledge_index.search(query).decision != "answer"


def test_a_follow_up_naming_another_product_asks_the_same_question_of_it(knowledge_index):
    result = knowledge_index.search("那重疾险呢", previous_query="百万医疗险等待期多久")
    assert result.query == "重疾险等待期多久"
    assert "clause.critical_illness.waiting_period" in answered_ids(result)
    # without a previous question it is just a product name: nothing to carry over
    assert knowledge_index.search("那重疾险呢").query == "那重疾险呢"


def test_an_uncertain_question_is_clarified_with_the_right_option_among_at_most_three(knowledge_index):
    """Among the dev messages the shipped model is unsure about, the options offered hold the answer."""
    from knowledge.training import load_dev

    clarified = [(q, knowledge_index.search(q.text, top_k=3, context_product=q.context_product))
                 for q in load_dev()]
    clarified = [(q, r) for q, r in clarified if r.decision == "clarify"]
    assert clarified, "no dev message was clarified"
    assert all(1 <= len(r.options) <= 3 and len(set(r.options)) == len(r.options) for _, r in clarified)
    labels = [c.label for _, r in clarified for c in r.choices]
    assert all(label for label in labels)


def test_a_question_an_editor_adds_is_answered_as_typed(knowledge_index, snapshot, encoder, vocab):
    """Added as a similar question and published: that exact message (punctuation, spaces, 繁简 aside) is answered."""
    from dataclasses import replace

    from knowledge.search import KnowledgeIndex

    added = "晚上十一点半还能找到活人聊吗"
    faqs = [replace(f, similar=f.similar + (added,)) if f.id == "faq.service.hours" else f for f in snapshot.faqs]
    edited = KnowledgeIndex.build(replace(snapshot, faqs=tuple(faqs)), encoder, vocab, cache=knowledge_index.cache)
    for typed in (added, "晚上 十一点半，还能找到活人聊吗？", "晚上十一點半還能找到活人聊嗎"):
        result = edited.search(typed)
        assert (result.decision, result.reason, result.choices[0].id) == ("answer", "exact_match", "faq.service.hours")
        assert result.matched == added


def test_rebuild_after_one_edit_embeds_only_what_changed(knowledge_index, snapshot, encoder, vocab):
    from dataclasses import replace

    from knowledge.search import KnowledgeIndex

    faqs = list(snapshot.faqs)
    fresh = f"微信里面到底咋买保险啊 测试新问法 {uuid.uuid4().hex[:8]}"  # never seen by the shared cache
    faqs[0] = replace(faqs[0], similar=faqs[0].similar + (fresh,))
    edited = replace(snapshot, faqs=tuple(faqs))
    rebuilt = KnowledgeIndex.build(edited, encoder, vocab, cache=knowledge_index.cache, train_reranker=False)
    assert rebuilt.stats["embedded"] == 1
    assert rebuilt.version != knowledge_index.version


def test_dense_scores_match_bruteforce(knowledge_index):
    qvec = knowledge_index.embed_query("理赔要准备什么材料")
    best, _ = knowledge_index.dense_item_scores(qvec)
    sims = knowledge_index.vectors @ qvec
    top_item = int(knowledge_index.entry_item[int(np.argmax(sims))])
    assert max(best, key=best.get) == top_item
    assert np.isclose(best[top_item], sims.max(), atol=1e-5)


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_model_loads_with_networking_disabled(backend):
    """HF_HUB_OFFLINE=1 and every socket connect refused: either backend must still load and encode."""
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('network disabled in test')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "from pathlib import Path\n"
        "from knowledge.encoder import load_encoder\n"
        f"enc = load_encoder({backend!r}, Path({str(MODEL_DIR)!r}), Path({str(ONNX_DIR)!r}))\n"
        "v = enc.encode(['犹豫期多久'], 'query')\n"
        "assert v.shape == (1, 384) and abs(float((v**2).sum()) - 1) < 1e-3\n"
        "print('ok')\n"
    )
    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")


def test_traditional_standard_questions_get_the_simplified_answers(knowledge_index, snapshot):
    """Every standard FAQ question typed in 繁体 gets the decision and answer its 简体 form gets."""
    import opencc

    s2t = opencc.OpenCC("s2t")
    for faq in snapshot.faqs:
        simplified, traditional = knowledge_index.search(faq.question), knowledge_index.search(s2t.convert(faq.question))
        assert traditional.decision == simplified.decision, faq.question
        assert [h.id for h in traditional.hits[:1]] == [h.id for h in simplified.hits[:1]], faq.question
