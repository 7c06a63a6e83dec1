"""A fake WeChat / WeCom API server on 127.0.0.1 (random port) that speaks the real protocol.

Official Account: ``cgi-bin/token``, ``cgi-bin/stable_token``, ``message/custom/send`` (48-hour
window 45015, quota 45047, content limit 45002, token errors 40001/42001; text and ``msgmenu`` menu
messages, 40200 for a menu when the account is not a verified service account: ``verified=False``),
``message/custom/typing``.
WeCom: ``gettoken``, ``kf/sync_msg`` (cursor, has_more, msg token; a tapped menu option is a text with
``menu_id``: :meth:`customer_taps`), ``kf/send_msg`` (service_state 0/1 only; text and ``msgmenu``),
``kf/service_state/get|trans``, ``kf/send_msg_on_event``, ``message/send`` (app messages).
Any errcode can be injected for the next calls of a path with :meth:`FakeWeChatPlatform.fail_next`,
an HTTP gateway error with :meth:`FakeWeChatPlatform.fail_http_next`.
"""
from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Deque, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

WINDOW_S = 48 * 3600
TOKEN_TTL_S = 7200
KF_HISTORY_S = 3 * 24 * 3600
CONTENT_LIMIT_BYTES = 2048
MENU_NOT_VERIFIED = 40200          # menu messages: verified service accounts only
KF_MENU_MAX_ITEMS = 10


@dataclass
class _Token:
    owner: str            # appid, or corpid/app-kind for WeCom
    kind: str             # oa | wecom-kf | wecom-agent
    expires_at: float


@dataclass
class KfMessage:
    msgid: str
    open_kfid: str
    external_userid: str
    send_time: int
    origin: int
    msgtype: str
    body: Dict[str, Any]
    servicer_userid: str = ""

    def to_json(self) -> Dict[str, Any]:
        data: Dict[str, Any] = {"msgid": self.msgid, "open_kfid": self.open_kfid,
                                "external_userid": self.external_userid, "send_time": self.send_time,
                                "origin": self.origin, "msgtype": self.msgtype, self.msgtype: self.body}
        if self.servicer_userid:
            data["servicer_userid"] = self.servicer_userid
        return data


@dataclass
class _KfSession:
    state: int = 0
    servicer_userid: str = ""
    last_customer_msg: float = 0.0
    sent_since_customer: int = 0


@dataclass
class FakeWeChatPlatform:
    """State and behaviour of the fake servers; ``start()`` serves them over HTTP."""

    token_grace_s: float = 300.0
    custom_quota: int = 20
    kf_quota: int = 5
    enforce_window: bool = True
    verified: bool = True                                                # a verified service account (menus allowed)
    apps: Dict[str, str] = field(default_factory=dict)                   # appid -> secret
    corps: Dict[str, Dict[str, str]] = field(default_factory=dict)       # corpid -> {secret: kind}
    agent_ids: Dict[str, int] = field(default_factory=dict)              # agent secret -> agentid

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        self.tokens: Dict[str, _Token] = {}
        self.stable: Dict[str, str] = {}                  # appid -> current stable token
        self.calls: List[Tuple[str, Dict[str, Any]]] = []
        self.failures: Dict[str, Deque[int]] = defaultdict(deque)
        self.http_failures: Dict[str, Deque[int]] = defaultdict(deque)
        self.delays: Dict[str, float] = {}
        self.custom_messages: List[Dict[str, Any]] = []
        self.typing_events: List[Dict[str, Any]] = []
        self.last_interaction: Dict[str, float] = {}
        self.sent_since_interaction: Dict[str, int] = defaultdict(int)
        self.kf_log: List[KfMessage] = []
        self.kf_msg_tokens: Dict[str, float] = {}
        self.kf_sessions: Dict[Tuple[str, str], _KfSession] = defaultdict(_KfSession)
        self.kf_sent: List[Dict[str, Any]] = []
        self.kf_welcome_codes: Dict[str, float] = {}
        self.kf_transitions: List[Dict[str, Any]] = []
        self.agent_messages: List[Dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self.changed = threading.Condition(self.lock)

    # ---- lifecycle -----------------------------------------------------------------------
    def start(self) -> "FakeWeChatPlatform":
        platform = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                return

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def _serve(self, method: str) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, data = platform.dispatch(method, parts.path, query, raw)
                body = json.dumps(data, ensure_ascii=False).encode("utf-8")
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass    # the client gave up waiting (a read timeout): what it asked for was done

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """Value for WECHAT_API_BASE_URL / WECOM_API_BASE_URL."""
        return f"http://127.0.0.1:{self.port}/cgi-bin/"

    # ---- test controls ---------------------------------------------------------------------
    def add_app(self, appid: str, secret: str) -> None:
        self.apps[appid] = secret

    def add_corp(self, corpid: str, kf_secret: str = "", agent_secret: str = "", agent_id: int = 0) -> None:
        secrets_ = self.corps.setdefault(corpid, {})
        if kf_secret:
            secrets_[kf_secret] = "wecom-kf"
        if agent_secret:
            secrets_[agent_secret] = "wecom-agent"
            self.agent_ids[agent_secret] = agent_id

    def fail_next(self, path: str, errcode: int, times: int = 1) -> None:
        """The next ``times`` calls of ``path`` (e.g. "message/custom/send") answer ``errcode``."""
        with self.lock:
            self.failures[path].extend([errcode] * times)

    def fail_http_next(self, path: str, status: int, times: int = 1) -> None:
        """The next ``times`` calls of ``path`` get HTTP ``status`` (a gateway error) and no JSON body."""
        with self.lock:
            self.http_failures[path].extend([status] * times)

    def delay(self, path: str, seconds: float) -> None:
        self.delays[path] = seconds

    def expire_tokens(self) -> None:
        """Every issued access_token expires now (next use: 42001)."""
        with self.lock:
            for tok in self.tokens.values():
                tok.expires_at = min(tok.expires_at, time.time() - 1)

    def revoke_tokens(self) -> None:
        """Every issued access_token becomes unknown (next use: 40001)."""
        with self.lock:
            self.tokens.clear()
            self.stable.clear()

    def user_interacted(self, openid: str, at: Optional[float] = None) -> None:
        """A user message opens the 48-hour customer-service window (WeChat does this itself)."""
        with self.lock:
            self.last_interaction[openid] = time.time() if at is None else at
            self.sent_since_interaction[openid] = 0

    def count(self, path: str) -> int:
        with self.lock:
            return sum(1 for p, _ in self.calls if p == path)

    def messages_to(self, openid: str) -> List[str]:
        with self.lock:
            return [m["text"]["content"] for m in self.custom_messages
                    if m.get("touser") == openid and m.get("msgtype") == "text"]

    def menus_to(self, openid: str) -> List[Dict[str, Any]]:
        """The ``msgmenu`` objects of the menu messages sent to ``openid``, in order."""
        with self.lock:
            return [m["msgmenu"] for m in self.custom_messages
                    if m.get("touser") == openid and m.get("msgtype") == "msgmenu"]

    def sent_to(self, openid: str) -> List[Tuple[str, Any]]:
        """Every customer-service message to ``openid`` in order: ("text", content) or ("msgmenu", body)."""
        with self.lock:
            return [(m["msgtype"], m["text"]["content"] if m["msgtype"] == "text" else m[m["msgtype"]])
                    for m in self.custom_messages if m.get("touser") == openid]

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> bool:
        """Block until ``predicate(self)`` is true (re-checked whenever the fake records a call)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(min(left, 0.2))
        return True

    # WeCom kf: the customer side
    def customer_sends(self, open_kfid: str, external_userid: str, text: str = "",
                       msgtype: str = "text", body: Optional[Dict[str, Any]] = None,
                       send_time: Optional[int] = None) -> str:
        """A WeChat user writes to the kf account; returns the callback Token to push."""
        with self.lock:
            session = self.kf_sessions[(open_kfid, external_userid)]
            if session.state == 4:
                session.state, session.servicer_userid = 0, ""
            session.last_customer_msg = time.time()
            session.sent_since_customer = 0
            msg_body = body if body is not None else {"content": text}
            self.kf_log.append(KfMessage(f"msg{next(self._ids)}", open_kfid, external_userid,
                                         send_time or int(time.time()), 3, msgtype, msg_body))
            return self._msg_token()

    def customer_enters(self, open_kfid: str, external_userid: str) -> Tuple[str, str]:
        """enter_session event (origin 4); returns (callback token, welcome_code)."""
        with self.lock:
            code = secrets.token_hex(8)
            self.kf_welcome_codes[code] = time.time() + 20
            self.kf_log.append(KfMessage(f"evt{next(self._ids)}", open_kfid, external_userid,
                                         int(time.time()), 4, "event",
                                         {"event_type": "enter_session", "open_kfid": open_kfid,
                                          "external_userid": external_userid, "scene": "menu",
                                          "welcome_code": code}))
            return self._msg_token(), code

    def customer_taps(self, open_kfid: str, external_userid: str, menu_id: str, content: str) -> str:
        """The customer taps a menu option: WeCom logs a text message carrying its ``menu_id``."""
        return self.customer_sends(open_kfid, external_userid, msgtype="text",
                                   body={"content": content, "menu_id": menu_id})

    def servicer_sends(self, open_kfid: str, external_userid: str, servicer: str, text: str) -> str:
        with self.lock:
            self.kf_log.append(KfMessage(f"msg{next(self._ids)}", open_kfid, external_userid,
                                         int(time.time()), 5, "text", {"content": text}, servicer))
            return self._msg_token()

    def set_kf_state(self, open_kfid: str, external_userid: str, state: int, servicer: str = "") -> None:
        with self.lock:
            session = self.kf_sessions[(open_kfid, external_userid)]
            session.state, session.servicer_userid = state, servicer

    def kf_texts_to(self, external_userid: str) -> List[str]:
        with self.lock:
            return [m["text"]["content"] for m in self.kf_sent
                    if m.get("touser") == external_userid and m.get("msgtype") == "text"]

    def kf_menus_to(self, external_userid: str) -> List[Dict[str, Any]]:
        with self.lock:
            return [m["msgmenu"] for m in self.kf_sent
                    if m.get("touser") == external_userid and m.get("msgtype") == "msgmenu"]

    def _msg_token(self) -> str:
        token = "ENC" + secrets.token_hex(16)
        self.kf_msg_tokens[token] = time.time() + 600
        return token

    # ---- protocol --------------------------------------------------------------------------
    def dispatch(self, method: str, path: str, query: Dict[str, str], raw: bytes) -> Tuple[int, Dict[str, Any]]:
        if not path.startswith("/cgi-bin/"):
            return 404, {"errcode": 404, "errmsg": "not found"}
        name = path[len("/cgi-bin/"):]
        delay = self.delays.get(name)
        if delay:
            time.sleep(delay)
        try:
            payload = json.loads(raw.decode("utf-8")) if raw else {}
        except (UnicodeDecodeError, json.JSONDecodeError):
            return 200, {"errcode": 47001, "errmsg": "data format error"}
        with self.changed:
            self.calls.append((name, payload))
            if self.http_failures[name]:
                self.changed.notify_all()
                return self.http_failures[name].popleft(), {"gateway": "upstream unavailable"}
            try:
                result = self._route(method, name, query, payload)
            finally:
                self.changed.notify_all()
        return 200, result

    def _route(self, method: str, name: str, query: Dict[str, str], payload: Dict[str, Any]) -> Dict[str, Any]:
        if name in ("token", "stable_token", "gettoken") and self.failures[name]:
            code = self.failures[name].popleft()
            return {"errcode": code, "errmsg": f"injected error {code}"}
        if name == "token" and method == "GET":
            return self._oa_token(query)
        if name == "stable_token" and method == "POST":
            return self._stable_token(payload)
        if name == "gettoken" and method == "GET":
            return self._wecom_token(query)
        handlers = {
            "message/custom/send": ("oa", self._custom_send),
            "message/custom/typing": ("oa", self._custom_typing),
            "kf/sync_msg": ("wecom-kf", self._kf_sync),
            "kf/send_msg": ("wecom-kf", self._kf_send),
            "kf/send_msg_on_event": ("wecom-kf", self._kf_send_on_event),
            "kf/service_state/get": ("wecom-kf", self._kf_state_get),
            "kf/service_state/trans": ("wecom-kf", self._kf_state_trans),
            "message/send": ("wecom-agent", self._agent_send),
        }
        if name not in handlers or method != "POST":
            return {"errcode": 48001, "errmsg": "api unauthorized"}
        kind, handler = handlers[name]
        token = self.tokens.get(query.get("access_token", ""))
        if token is None or token.kind != kind:
            return {"errcode": 40001 if kind == "oa" else 40014, "errmsg": "invalid access_token"}
        if token.expires_at <= time.time():
            return {"errcode": 42001, "errmsg": "access_token expired"}
        if self.failures[name]:
            code = self.failures[name].popleft()
            return {"errcode": code, "errmsg": f"injected error {code}"}
        return handler(token, payload)

    def _issue(self, owner: str, kind: str) -> str:
        token = secrets.token_urlsafe(24)
        self.tokens[token] = _Token(owner, kind, time.time() + TOKEN_TTL_S)
        return token

    def _retire(self, token: Optional[str]) -> None:
        if token and token in self.tokens:
            self.tokens[token].expires_at = min(self.tokens[token].expires_at, time.time() + self.token_grace_s)

    def _oa_token(self, query: Dict[str, str]) -> Dict[str, Any]:
        appid, secret = query.get("appid", ""), query.get("secret", "")
        if query.get("grant_type") != "client_credential":
            return {"errcode": 40002, "errmsg": "invalid grant_type"}
        if appid not in self.apps:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        if self.apps[appid] != secret:
            return {"errcode": 40125, "errmsg": "invalid appsecret"}
        # every fetch retires the previous token of the app (the thrash that stable_token avoids)
        for tok, info in list(self.tokens.items()):
            if info.owner == appid and info.kind == "oa":
                self._retire(tok)
        return {"access_token": self._issue(appid, "oa"), "expires_in": TOKEN_TTL_S}

    def _stable_token(self, payload: Dict[str, Any]) -> Dict[str, Any]:
        appid, secret = payload.get("appid", ""), payload.get("secret", "")
        if payload.get("grant_type") != "client_credential":
            return {"errcode": 40002, "errmsg": "invalid grant_type"}
        if appid not in self.apps:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        if self.apps[appid] != secret:
            return {"errcode": 40125, "errmsg": "invalid appsecret"}
        current = self.stable.get(appid)
        info = self.tokens.get(current or "")
        if info and info.expires_at > time.time() and not payload.get("force_refresh"):
            return {"access_token": current, "expires_in": int(info.expires_at - time.time())}
        self._retire(current)
        token = self._issue(appid, "oa")
        self.stable[appid] = token
        return {"access_token": token, "expires_in": TOKEN_TTL_S}

    def _wecom_token(self, query: Dict[str, str]) -> Dict[str, Any]:
        corpid, secret = query.get("corpid", ""), query.get("corpsecret", "")
        if corpid not in self.corps:
            return {"errcode": 40013, "errmsg": "invalid corpid"}
        kind = self.corps[corpid].get(secret)
        if kind is None:
            return {"errcode": 40001, "errmsg": "invalid credential"}
        owner = f"{corpid}/{secret}"
        return {"errcode": 0, "errmsg": "ok", "access_token": self._issue(owner, kind), "expires_in": TOKEN_TTL_S}

    # Official Account
    def _custom_send(self, token: _Token, payload: Dict[str, Any]) -> Dict[str, Any]:
        openid = payload.get("touser", "")
        if not openid or payload.get("msgtype") not in ("text", "image", "news", "miniprogrampage", "msgmenu"):
            return {"errcode": 40003 if not openid else 40008, "errmsg": "invalid openid or msgtype"}
        if payload["msgtype"] == "text":
            content = (payload.get("text") or {}).get("content", "")
            if not content:
                return {"errcode": 44003, "errmsg": "empty content"}
            if len(content.encode("utf-8")) > CONTENT_LIMIT_BYTES:
                return {"errcode": 45002, "errmsg": "content size out of limit"}
        if payload["msgtype"] == "msgmenu":
            if not self.verified:
                return {"errcode": MENU_NOT_VERIFIED, "errmsg": "require verified service account"}
            problem = _oa_menu_problem(payload.get("msgmenu"))
            if problem:
                return {"errcode": 47001, "errmsg": f"data format error: {problem}"}
        if self.enforce_window:
            last = self.last_interaction.get(openid)
            if last is None or time.time() - last > WINDOW_S:
                return {"errcode": 45015, "errmsg": "response out of time limit or subscription is canceled"}
            if self.sent_since_interaction[openid] >= self.custom_quota:
                return {"errcode": 45047, "errmsg": "out of response count limit"}
        self.sent_since_interaction[openid] += 1
        self.custom_messages.append(dict(payload, _at=time.time()))
        return {"errcode": 0, "errmsg": "ok"}

    def _custom_typing(self, token: _Token, payload: Dict[str, Any]) -> Dict[str, Any]:
        if payload.get("command") not in ("Typing", "CancelTyping") or not payload.get("touser"):
            return {"errcode": 47001, "errmsg": "invalid command"}
        self.typing_events.append(dict(payload, _at=time.time()))
        return {"errcode": 0, "errmsg": "ok"}

    # WeCom customer service
    def _kf_sync(self, token: _Token, payload: Dict[str, Any]) -> Dict[str, Any]:
        msg_token = payload.get("token", "")
        if msg_token and self.kf_msg_tokens.get(msg_token, 0) < time.time():
            return {"errcode": 95007, "errmsg": "invalid msg token"}
        limit = int(payload.get("limit") or 1000)
        if not 1 <= limit <= 1000:
            return {"errcode": 44004, "errmsg": "invalid limit"}
        cursor = payload.get("cursor") or ""
        start = 0
        if cursor:
            if not cursor.startswith("CUR") or not cursor[3:].isdigit():
                return {"errcode": 95000, "errmsg": "invalid cursor"}
            start = int(cursor[3:])
        open_kfid = payload.get("open_kfid", "")
        oldest = time.time() - KF_HISTORY_S
        batch: List[KfMessage] = []
        index = start
        while index < len(self.kf_log) and len(batch) < limit:
            msg = self.kf_log[index]
            index += 1
            if (not open_kfid or msg.open_kfid == open_kfid) and msg.send_time >= oldest:
                batch.append(msg)
        return {"errcode": 0, "errmsg": "ok", "next_cursor": f"CUR{index}",
                "has_more": 1 if index < len(self.kf_log) else 0,
                "msg_list": [m.to_json() for m in batch]}

    def _kf_send(self, token: _Token, payload: Dict[str, Any]) -> Dict[str, Any]:
        user, kfid = payload.get("touser", ""), payload.get("open_kfid", "")
        if not user or not kfid:
            return {"errcode": 40058, "errmsg": "missing touser/open_kfid"}
        session = self.kf_sessions[(kfid, user)]
        if session.state not in (0, 1):
            return {"errcode": 95018, "errmsg": "send msg not allowed in current service state"}
        if time.time() - session.last_customer_msg > WINDOW_S:
            return {"errcode": 95001, "errmsg": "send msg count limit (48h)"}
        if session.sent_since_customer >= self.kf_quota:
            return {"errcode": 95001, "errmsg": "send msg count limit"}
        if payload.get("msgtype") == "text":
            content = (payload.get("text") or {}).get("content", "")
            if not content or len(content.encode("utf-8")) > CONTENT_LIMIT_BYTES:
                return {"errcode": 45002, "errmsg": "content size out of limit"}
        elif payload.get("msgtype") == "msgmenu":
            problem = _kf_menu_problem(payload.get("msgmenu"))
            if problem:
                return {"errcode": 40058, "errmsg": f"invalid msgmenu: {problem}"}
        elif payload.get("msgtype") not in ("image", "voice", "video", "file", "link", "miniprogram", "location"):
            return {"errcode": 40008, "errmsg": "invalid message type"}
        session.sent_since_customer += 1
        msgid = payload.get("msgid") or f"sent{next(self._ids)}"
        self.kf_sent.append(dict(payload, _at=time.time()))
        return {"errcode": 0, "errmsg": "ok", "msgid": msgid}

    def _kf_send_on_event(self, token: _Token, payload: Dict[str, Any]) -> Dict[str, Any]:
        code = payload.get("code", "")
        if self.kf_welcome_codes.pop(code, 0) < time.time():
            return {"errcode": 95016, "errmsg": "invalid or expired code"}
        self.kf_sent.append(dict(payload, _at=time.time(), _on_event=True))
        return {"errcode": 0, "errmsg": "ok", "msgid": f"sent{next(self._ids)}"}

    def _kf_state_get(self, token: _Token, payload: Dict[str, Any]) -> Dict[str, Any]:
        session = self.kf_sessions[(payload.get("open_kfid", ""), payload.get("external_userid", ""))]
        data: Dict[str, Any] = {"errcode": 0, "errmsg": "ok", "service_state": session.state}
        if session.servicer_userid:
            data["servicer_userid"] = session.servicer_userid
        return data

    def _kf_state_trans(self, token: _Token, payload: Dict[str, Any]) -> Dict[str, Any]:
        key = (payload.get("open_kfid", ""), payload.get("external_userid", ""))
        new = payload.get("service_state")
        if new not in (1, 2, 3, 4):
            return {"errcode": 95014, "errmsg": "invalid service_state"}
        if new == 3 and not payload.get("servicer_userid"):
            return {"errcode": 95014, "errmsg": "servicer_userid required"}
        session = self.kf_sessions[key]
        session.state, session.servicer_userid = new, payload.get("servicer_userid", "") if new == 3 else ""
        self.kf_transitions.append(dict(payload))
        return {"errcode": 0, "errmsg": "ok", "msg_code": ""}

    # WeCom app messages to employees
    def _agent_send(self, token: _Token, payload: Dict[str, Any]) -> Dict[str, Any]:
        secret = token.owner.split("/", 1)[1]
        if int(payload.get("agentid") or 0) != self.agent_ids.get(secret):
            return {"errcode": 40056, "errmsg": "invalid agentid"}
        if not (payload.get("touser") or payload.get("toparty") or payload.get("totag")):
            return {"errcode": 40031, "errmsg": "invalid user list"}
        msgtype = payload.get("msgtype")
        if msgtype not in ("text", "textcard", "markdown") or not isinstance(payload.get(msgtype), dict):
            return {"errcode": 40008, "errmsg": "invalid message type"}
        self.agent_messages.append(dict(payload, _at=time.time()))
        return {"errcode": 0, "errmsg": "ok", "invaliduser": "", "msgid": f"agent{next(self._ids)}"}


def _oa_menu_problem(menu: Any) -> str:
    """What is wrong with an Official Account ``msgmenu`` ("" = fine): {head_content, list[{id, content}], tail_content}."""
    if not isinstance(menu, dict):
        return "msgmenu is not an object"
    items = menu.get("list")
    if not isinstance(items, list) or not items:
        return "list missing or empty"
    for item in items:
        if not isinstance(item, dict) or set(item) != {"id", "content"}:
            return "list items are {id, content}"
        if not isinstance(item["id"], str) or not item["id"] or not isinstance(item["content"], str) or not item["content"]:
            return "empty id or content"
    for edge in ("head_content", "tail_content"):
        if not isinstance(menu.get(edge, ""), str):
            return f"{edge} is not a string"
    return ""


def _kf_menu_problem(menu: Any) -> str:
    """The same for 微信客服's ``msgmenu``: typed items (click/view/miniprogram/text), at most 10."""
    if not isinstance(menu, dict):
        return "msgmenu is not an object"
    items = menu.get("list")
    if not isinstance(items, list) or not items or len(items) > KF_MENU_MAX_ITEMS:
        return "list must hold 1-10 items"
    required = {"click": ("id", "content"), "view": ("url", "content"),
                "miniprogram": ("appid", "pagepath", "content"), "text": ("content",)}
    for item in items:
        kind = item.get("type") if isinstance(item, dict) else None
        body = item.get(kind) if kind in required else None
        if not isinstance(body, dict) or any(not isinstance(body.get(k), str) or not body.get(k)
                                             for k in required[kind]):
            return "list items are {type, <type>: {...}} with their fields"
    for edge in ("head_content", "tail_content"):
        if not isinstance(menu.get(edge, ""), str):
            return f"{edge} is not a string"
    return ""
