"""Hand-off service API (action server -> web service), the REST outbox, and the WeCom agent-app callback.

- ``POST /api/handoff/escalations``: called by ``action_escalate_to_agent`` with the context card.
- ``GET /api/handoff/conversations/{id}``: is a hand-off open for this conversation?
- ``GET /api/handoff/conversations/{id}/outbox``: agent/system messages for clients of the REST
  channel (they have no push); WeChat and WeCom users get them through their channel instead.
- ``GET|POST /webhooks/wecom_agent``: the self-built WeCom app's callback, so agents can reply and
  type commands (``#结束``) in WeCom. Settings: WECOM_CORP_ID, WECOM_AGENT_TOKEN,
  WECOM_AGENT_ENCODING_AES_KEY (503 until set).
"""
from __future__ import annotations

import logging
from typing import Annotated, Any, Optional

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from common.settings import load_settings
from connectors.crypto import CryptoError, MessageCrypto
from connectors.logsafe import pseudonym
from connectors.security import Rejected, check_body_size, verify_msg_signature
from connectors.wxxml import parse_xml, render_text_reply
from handoff.card import REASONS
from handoff.commands import execute
from handoff.service import HandoffService
from web.handoff_runtime import get_service
from web.params import MAX_ID

log = logging.getLogger(__name__)
router = APIRouter(tags=["handoff"])
ServiceDep = Annotated[HandoffService, Depends(get_service)]
DEDUPE_TTL_S = 3600.0


class EscalationIn(BaseModel):
    conversation_id: str = Field(..., min_length=1, max_length=128)
    channel: str = Field("rest", max_length=32)
    reason: str = Field("request_human", description=" | ".join(REASONS))
    card: dict[str, Any] = Field(default_factory=dict)
    open_kfid: Optional[str] = Field(None, max_length=64)


class EscalationOut(BaseModel):
    handoff_id: int
    status: str
    pause: bool
    message: str
    delivered: bool = False
    agent: Optional[str] = None
    position: Optional[int] = None


@router.post("/api/handoff/escalations", response_model=EscalationOut)
def escalate(body: EscalationIn, service: ServiceDep) -> EscalationOut:
    if len(str(body.card)) > 50_000:
        raise HTTPException(status_code=413, detail="card too large")
    result = service.escalate(conversation_id=body.conversation_id, channel=body.channel, reason=body.reason,
                              card=body.card, open_kfid=body.open_kfid)
    return EscalationOut(**result.as_dict())


@router.get("/api/handoff/conversations/{conversation_id}")
def conversation_status(conversation_id: str, service: ServiceDep) -> dict[str, Any]:
    row = service.store.open_for(conversation_id)
    if row is None:
        return {"open": False}
    return {"open": True, "handoff_id": row.id, "status": row.status}


@router.get("/api/handoff/conversations/{conversation_id}/outbox")
def outbox(conversation_id: str, service: ServiceDep, after: int = Query(0, ge=0, le=MAX_ID)) -> dict[str, Any]:
    rows = service.store.outbox(conversation_id, after)
    return {"messages": [{"id": r.id, "role": r.role, "text": r.text, "author": r.author,
                          "handoff_id": r.handoff_id, "at": r.created_at} for r in rows]}


# ---- WeCom agent app callback ---------------------------------------------------------------
def _agent_crypto() -> Optional[MessageCrypto]:
    settings = load_settings()
    token, key = settings.wecom_agent_token, settings.wecom_agent_encoding_aes_key
    corp = settings.wecom_corp_id
    if not (token and key and corp):
        return None
    return MessageCrypto(token, key, corp)


@router.get("/webhooks/wecom_agent", include_in_schema=False)
def wecom_agent_verify(request: Request) -> PlainTextResponse:
    crypto = _agent_crypto()
    if crypto is None:
        return PlainTextResponse("wecom agent callback not configured", status_code=503)
    q = request.query_params
    echostr = (q.get("echostr") or "").replace(" ", "+")
    try:
        verify_msg_signature(crypto.token, q.get("msg_signature"), q.get("timestamp"), q.get("nonce"), echostr)
        return PlainTextResponse(crypto.decrypt(echostr))
    except (Rejected, CryptoError) as exc:
        log.warning("wecom agent verify rejected", extra={"event": "handoff.wecom_rejected", "reason": str(exc)})
        return PlainTextResponse("forbidden", status_code=403)


@router.post("/webhooks/wecom_agent", include_in_schema=False)
async def wecom_agent_message(request: Request) -> PlainTextResponse:
    import asyncio

    crypto = _agent_crypto()
    if crypto is None:
        return PlainTextResponse("wecom agent callback not configured", status_code=503)
    q = request.query_params
    body = await request.body()
    try:
        check_body_size(body, request.headers.get("content-length"))
        encrypted = parse_xml(body).get("Encrypt", "")
        verify_msg_signature(crypto.token, q.get("msg_signature"), q.get("timestamp"), q.get("nonce"), encrypted)
        fields = parse_xml(crypto.decrypt(encrypted).encode("utf-8"))
    except Rejected as exc:
        return PlainTextResponse("bad request" if exc.status == 400 else "forbidden", status_code=exc.status)
    except CryptoError:
        return PlainTextResponse("forbidden", status_code=403)
    service = get_service(request)
    answer = await asyncio.to_thread(_handle_agent_message, service, fields)
    if not answer:
        return PlainTextResponse("")
    reply = render_text_reply(to_user=fields.get("FromUserName", ""), from_user=fields.get("ToUserName", ""),
                              content=answer)
    return PlainTextResponse(crypto.encrypt_reply(reply, nonce=q.get("nonce", "")),
                             media_type="application/xml")


def _handle_agent_message(service: HandoffService, fields: dict[str, str]) -> str:
    if fields.get("MsgType") != "text":
        return "" if fields.get("MsgType") == "event" else "目前只支持文字消息。"
    agent = service.directory.by_wecom(fields.get("FromUserName", ""))
    if agent is None or agent.role == "viewer":
        log.warning("WeCom message from an unknown member", extra={"event": "handoff.wecom_unknown_agent",
                                                                  "user": pseudonym(fields.get("FromUserName", ""))})
        return "您的企业微信账号未绑定客服工作台账号，请联系管理员。"
    msg_id = fields.get("MsgId") or f"{fields.get('FromUserName')}:{fields.get('CreateTime')}"
    kv = getattr(service.notifier, "store", None)
    if kv is not None and not kv.add(f"handoff:wecom_agent:{msg_id}", "1", DEDUPE_TTL_S):
        return ""      # WeCom retried a message we already handled
    return execute(service, agent, fields.get("Content", ""))
