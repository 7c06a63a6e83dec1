"""Turn Rasa's bot messages into WeChat text, within WeChat's size limits."""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Tuple

TEXT_LIMIT_BYTES = 2048
_BREAKS = ("\n\n", "\n", "。", "！", "？", "；", "!", "?", ";", "，", ",", " ")


def texts_from_bot(messages: Iterable[Dict[str, Any]]) -> List[str]:
    """Plain-text renderings of Rasa's output (text, buttons, images, attachments, custom)."""
    texts: List[str] = []
    for message in messages:
        parts: List[str] = []
        if message.get("text"):
            parts.append(str(message["text"]))
        buttons = message.get("buttons") or message.get("quick_replies") or []
        titles = [str(b.get("title", "")).strip() for b in buttons if isinstance(b, dict)]
        titles = [t for t in titles if t]
        if titles:
            parts.append("您可以回复：" + " / ".join(titles))
        if message.get("image"):
            parts.append(f"[图片] {message['image']}")
        if message.get("attachment"):
            parts.append(f"[附件] {message['attachment']}")
        custom = message.get("custom")
        if isinstance(custom, dict):
            text = custom.get("wechat_text") or custom.get("text")
            if isinstance(text, str) and text:
                parts.append(text)
        joined = "\n".join(p for p in parts if p).strip()
        if joined:
            texts.append(joined)
    return texts


def split_utf8(text: str, limit: int = TEXT_LIMIT_BYTES) -> List[str]:
    """Split ``text`` into pieces of at most ``limit`` UTF-8 bytes, preferring natural breaks."""
    pieces: List[str] = []
    rest = text
    while len(rest.encode("utf-8")) > limit:
        # longest prefix that fits, on a character boundary
        cut = len(rest.encode("utf-8")[:limit].decode("utf-8", "ignore"))
        head = rest[:cut]
        best = -1
        for mark in _BREAKS:
            pos = head.rfind(mark)
            if pos >= cut // 2:
                best = pos + len(mark)
                break
        if best > 0:
            cut = best
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest.strip():
        pieces.append(rest.strip())
    return [p for p in pieces if p]


def message_parts(texts: Iterable[str], limit: int = TEXT_LIMIT_BYTES) -> List[str]:
    """Every text split to fit one API message, in order (one text may become several messages)."""
    return [part for text in texts for part in split_utf8(text, limit)]


def delivery_plan(texts: List[str], limit: int = TEXT_LIMIT_BYTES) -> Tuple[Optional[str], List[str]]:
    """(passive reply text or None, customer-service messages).

    One passive reply can carry one message: all texts joined when they fit in ``limit`` bytes;
    otherwise everything goes out as customer-service messages of at most ``limit`` bytes each,
    in order (mixing a passive reply with later API messages could reorder them).
    """
    if not texts:
        return None, []
    joined = "\n\n".join(texts)
    if len(joined.encode("utf-8")) <= limit:
        return joined, []
    return None, message_parts(texts, limit)
