"""A WeChat simulator: chat with the bot as a WeChat user, no WeChat account needed.

The page sends real signed (and, in safe mode, AES-encrypted) XML pushes to the Rasa ``wechat``
channel, exactly like WeChat's servers, and shows what a user would see: passive replies and
customer-service messages. For the latter this router also hosts a tiny stand-in for WeChat's
API under ``/simulator/cgi-bin/`` (stable_token, message/custom/send with text or msgmenu menu
messages, message/custom/typing). A menu message is shown as WeChat shows it (the options as blue
links under the head text); tapping one pushes a text message carrying ``<bizmsgmenuid>``, as WeChat does.

Demo mode only: the simulator is enabled when WECHAT_API_BASE_URL points at that stand-in, so a
production deployment (talking to api.weixin.qq.com) never exposes a way to push messages as
arbitrary users.
"""
from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict, deque
from pathlib import Path
from typing import Any, Deque, Dict, List, Optional

import httpx
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from common.settings import load_settings
from connectors.config import WeChatConfig
from connectors.crypto import CryptoError, MessageCrypto
from connectors.menus import parse_menu
from connectors.security import Rejected, sha1_signature, signature_matches
from connectors.wxxml import cdata, parse_xml
from web.deps import StateDep

router = APIRouter(prefix="/simulator", tags=["simulator"])

WEB_DIR = Path(__file__).resolve().parent.parent
ASSETS = {"simulator.js": "application/javascript", "simulator.css": "text/css"}
ACCOUNT = "gh_insurebot_demo"
STAND_IN_PATH = "/simulator/cgi-bin"
WECHAT_TIMEOUT_S = 5.0
MAX_USERS, MAX_MESSAGES = 500, 200


def simulator_config() -> WeChatConfig:
    """The channel's own settings (same environment variables the Rasa channel reads)."""
    return WeChatConfig.from_settings(load_settings())


def _disabled_reason(config: WeChatConfig) -> Optional[str]:
    if config.problems():
        return "WECHAT_TOKEN 等未配置：" + "；".join(config.problems())
    if STAND_IN_PATH not in config.api_base_url:
        return "仅演示模式可用：WECHAT_API_BASE_URL 需指向本服务的 /simulator/cgi-bin/"
    return None


class Conversations:
    """What each simulated user has seen, in memory (demo only; bounded)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users: "OrderedDict[str, Deque[Dict[str, Any]]]" = OrderedDict()
        self._seq = 0
        self.tokens: Dict[str, float] = {}

    def add(self, openid: str, sender: str, via: str, text: str,
            menu: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        with self._lock:
            self._seq += 1
            item = {"seq": self._seq, "from": sender, "via": via, "text": text, "at": time.time()}
            if menu is not None:
                item["menu"] = menu
            box = self._users.setdefault(openid, deque(maxlen=MAX_MESSAGES))
            self._users.move_to_end(openid)
            box.append(item)
            while len(self._users) > MAX_USERS:
                self._users.popitem(last=False)
            return item

    def since(self, openid: str, after: int) -> List[Dict[str, Any]]:
        with self._lock:
            return [m for m in self._users.get(openid, ()) if m["seq"] > after]


def _conversations(request: Request) -> Conversations:
    app_state = request.app.state
    if not hasattr(app_state, "wechat_simulator"):
        app_state.wechat_simulator = Conversations()
    return app_state.wechat_simulator


class SendRequest(BaseModel):
    openid: str = Field(pattern=r"^o[A-Za-z0-9_-]{5,40}$")
    type: str = Field(pattern=r"^(text|voice|location|image|link|event)$")
    content: str = Field(default="", max_length=2000)
    lat: float = 0.0
    lon: float = 0.0
    label: str = Field(default="", max_length=200)
    event: str = Field(default="", pattern=r"^(|subscribe|unsubscribe|CLICK|VIEW)$")
    key: str = Field(default="", max_length=64)
    menu_id: str = Field(default="", pattern=r"^[A-Za-z0-9._:-]{0,128}$")   # a tapped menu option (text)


def _fields(req: SendRequest) -> Dict[str, Any]:
    fields: Dict[str, Any] = {"ToUserName": ACCOUNT, "FromUserName": req.openid,
                              "CreateTime": int(time.time()), "MsgType": req.type}
    msg_id = secrets.randbits(62)
    if req.type == "text":
        fields.update(Content=req.content, MsgId=msg_id)
        if req.menu_id:
            fields["bizmsgmenuid"] = req.menu_id      # what WeChat adds when a menu option is tapped
    elif req.type == "voice":
        fields.update(MediaId="sim_" + secrets.token_hex(6), Format="amr", Recognition=req.content, MsgId=msg_id)
    elif req.type == "location":
        fields.update(Location_X=req.lat, Location_Y=req.lon, Scale=15, Label=req.label, MsgId=msg_id)
    elif req.type == "image":
        fields.update(PicUrl="https://example.invalid/photo.jpg", MediaId="sim_" + secrets.token_hex(6), MsgId=msg_id)
    elif req.type == "link":
        fields.update(Title=req.content or "链接", Description="", Url="https://example.invalid/", MsgId=msg_id)
    else:
        fields.update(Event=req.event or "subscribe")
        if req.key:
            fields["EventKey"] = req.key
    return fields


def _xml(fields: Dict[str, Any]) -> str:
    inner = "".join(f"<{k}>{v}</{k}>" if isinstance(v, (int, float)) else f"<{k}>{cdata(str(v))}</{k}>"
                    for k, v in fields.items())
    return f"<xml>{inner}</xml>"


def _shown_text(req: SendRequest) -> str:
    return {"text": req.content, "voice": f"🎤 {req.content or '（语音）'}",
            "location": f"📍 {req.label or '位置'}", "image": "🖼 [图片]", "link": f"🔗 {req.content or '链接'}",
            }.get(req.type) or {"subscribe": "（关注公众号）", "unsubscribe": "（取消关注）",
                                "CLICK": f"（点击菜单 {req.key}）", "VIEW": "（打开菜单链接）"}.get(req.event, "")


def _decode_reply(config: WeChatConfig, body: str) -> Optional[str]:
    """What WeChat would show for the webhook's answer (None for 'success'/empty)."""
    if body.strip() in ("", "success"):
        return None
    outer = parse_xml(body.encode("utf-8"))
    if "Encrypt" in outer:
        crypto = MessageCrypto(config.token, config.encoding_aes_key, config.app_id)
        expected = sha1_signature(config.token, outer.get("TimeStamp", ""), outer.get("Nonce", ""), outer["Encrypt"])
        if not signature_matches(expected, outer.get("MsgSignature")):
            raise Rejected(502, "reply MsgSignature does not verify")
        outer = parse_xml(crypto.decrypt(outer["Encrypt"]).encode("utf-8"))
    return outer.get("Content")


async def push_to_channel(config: WeChatConfig, rasa_url: str, fields: Dict[str, Any]) -> Dict[str, Any]:
    """Play WeChat: sign, encrypt in safe mode, POST, retry twice on a timeout, decode the reply."""
    xml = _xml(fields)
    url = rasa_url.rstrip("/") + "/webhooks/wechat/webhook"
    started = time.monotonic()
    status: Optional[int] = None
    body = ""
    async with httpx.AsyncClient(timeout=WECHAT_TIMEOUT_S) as client:
        for _ in range(3):
            ts, nonce = str(int(time.time())), str(secrets.randbelow(10**9))
            params = {"signature": sha1_signature(config.token, ts, nonce), "timestamp": ts, "nonce": nonce,
                      "openid": str(fields["FromUserName"])}
            payload = xml
            if config.encrypted:
                encrypted = MessageCrypto(config.token, config.encoding_aes_key, config.app_id).encrypt(xml)
                params.update(encrypt_type="aes", msg_signature=sha1_signature(config.token, ts, nonce, encrypted))
                payload = f"<xml><ToUserName>{cdata(ACCOUNT)}</ToUserName><Encrypt>{cdata(encrypted)}</Encrypt></xml>"
            try:
                resp = await client.post(url, params=params, content=payload.encode("utf-8"))
            except httpx.TimeoutException:
                continue
            except httpx.HTTPError:
                break
            status, body = resp.status_code, resp.text
            break
    elapsed = round((time.monotonic() - started) * 1000)
    passive = None
    if status == 200:
        try:
            passive = _decode_reply(config, body)
        except (Rejected, CryptoError):
            status = 502
    return {"status": status, "passive": passive, "elapsed_ms": elapsed}


# ---- page ----------------------------------------------------------------------------------
@router.get("", response_class=HTMLResponse, include_in_schema=False)
@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def page() -> HTMLResponse:
    return HTMLResponse((WEB_DIR / "templates" / "simulator.html").read_text(encoding="utf-8"))


@router.get("/assets/{name}", include_in_schema=False)
def asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise HTTPException(404)
    return FileResponse(WEB_DIR / "static" / name, media_type=ASSETS[name])


@router.get("/api/config")
def config_info() -> Dict[str, Any]:
    config = simulator_config()
    reason = _disabled_reason(config)
    return {"enabled": reason is None, "reason": reason, "account": "保险小助手",
            "mode": "safe" if config.encrypted else "plain"}


@router.post("/api/send")
async def send(req: SendRequest, request: Request, state: StateDep) -> Dict[str, Any]:
    config = simulator_config()
    if _disabled_reason(config):
        raise HTTPException(404, "simulator disabled")
    convo = _conversations(request)
    shown = _shown_text(req)
    if shown:
        convo.add(req.openid, "user", "user", shown)
    result = await push_to_channel(config, state.settings.rasa_url, _fields(req))
    if result["passive"]:
        convo.add(req.openid, "bot", "passive", result["passive"])
    elif result["status"] != 200:
        what = f"HTTP {result['status']}" if result["status"] else "无响应"
        convo.add(req.openid, "system", "error", f"（公众号{what}：该公众号暂时无法提供服务，请稍后再试）")
    return result


@router.get("/api/messages")
def messages(request: Request, openid: str = Query(pattern=r"^o[A-Za-z0-9_-]{5,40}$"),
             after: int = 0) -> Dict[str, Any]:
    return {"messages": _conversations(request).since(openid, after)}


# ---- stand-in for WeChat's customer-service API ----------------------------------------------
def _api_error(errcode: int, errmsg: str) -> JSONResponse:
    return JSONResponse({"errcode": errcode, "errmsg": errmsg})


def _stand_in_enabled() -> None:
    if _disabled_reason(simulator_config()):
        raise HTTPException(404)


@router.post("/cgi-bin/stable_token", include_in_schema=False)
async def stable_token(request: Request) -> JSONResponse:
    _stand_in_enabled()
    config = simulator_config()
    data = await request.json()
    if data.get("appid") != config.app_id or not secrets.compare_digest(str(data.get("secret", "")),
                                                                        config.app_secret or "\0"):
        return _api_error(40125, "invalid appid or appsecret")
    convo = _conversations(request)
    token = secrets.token_urlsafe(24)
    convo.tokens[token] = time.time() + 7200
    return JSONResponse({"access_token": token, "expires_in": 7200})


def _check_token(request: Request) -> Optional[JSONResponse]:
    _stand_in_enabled()
    expires = _conversations(request).tokens.get(request.query_params.get("access_token", ""), 0)
    if expires < time.time():
        return _api_error(40001, "invalid credential, access_token is invalid or not latest")
    return None


@router.post("/cgi-bin/message/custom/send", include_in_schema=False)
async def custom_send(request: Request) -> JSONResponse:
    problem = _check_token(request)
    if problem:
        return problem
    data = await request.json()
    if data.get("msgtype") == "msgmenu" and data.get("touser"):
        return _menu_message(request, data)
    openid, content = data.get("touser", ""), (data.get("text") or {}).get("content", "")
    if data.get("msgtype") != "text" or not openid or not content:
        return _api_error(40008, "invalid message type")
    if len(content.encode("utf-8")) > 2048:
        return _api_error(45002, "content size out of limit")
    _conversations(request).add(openid, "bot", "custom", content)
    return JSONResponse({"errcode": 0, "errmsg": "ok"})


def _menu_message(request: Request, data: Dict[str, Any]) -> JSONResponse:
    """msgmenu: {head_content, list: [{id, content}], tail_content}, shown with tappable options."""
    body = data.get("msgmenu")
    items = body.get("list") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items or not all(
            isinstance(i, dict) and isinstance(i.get("id"), str) and i["id"] and isinstance(i.get("content"), str)
            and i["content"] for i in items):
        return _api_error(47001, "data format error")
    menu = parse_menu(body)
    if menu is None or len(menu.items) != len(items):
        return _api_error(47001, "data format error")
    shown = {"head": menu.head, "items": [{"id": i, "content": c} for i, c in menu.items], "tail": menu.tail}
    _conversations(request).add(str(data["touser"]), "bot", "custom", menu.as_text(), menu=shown)
    return JSONResponse({"errcode": 0, "errmsg": "ok"})


@router.post("/cgi-bin/message/custom/typing", include_in_schema=False)
async def custom_typing(request: Request) -> JSONResponse:
    problem = _check_token(request)
    if problem:
        return problem
    data = await request.json()
    if data.get("command") == "Typing" and data.get("touser"):
        _conversations(request).add(data["touser"], "bot", "typing", "对方正在输入…")
    return JSONResponse({"errcode": 0, "errmsg": "ok"})
