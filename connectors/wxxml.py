"""Safe parsing and rendering of WeChat's flat XML messages.

Parsing goes through defusedxml with DTDs forbidden, so entity expansion (billion laughs) and
external entities (XXE) are refused before anything is expanded.
"""
from __future__ import annotations

import time
from typing import Dict, Optional
from xml.etree.ElementTree import Element

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from connectors.security import MAX_BODY_BYTES, Rejected


def parse_xml(body: bytes) -> Dict[str, str]:
    """Parse ``<xml>...</xml>`` into {tag: text}; nested elements become ``Parent.Child`` keys.

    Raises :class:`Rejected` (400) for anything that is not a small, DTD-free XML document.
    """
    if len(body) > MAX_BODY_BYTES:
        raise Rejected(413, "body too large")
    if not body.strip():
        raise Rejected(400, "empty body")
    try:
        root = SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise Rejected(400, f"forbidden XML construct: {type(exc).__name__}") from None
    except SafeET.ParseError:
        raise Rejected(400, "malformed XML") from None
    except (ValueError, UnicodeError, LookupError):    # LookupError: unknown encoding="..." declared
        raise Rejected(400, "undecodable XML") from None
    if root.tag != "xml":
        raise Rejected(400, "unexpected XML root")
    fields: Dict[str, str] = {}
    _flatten(root, "", fields, depth=0)
    return fields


def _flatten(node: Element, prefix: str, out: Dict[str, str], depth: int) -> None:
    if depth > 3:
        return
    for child in node:
        key = f"{prefix}{child.tag}"
        if len(child):
            _flatten(child, key + ".", out, depth + 1)
        else:
            out[key] = (child.text or "").strip()


def cdata(text: str) -> str:
    """Wrap ``text`` in CDATA, splitting any ``]]>`` so user text cannot break out."""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def render_text_reply(to_user: str, from_user: str, content: str,
                      create_time: Optional[int] = None) -> str:
    """Passive text reply (被动回复消息) from the account (``from_user``) to the user (``to_user``)."""
    ts = int(time.time()) if create_time is None else create_time
    return (
        "<xml>"
        f"<ToUserName>{cdata(to_user)}</ToUserName>"
        f"<FromUserName>{cdata(from_user)}</FromUserName>"
        f"<CreateTime>{ts}</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{cdata(content)}</Content>"
        "</xml>"
    )


def render_encrypted_envelope(encrypt: str, msg_signature: str, timestamp: str, nonce: str) -> str:
    """The safe-mode reply envelope WeChat expects around an encrypted passive reply."""
    return (
        "<xml>"
        f"<Encrypt>{cdata(encrypt)}</Encrypt>"
        f"<MsgSignature>{cdata(msg_signature)}</MsgSignature>"
        f"<TimeStamp>{timestamp}</TimeStamp>"
        f"<Nonce>{cdata(nonce)}</Nonce>"
        "</xml>"
    )
