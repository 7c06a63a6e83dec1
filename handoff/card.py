"""The context card an agent receives with a hand-off (stdlib only: built inside the action server).

Everything personal is masked here, once, before the card leaves the action server: the agent
sees enough to help (what was asked, what the bot said, how sure it was) without phone numbers
or ID numbers in WeCom or in the database.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Optional

from common.masking import mask_name, mask_text, mask_user_id, mask_value

MAX_TURNS = 10
MAX_TURN_CHARS = 300

REASON_REQUEST = "request_human"
REASON_COMPLAINT = "complaint"
REASON_UNANSWERED = "unanswered"
REASON_SALE = "sale"
REASONS = (REASON_REQUEST, REASON_COMPLAINT, REASON_UNANSWERED, REASON_SALE)
REASON_LABELS = {
    REASON_REQUEST: "用户要求转人工",
    REASON_COMPLAINT: "用户投诉",
    REASON_UNANSWERED: "机器人连续两次无法回答",
    REASON_SALE: "需人工办理的销售/核保",
}
SKILLS = ("sales", "claims", "complaints")
SKILL_LABELS = {"sales": "销售咨询", "claims": "理赔服务", "complaints": "投诉处理"}
CHANNEL_LABELS = {"wechat": "微信公众号", "wecom_kf": "微信客服", "rest": "网页/接口", "simulator": "模拟器"}

_CLAIMS_WORDS = re.compile(r"理赔|报案|赔付|赔款|出险|索赔|理赔进度|结案|拒赔|住院|发票|病历")
# slots that are bookkeeping, not facts about the customer
_INTERNAL_SLOTS = frozenset({"requested_slot", "knowledge_misses", "session_started_metadata"})
# intents that are not the customer's actual question (the suggestion searches for the question)
_NOT_QUESTIONS = frozenset({"request_human", "greet", "goodbye", "thanks", "affirm", "deny", "rate",
                            "bot_challenge", "share_location"})


def infer_reason(intent: Optional[str], active_loop: Optional[str], slots: Mapping[str, Any]) -> str:
    """Why the bot hands over, from the turn that triggered it (FollowupAction keeps the intent)."""
    if intent == "complaint":
        return REASON_COMPLAINT
    if intent == "request_human":
        return REASON_REQUEST
    if active_loop == "quote_form" or intent == "ask_quote" or slots.get("quote_alternative"):
        return REASON_SALE
    return REASON_UNANSWERED


def skill_for(reason: str, texts: Iterable[str], slots: Mapping[str, Any]) -> str:
    """Complaints -> complaints; claims words in the recent user turns -> claims; otherwise sales."""
    if reason == REASON_COMPLAINT:
        return "complaints"
    if reason == REASON_SALE or slots.get("quote_product"):
        return "sales"
    if any(_CLAIMS_WORDS.search(t or "") for t in texts):
        return "claims"
    return "sales"


def recent_turns(events: Iterable[Mapping[str, Any]], limit: int = MAX_TURNS) -> list[dict[str, Any]]:
    """The last ``limit`` user/bot messages, masked, oldest first (after the last restart)."""
    turns: list[dict[str, Any]] = []
    for event in events:
        kind = event.get("event")
        if kind == "restart":
            turns = []
        elif kind == "user" and (event.get("text") or "").strip():
            intent = (event.get("parse_data") or {}).get("intent") or {}
            turns.append({"role": "user", "text": _clip(mask_text(event["text"])),
                          "intent": intent.get("name"), "confidence": _round(intent.get("confidence")),
                          "at": event.get("timestamp")})
        elif kind == "bot" and (event.get("text") or "").strip():
            turns.append({"role": "bot", "text": _clip(mask_text(event["text"])), "at": event.get("timestamp")})
    return turns[-limit:]


def question_for_suggestion(events: Iterable[Mapping[str, Any]]) -> Optional[str]:
    """The customer's latest actual question (not "转人工" itself), masked, for the knowledge-base suggestion."""
    last_any: Optional[str] = None
    for event in reversed(list(events)):
        if event.get("event") != "user":
            continue
        text = (event.get("text") or "").strip()
        if not text or text.startswith("/"):
            continue
        last_any = last_any or text
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if intent not in _NOT_QUESTIONS:
            return mask_text(text)[:500]
    return mask_text(last_any)[:500] if last_any else None


def build_card(*, conversation_id: str, channel: str, events: list[Mapping[str, Any]],
               slots: Mapping[str, Any], latest_message: Mapping[str, Any], reason: str,
               nickname: Optional[str] = None, suggestion: Optional[Mapping[str, Any]] = None,
               now: Optional[datetime] = None) -> dict[str, Any]:
    """The card as a JSON-ready dict (masked)."""
    intent = latest_message.get("intent") or {}
    turns = recent_turns(events)
    user_texts = [e.get("text") or "" for e in events if e.get("event") == "user"][-MAX_TURNS:]
    last_bot = next((t for t in reversed(turns) if t["role"] == "bot"), None)
    facts = {k: mask_value(v) for k, v in slots.items()
             if k not in _INTERNAL_SLOTS and v not in (None, "", [], {}) and not k.startswith("last_answer")}
    card: dict[str, Any] = {
        "channel": channel or "rest",
        "channel_label": CHANNEL_LABELS.get(channel or "rest", channel or "rest"),
        "user": mask_user_id(conversation_id),
        "nickname": mask_name(nickname) if nickname else "微信用户",
        "reason": reason,
        "reason_label": REASON_LABELS.get(reason, reason),
        "skill": skill_for(reason, user_texts, slots),
        "intent": {"name": intent.get("name"), "confidence": _round(intent.get("confidence"))},
        "slots": facts,
        "turns": turns,
        "bot_answer": {
            "text": last_bot["text"] if last_bot else None,
            "answer_id": slots.get("last_answer_id"),
            "score": _round(slots.get("last_answer_score")),
        },
        "suggestion": _suggestion(suggestion),
        "created_at": (now or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
    }
    return card


def _suggestion(result: Optional[Mapping[str, Any]]) -> Optional[dict[str, Any]]:
    """Top knowledge-base hit as a suggested reply (the agent decides; masked like everything else)."""
    if not result or not result.get("hits"):
        return None
    top = result["hits"][0]
    return {"text": mask_text(str(top.get("text", "")))[:600], "citation": top.get("citation"),
            "id": top.get("id"), "score": _round(top.get("score")),
            "confidence": _round(result.get("confidence")), "answerable": bool(result.get("answerable"))}


def render_card_text(card: Mapping[str, Any], handoff_id: Optional[int] = None) -> str:
    """The card as plain text (WeCom text message, logs for people)."""
    head = f"【转人工 #{handoff_id}】" if handoff_id else "【转人工】"
    intent = card.get("intent") or {}
    lines = [
        f"{head}{card.get('reason_label', '')}｜{SKILL_LABELS.get(card.get('skill', ''), card.get('skill', ''))}",
        f"渠道：{card.get('channel_label', card.get('channel'))}　用户：{card.get('nickname')}（{card.get('user')}）",
        f"意图：{intent.get('name') or '-'}（置信度 {_pct(intent.get('confidence'))}）",
    ]
    if card.get("slots"):
        lines.append("已知信息：" + "，".join(f"{k}={v}" for k, v in card["slots"].items()))
    answer = card.get("bot_answer") or {}
    if answer.get("text"):
        score = f"，匹配分 {answer['score']}" if answer.get("score") is not None else ""
        lines.append(f"机器人最后回答（{answer.get('answer_id') or '未命中知识库'}{score}）：{answer['text'][:120]}")
    lines.append("最近对话：")
    for turn in card.get("turns") or []:
        who = "用户" if turn["role"] == "user" else "机器人"
        lines.append(f"  {who}：{turn['text'][:100]}")
    suggestion = card.get("suggestion")
    if suggestion:
        flag = "" if suggestion.get("answerable") else "（仅供参考，置信度低）"
        lines.append(f"建议回复{flag}：{suggestion['text'][:200]}（{suggestion.get('citation') or ''}）")
    return "\n".join(lines)


def summary(card: Mapping[str, Any]) -> str:
    """Two lines for a WeCom text card description (≤ 512 bytes after truncation)."""
    last_user = next((t["text"] for t in reversed(card.get("turns") or []) if t["role"] == "user"), "")
    return (f"{card.get('reason_label', '')}｜{card.get('channel_label', '')}｜{card.get('nickname', '')}\n"
            f"用户最后说：{last_user[:80]}")


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TURN_CHARS else text[:MAX_TURN_CHARS] + "…"


def _round(value: Any) -> Optional[float]:
    try:
        return None if value is None else round(float(value), 3)
    except (TypeError, ValueError):
        return None


def _pct(value: Any) -> str:
    return "-" if value is None else f"{float(value) * 100:.0f}%"
