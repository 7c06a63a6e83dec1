"""WeChat Official Account messages: typed parsing and what to do with each kind.

Every inbound message becomes a :class:`Plan`: a Rasa turn with some text, a direct reply
(no turn needed), or nothing. Unknown kinds get a polite reply, never an exception.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Dict, Optional

from connectors.geo import locate_province
from connectors.menus import oa_menu_id
from connectors.security import ascii_int

MAX_TEXT_CHARS = 2000

# 自定义菜单 CLICK keys -> what the bot receives (an intent or a question in plain words)
MENU_ACTIONS: Dict[str, str] = {
    "MENU_QUOTE": "/ask_quote",
    "MENU_HUMAN": "/request_human",
    "MENU_CLAIM": "怎么申请理赔",
    "MENU_PRODUCTS": "有哪些保险产品",
    "MENU_HELP": "/greet",
}

REPLY_EMPTY_TEXT = "您好，请问有什么可以帮您？可以直接输入问题，比如“怎么申请理赔”或“百万医疗险等待期多久”。"
REPLY_IMAGE = ("收到您的图片啦📷 对话里还不能直接提交理赔材料；需要报案或交材料，请回复“转人工”，"
               "人工客服会告诉您怎么提交。想了解理赔流程，可以回复“怎么申请理赔”。")
REPLY_VOICE_UNRECOGNISED = "抱歉，这条语音我没能听清🙏 麻烦您直接打字告诉我，比如“百万医疗险等待期多久”。"
REPLY_LOCATION_UNKNOWN = "已收到您的位置，不过暂时无法识别所在省份。您可以直接告诉我所在城市，比如“我在深圳”。"
REPLY_LINK = "收到您分享的链接。我暂时无法打开链接内容，请用文字描述您的问题，我来帮您解答～"
REPLY_MEDIA = "收到啦。我暂时还看不懂视频或文件，请用文字描述您的问题；需要人工服务请回复“转人工”。"
REPLY_UNSUPPORTED = "抱歉，我暂时还看不懂这类消息😅 请用文字描述您的问题，我会尽力帮您；需要人工服务请回复“转人工”。"
REPLY_MENU_UNKNOWN = "这个菜单暂时不可用，请直接输入您的问题，或回复“转人工”联系人工客服。"
REPLY_ERROR = "抱歉，系统开小差了，请稍后再试；着急的话可以回复“转人工”。"
REPLY_RATE_LIMITED = "您发送得太快了，请稍后再试～ 我会继续为您服务。"


@dataclass(frozen=True)
class Inbound:
    """One message or event pushed by WeChat (fields keep WeChat's meaning, names are ours)."""

    account: str            # ToUserName: the Official Account's original id (gh_...)
    openid: str             # FromUserName: the user's OpenID (the Rasa sender_id)
    create_time: int
    msg_type: str           # lower-cased MsgType
    msg_id: str = ""
    event: str = ""         # lower-cased Event for msg_type == "event"
    event_key: str = ""
    content: str = ""
    recognition: str = ""
    latitude: Optional[float] = None
    longitude: Optional[float] = None
    label: str = ""
    menu_id: str = ""       # <bizmsgmenuid>: the option of a menu message the user tapped (text messages)
    fields: Dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def dedupe_key(self) -> str:
        """MsgId for messages; FromUserName + CreateTime (+ event) for events, as WeChat advises."""
        if self.msg_id:
            return f"wx:{self.account}:m:{self.msg_id}"
        return f"wx:{self.account}:e:{self.openid}:{self.create_time}:{self.msg_type}:{self.event}"


@dataclass(frozen=True)
class Plan:
    """What to do with an inbound message."""

    kind: str                          # for logs and metrics: text, voice, location, ...
    rasa_text: Optional[str] = None    # run a Rasa turn with this text
    reply: Optional[str] = None        # or answer directly with this text
    deliver: bool = True               # False: run the turn but send nothing back (unsubscribe)
    menu_id: str = ""                  # a tapped menu option: Rasa gets metadata {"menu_id": ...}


class InvalidMessage(ValueError):
    """The XML is well formed but not a WeChat message (missing sender, account or time)."""


def _float(value: str) -> Optional[float]:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def parse_inbound(fields: Dict[str, str]) -> Inbound:
    """Typed view of the flat XML fields; raises :class:`InvalidMessage` if mandatory ones are missing."""
    openid = fields.get("FromUserName", "")
    account = fields.get("ToUserName", "")
    created = ascii_int(fields.get("CreateTime", ""), 12)
    if not openid or not account or created is None or len(openid) > 128 or len(account) > 128:
        raise InvalidMessage("missing FromUserName/ToUserName/CreateTime")
    msg_id = fields.get("MsgId", "") or fields.get("MsgID", "")
    return Inbound(
        account=account, openid=openid, create_time=created,
        msg_type=fields.get("MsgType", "").strip().lower(),
        msg_id=msg_id if ascii_int(msg_id, 32) is not None else "",
        event=fields.get("Event", "").strip().lower(),
        event_key=fields.get("EventKey", ""),
        content=fields.get("Content", ""),
        recognition=fields.get("Recognition", ""),
        latitude=_float(fields.get("Location_X", fields.get("Latitude", ""))),
        longitude=_float(fields.get("Location_Y", fields.get("Longitude", ""))),
        label=fields.get("Label", ""),
        menu_id=oa_menu_id(fields),
        fields=fields,
    )


def user_text(text: str) -> str:
    """User-typed text for Rasa: trimmed, bounded, and unable to inject ``/intent{...}`` commands."""
    cleaned = text.strip()[:MAX_TEXT_CHARS]
    if cleaned.startswith("/"):
        cleaned = "／" + cleaned[1:]
    return cleaned


def location_intent(province: str) -> str:
    """The Rasa message for a shared location: intent share_location with the province entity."""
    return "/share_location" + json.dumps({"province": province}, ensure_ascii=False)


def plan_for(msg: Inbound) -> Plan:
    """Decide how to handle ``msg`` (pure; no I/O)."""
    kind = msg.msg_type
    if kind == "text":
        text = user_text(msg.content)
        if not text:
            return Plan("text_empty", reply=REPLY_EMPTY_TEXT)
        # a tapped menu option is a text message like any other (same dedupe key, same turn) that also
        # says which option it was
        return Plan("text", rasa_text=text, menu_id=msg.menu_id)
    if kind == "voice":
        text = user_text(msg.recognition)
        return Plan("voice", rasa_text=text) if text else Plan("voice_unrecognised", reply=REPLY_VOICE_UNRECOGNISED)
    if kind == "location":
        province = locate_province(msg.latitude, msg.longitude, msg.label)
        if province:
            return Plan("location", rasa_text=location_intent(province))
        return Plan("location_unknown", reply=REPLY_LOCATION_UNKNOWN)
    if kind == "image":
        return Plan("image", reply=REPLY_IMAGE)
    if kind == "link":
        return Plan("link", reply=REPLY_LINK)
    if kind in ("video", "shortvideo", "file"):
        return Plan(kind, reply=REPLY_MEDIA)
    if kind == "event":
        return _plan_event(msg)
    return Plan("unsupported", reply=REPLY_UNSUPPORTED)


def _plan_event(msg: Inbound) -> Plan:
    event = msg.event
    if event == "subscribe":
        return Plan("subscribe", rasa_text="/greet")
    if event == "unsubscribe":
        # closes the conversation; the user can no longer receive anything
        return Plan("unsubscribe", rasa_text="/restart", deliver=False)
    if event == "click":
        target = MENU_ACTIONS.get(msg.event_key.strip())
        if target is None:
            return Plan("menu_unknown", reply=REPLY_MENU_UNKNOWN)
        return Plan("menu", rasa_text=target)
    # VIEW (opens a URL), LOCATION reports, SCAN, template/mass-send receipts: nothing to say
    return Plan(f"event_{event or 'unknown'}"[:40])
