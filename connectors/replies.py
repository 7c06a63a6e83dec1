"""Turn Rasa's bot messages into WeChat text (and menu messages), within WeChat's size limits."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from connectors.menus import Menu, menu_of

TEXT_LIMIT_BYTES = 2048
_BREAKS = ("\n\n", "\n", "。", "！", "？", "；", "!", "?", ";", "，", ",", " ")


@dataclass(frozen=True)
class Reply:
    """One bot message as WeChat can show it: its plain text, and the menu it carries (if any)."""

    text: str
    menu: Optional[Menu] = None


@dataclass(frozen=True)
class MenuPart:
    """A menu message to send, with the numbered text (one message) to send instead if it is refused."""

    menu: Menu
    text: str


Part = Union[str, MenuPart]     # what one customer-service / kf API call sends


def _is_plain_text(message: Dict[str, Any]) -> bool:
    return bool(message.get("text")) and not any(message.get(k) for k in
                                                 ("buttons", "quick_replies", "image", "attachment", "custom"))


def replies_from_bot(messages: Iterable[Dict[str, Any]]) -> List[Reply]:
    """:func:`texts_from_bot`, keeping with each text the menu its message carries in ``custom.msgmenu``.

    The channels' collector keeps a menu message whole (``{"text", "custom"}``, as the action sent it);
    Rasa's own CollectingOutputChannel splits it into a text message followed by a custom one: such a
    custom-only menu is joined to the plain text just before it when that text lists every option.
    A menu without any text gets its numbered rendering as text.
    """
    replies: List[Reply] = []
    plain_before = False          # the last reply came from the message just before, a plain text
    for message in messages:
        menu = menu_of(message)
        text = _text_of(message)
        if menu is not None and not message.get("text"):
            last = replies[-1] if replies else None
            if (plain_before and last is not None
                    and all(content in last.text for _, content in menu.items)):
                replies[-1] = Reply(last.text, menu)
            else:
                replies.append(Reply("\n".join(p for p in (text, menu.as_text()) if p), menu))
            plain_before = False
            continue
        if text:
            replies.append(Reply(text, menu))
        plain_before = bool(text) and _is_plain_text(message)
    return replies


def texts_from_bot(messages: Iterable[Dict[str, Any]]) -> List[str]:
    """Plain-text renderings of Rasa's output (text, buttons, images, attachments, custom)."""
    return [reply.text for reply in replies_from_bot(messages)]


def _text_of(message: Dict[str, Any]) -> str:
    """One message's plain-text rendering (text, buttons, image, attachment, custom text)."""
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
    return "\n".join(p for p in parts if p).strip()


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


def reply_plan(replies: Sequence[Reply], menus: bool,
               limit: int = TEXT_LIMIT_BYTES) -> Tuple[Optional[str], List[Part]]:
    """(passive reply text or None, API parts) for the Official Account.

    ``menus`` (WECHAT_MSGMENU, an account that may send them): a reply carrying a menu goes out as a
    menu message, which only the customer-service API can send, so then the whole answer goes through
    the API, in order (a passive reply before API messages could reorder them). Otherwise (or when no
    reply carries a menu) exactly :func:`delivery_plan` of the texts: the numbered text as it is.
    """
    parts = parts_with_menus(replies, limit) if menus else []
    if any(isinstance(part, MenuPart) for part in parts):
        return None, parts
    passive, custom = delivery_plan([reply.text for reply in replies], limit)
    return passive, list(custom)


def parts_with_menus(replies: Sequence[Reply], limit: int = TEXT_LIMIT_BYTES) -> List[Part]:
    """Every reply as API parts: a menu message where the reply carries one, else its text split to fit.

    A menu's fallback text must fit one message (so a refused menu is replaced by exactly one text
    message); a reply whose text is longer goes out as text.
    """
    parts: List[Part] = []
    for reply in replies:
        if reply.menu is not None and len(reply.text.encode("utf-8")) <= limit:
            parts.append(MenuPart(reply.menu, reply.text))
        else:
            parts.extend(split_utf8(reply.text, limit))
    return parts


def menus_for_ledger(replies: Sequence[Reply]) -> List[Optional[Dict[str, Any]]]:
    """The replies' menus aligned with their texts, for the ledger; [] when there is none (most turns)."""
    if not any(reply.menu for reply in replies):
        return []
    return [reply.menu.to_json() if reply.menu else None for reply in replies]


def replies_from_ledger(texts: Sequence[str], menus: Sequence[Any]) -> List[Reply]:
    """The inverse of :func:`menus_for_ledger` (records written before menus existed have no menus)."""
    menus = list(menus or [])
    return [Reply(text, Menu.from_json(menus[i]) if i < len(menus) and menus[i] else None)
            for i, text in enumerate(texts)]
