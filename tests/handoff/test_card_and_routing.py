"""The context card (masked, complete) and least-busy routing with fairness."""
from collections import Counter

from handoff.card import build_card, infer_reason, question_for_suggestion, render_card_text, skill_for
from handoff.routing import rank_candidates
from handoff.store import AgentLoad


def user(text, intent="ask_question", conf=0.9, ts=1.0):
    return {"event": "user", "text": text, "timestamp": ts,
            "parse_data": {"intent": {"name": intent, "confidence": conf}}}


def bot(text, ts=1.0):
    return {"event": "bot", "text": text, "timestamp": ts}


EVENTS = [user("你好", "greet"), bot("您好，我是保险小助手"),
          user("我叫王小明 手机13812345678 我住院了怎么理赔", "ask_question", 0.81),
          bot("理赔需要准备发票、病历……"), user("身份证110101199003071234 报案后多久赔", "ask_question", 0.42),
          bot("这个问题我暂时无法准确回答"), user("转人工", "request_human", 0.97)]
for i in range(8):
    EVENTS.insert(0, user(f"旧消息{i}", "greet"))


def test_card_has_everything_the_agent_needs_and_nothing_personal():
    card = build_card(conversation_id="oUser1234567890abcd", channel="wechat", events=EVENTS,
                      slots={"product": "medical_million", "knowledge_misses": 1.0, "last_answer_id": "faq.claim.docs",
                             "last_answer_score": 0.4321, "insured_age": None, "phone": "13812345678"},
                      latest_message={"intent": {"name": "request_human", "confidence": 0.97}},
                      reason="request_human", nickname="王小明",
                      suggestion={"answerable": True, "confidence": 0.8,
                                  "hits": [{"id": "faq.claim.time", "text": "资料齐全后平均1.7天结案", "score": 3.2,
                                            "citation": "常见问题《理赔多久到账》"}]})
    assert card["channel_label"] == "微信公众号" and card["user"] == "oUse***********abcd"
    assert card["nickname"] == "王**" and card["reason_label"] == "用户要求转人工"
    assert card["skill"] == "claims"                         # 理赔 words in the user's turns
    assert card["intent"] == {"name": "request_human", "confidence": 0.97}
    assert len(card["turns"]) == 10 and card["turns"][-1]["text"] == "转人工"
    assert card["slots"] == {"product": "medical_million", "phone": "138****5678"}
    assert card["bot_answer"] == {"text": "这个问题我暂时无法准确回答", "answer_id": "faq.claim.docs", "score": 0.432}
    assert card["suggestion"]["text"].startswith("资料齐全") and card["suggestion"]["answerable"]
    text = render_card_text(card, 42)
    for secret in ("13812345678", "110101199003071234", "王小明"):
        assert secret not in str(card) and secret not in text
    assert "#42" in text and "置信度 97%" in text and "建议回复" in text


def test_reason_skill_and_question():
    assert infer_reason("complaint", None, {}) == "complaint"
    assert infer_reason("request_human", "quote_form", {}) == "request_human"
    assert infer_reason("inform", "quote_form", {}) == "sale"
    assert infer_reason("nlu_fallback", None, {}) == "unanswered"
    assert skill_for("complaint", ["理赔"], {}) == "complaints"
    assert skill_for("sale", ["理赔"], {}) == "sales"
    assert skill_for("unanswered", ["交强险多少钱"], {}) == "sales"
    assert question_for_suggestion(EVENTS) == "身份证110***********1234 报案后多久赔"    # masked before the search
    assert question_for_suggestion([user("转人工", "request_human")]) == "转人工"
    assert question_for_suggestion([]) is None


def agent(uid, active=0, last=0.0, status="online", skills=("sales", "claims", "complaints"), cap=3):
    return AgentLoad(uid, status, frozenset(skills), cap, active, last)


def test_least_busy_within_skill():
    agents = [agent(1, active=2), agent(2, active=1), agent(3, active=0, skills=("claims",)),
              agent(4, active=0, status="busy"), agent(5, active=0, status="offline"), agent(6, active=3)]
    assert [a.user_id for a in rank_candidates(agents, "sales")] == [2, 1]
    assert [a.user_id for a in rank_candidates(agents, "claims")] == [3, 2, 1]
    assert rank_candidates(agents, "complaints")[0].user_id == 2
    assert rank_candidates([agent(1, active=3)], "sales") == []


def test_fairness_round_robin_among_equals():
    """Simulate 30 sequential assignments with chats ending at random: nobody is skipped or favoured."""
    import random

    rng = random.Random(7)
    loads = {uid: agent(uid, cap=5) for uid in (1, 2, 3)}
    counts, clock = Counter(), 0.0
    for _ in range(30):
        clock += 1
        best = rank_candidates(loads.values(), "sales")[0]
        counts[best.user_id] += 1
        loads[best.user_id] = agent(best.user_id, best.active_chats + 1, clock, cap=5)
        for uid, a in list(loads.items()):          # every agent finishes each chat with probability 0.5
            done = sum(rng.random() < 0.5 for _ in range(a.active_chats))
            loads[uid] = agent(uid, a.active_chats - done, a.last_assigned_at, cap=5)
    assert max(counts.values()) - min(counts.values()) <= 2, counts
