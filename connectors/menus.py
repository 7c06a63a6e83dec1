"""Menu messages (菜单消息): a question with a few tappable options, on the Official Account and 微信客服.

The action server sends a clarification as one bot message carrying both a numbered plain text (what
every channel can show as is) and ``custom.msgmenu``::

    {"text": "您是想问：\\n1. 怎么申请理赔？\\n…", "custom": {"msgmenu": {"head_content": "您是想问：",
     "list": [{"id": "faq.claim.process", "content": "怎么申请理赔？"}, …], "tail_content": "…"}}}

:func:`parse_menu` turns ``custom.msgmenu`` into a :class:`Menu` (or None when it is unusable, so the
text goes out as it is); :meth:`Menu.oa_body` / :meth:`Menu.kf_body` are the two platforms' JSON bodies.
A tapped option comes back as a text message: ``<bizmsgmenuid>`` in the Official Account's XML,
``text.menu_id`` in ``kf/sync_msg``; :func:`clean_menu_id` vets it before it reaches Rasa as metadata
``{"menu_id": ...}``. Pure functions, no I/O.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple

MAX_ITEMS = 10                 # 微信客服's documented maximum; the Official Account's is not documented
MAX_ID_CHARS = 128
MAX_CONTENT_CHARS = 200
MAX_EDGE_CHARS = 1000          # head_content / tail_content
METADATA_KEY = "menu_id"       # the key of the tapped option's id in the UserMessage metadata
_ID = re.compile(r"[A-Za-z0-9._:\-]{1,%d}" % MAX_ID_CHARS)


@dataclass(frozen=True)
class Menu:
    """A validated menu: head text, options (id, content), tail text."""

    head: str
    items: Tuple[Tuple[str, str], ...]
    tail: str = ""

    def oa_body(self) -> Dict[str, Any]:
        """``msgmenu`` of ``POST /cgi-bin/message/custom/send`` (Official Account)."""
        return {"head_content": self.head,
                "list": [{"id": item_id, "content": content} for item_id, content in self.items],
                "tail_content": self.tail}

    def kf_body(self) -> Dict[str, Any]:
        """``msgmenu`` of ``POST /cgi-bin/kf/send_msg`` (微信客服: typed items, here all ``click``)."""
        return {"head_content": self.head,
                "list": [{"type": "click", "click": {"id": item_id, "content": content}}
                         for item_id, content in self.items],
                "tail_content": self.tail}

    def as_text(self) -> str:
        """The numbered list, for a bot message that carries a menu but no text."""
        lines = [self.head] if self.head else []
        lines += [f"{number}. {content}" for number, (_, content) in enumerate(self.items, 1)]
        if self.tail:
            lines.append(self.tail)
        return "\n".join(lines)

    def to_json(self) -> Dict[str, Any]:
        """For the ledger (a finished turn is stored until it is delivered)."""
        return self.oa_body()

    @classmethod
    def from_json(cls, data: Any) -> Optional["Menu"]:
        return parse_menu(data)


def _text(value: Any, limit: int) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def parse_menu(value: Any) -> Optional[Menu]:
    """A :class:`Menu` from a ``msgmenu`` object, or None when there is nothing tappable in it.

    Items without a usable id (letters, digits, ``._:-``, at most 128) or without content are left
    out, as are duplicates of an id and items past the tenth: a menu is sent with what is valid.
    """
    if not isinstance(value, Mapping):
        return None
    raw_items = value.get("list")
    if not isinstance(raw_items, list):
        return None
    items: List[Tuple[str, str]] = []
    seen = set()
    for raw in raw_items:
        if not isinstance(raw, Mapping):
            continue
        if isinstance(raw.get("click"), Mapping):          # 微信客服's shape, accepted too
            raw = raw["click"]
        item_id = raw.get("id")
        item_id = str(item_id) if isinstance(item_id, (str, int)) and not isinstance(item_id, bool) else ""
        item_id = clean_menu_id(item_id)
        content = _text(raw.get("content"), MAX_CONTENT_CHARS)
        if not item_id or not content or item_id in seen:
            continue
        seen.add(item_id)
        items.append((item_id, content))
        if len(items) == MAX_ITEMS:
            break
    if not items:
        return None
    return Menu(_text(value.get("head_content"), MAX_EDGE_CHARS), tuple(items),
                _text(value.get("tail_content"), MAX_EDGE_CHARS))


def menu_of(message: Mapping[str, Any]) -> Optional[Menu]:
    """The menu a Rasa bot message carries in ``custom.msgmenu``, if any."""
    custom = message.get("custom")
    return parse_menu(custom.get("msgmenu")) if isinstance(custom, Mapping) else None


def clean_menu_id(value: Any) -> str:
    """A tapped option's id as it may reach Rasa; "" when absent or not an id we could have sent."""
    if not isinstance(value, str):
        return ""
    value = value.strip()
    return value if _ID.fullmatch(value) else ""


def oa_menu_id(fields: Mapping[str, str]) -> str:
    """``<bizmsgmenuid>`` of an Official Account text push (the tag is matched without regard to case)."""
    for key, value in fields.items():
        if key.lower() == "bizmsgmenuid":
            return clean_menu_id(value)
    return ""
