"""The WeChat simulator's API in-process (enable rules, the customer-service stand-in)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from common.settings import load_settings
from web.routes import simulator


@pytest.fixture
def client(monkeypatch, tmp_path):
    for name, value in {"WECHAT_TOKEN": "t", "WECHAT_APP_ID": "wxsim", "WECHAT_APP_SECRET": "s3cret",
                        "WECHAT_ENCODING_AES_KEY": "",
                        "WECHAT_API_BASE_URL": "http://127.0.0.1:1/simulator/cgi-bin/"}.items():
        monkeypatch.setenv(name, value)
    app = FastAPI()
    app.state.app_state = SimpleNamespace(settings=load_settings({"INSUREBOT_VAR_DIR": str(tmp_path),
                                                                  "RASA_URL": "http://127.0.0.1:1"}))
    app.include_router(simulator.router)
    with TestClient(app) as c:
        yield c


def test_page_and_assets(client):
    assert "微信模拟器" in client.get("/simulator").text
    assert client.get("/simulator/assets/simulator.js").status_code == 200
    assert client.get("/simulator/assets/../main.py").status_code == 404
    assert client.get("/simulator/assets/secret.txt").status_code == 404


def test_enabled_only_in_demo_mode(client, monkeypatch):
    assert client.get("/simulator/api/config").json()["enabled"] is True
    monkeypatch.setenv("WECHAT_API_BASE_URL", "https://api.weixin.qq.com/cgi-bin/")
    info = client.get("/simulator/api/config").json()
    assert info["enabled"] is False and "演示模式" in info["reason"]
    assert client.post("/simulator/api/send", json={"openid": "oABCDEF1", "type": "text", "content": "x"}).status_code == 404
    assert client.post("/simulator/cgi-bin/stable_token", json={}).status_code == 404
    monkeypatch.setenv("WECHAT_TOKEN", "")
    assert "WECHAT_TOKEN" in client.get("/simulator/api/config").json()["reason"]


def test_customer_service_stand_in(client):
    bad = client.post("/simulator/cgi-bin/stable_token", json={"appid": "wxsim", "secret": "wrong"}).json()
    assert bad["errcode"] == 40125
    token = client.post("/simulator/cgi-bin/stable_token",
                        json={"grant_type": "client_credential", "appid": "wxsim", "secret": "s3cret"}).json()["access_token"]
    assert client.post("/simulator/cgi-bin/message/custom/send", params={"access_token": "nope"},
                       json={"touser": "oABCDEF1", "msgtype": "text", "text": {"content": "x"}}).json()["errcode"] == 40001
    ok = client.post("/simulator/cgi-bin/message/custom/send", params={"access_token": token},
                     json={"touser": "oABCDEF1", "msgtype": "text", "text": {"content": "您好"}}).json()
    assert ok["errcode"] == 0
    too_long = client.post("/simulator/cgi-bin/message/custom/send", params={"access_token": token},
                           json={"touser": "oABCDEF1", "msgtype": "text", "text": {"content": "长" * 700}}).json()
    assert too_long["errcode"] == 45002
    client.post("/simulator/cgi-bin/message/custom/typing", params={"access_token": token},
                json={"touser": "oABCDEF1", "command": "Typing"})
    shown = client.get("/simulator/api/messages", params={"openid": "oABCDEF1"}).json()["messages"]
    assert [(m["via"], m["text"]) for m in shown] == [("custom", "您好"), ("typing", "对方正在输入…")]
    assert client.get("/simulator/api/messages", params={"openid": "bad id"}).status_code == 422


def test_unreachable_channel_is_shown_as_wechat_would(client):
    resp = client.post("/simulator/api/send", json={"openid": "oABCDEF1", "type": "text", "content": "你好"}).json()
    assert resp["status"] is None and resp["passive"] is None
    shown = client.get("/simulator/api/messages", params={"openid": "oABCDEF1"}).json()["messages"]
    assert shown[0]["text"] == "你好" and "暂时无法提供服务" in shown[-1]["text"]


MSGMENU = {"head_content": "您是想问：",
           "list": [{"id": "faq.claim.process", "content": "怎么申请理赔？"},
                    {"id": "clause.medical_million.claims", "content": "《百万医疗险条款》第十条 保险金申请"}],
           "tail_content": "都不是的话，换个说法问我～"}


def _token(client):
    return client.post("/simulator/cgi-bin/stable_token",
                       json={"grant_type": "client_credential", "appid": "wxsim", "secret": "s3cret"}).json()["access_token"]


def test_stand_in_shows_menu_messages_with_their_options(client):
    token = _token(client)
    ok = client.post("/simulator/cgi-bin/message/custom/send", params={"access_token": token},
                     json={"touser": "oMENU01", "msgtype": "msgmenu", "msgmenu": MSGMENU}).json()
    assert ok == {"errcode": 0, "errmsg": "ok"}
    for broken in ({"head_content": "x", "list": []}, {"list": [{"id": "a"}]}, {"list": [{"id": "", "content": "x"}]},
                   "not an object"):
        bad = client.post("/simulator/cgi-bin/message/custom/send", params={"access_token": token},
                          json={"touser": "oMENU01", "msgtype": "msgmenu", "msgmenu": broken}).json()
        assert bad["errcode"] == 47001, broken
    assert client.post("/simulator/cgi-bin/message/custom/send", params={"access_token": "nope"},
                       json={"touser": "oMENU01", "msgtype": "msgmenu", "msgmenu": MSGMENU}).json()["errcode"] == 40001
    [shown] = client.get("/simulator/api/messages", params={"openid": "oMENU01"}).json()["messages"]
    assert shown["via"] == "custom" and shown["from"] == "bot"
    assert shown["menu"] == {"head": "您是想问：", "tail": "都不是的话，换个说法问我～",
                             "items": MSGMENU["list"]}
    assert "1. 怎么申请理赔？" in shown["text"]


def test_a_tap_is_pushed_as_a_text_with_bizmsgmenuid(client, monkeypatch):
    from connectors.messages import parse_inbound, plan_for
    from connectors.wxxml import parse_xml

    pushed = []

    async def fake_push(config, rasa_url, fields):
        pushed.append(fields)
        return {"status": 200, "passive": "好的", "elapsed_ms": 1}

    monkeypatch.setattr(simulator, "push_to_channel", fake_push)
    resp = client.post("/simulator/api/send", json={"openid": "oMENU02", "type": "text", "content": "怎么申请理赔？",
                                                    "menu_id": "faq.claim.process"})
    assert resp.status_code == 200
    msg = parse_inbound(parse_xml(simulator._xml(pushed[0]).encode("utf-8")))   # the XML the channel receives
    assert msg.msg_type == "text" and msg.content == "怎么申请理赔？" and msg.menu_id == "faq.claim.process"
    assert plan_for(msg).menu_id == "faq.claim.process" and msg.msg_id
    client.post("/simulator/api/send", json={"openid": "oMENU02", "type": "text", "content": "你好"})
    assert "bizmsgmenuid" not in pushed[1]
    bad = client.post("/simulator/api/send", json={"openid": "oMENU02", "type": "text", "content": "x",
                                                   "menu_id": "<script>"})
    assert bad.status_code == 422
    shown = client.get("/simulator/api/messages", params={"openid": "oMENU02"}).json()["messages"]
    assert [(m["from"], m["text"]) for m in shown][:2] == [("user", "怎么申请理赔？"), ("bot", "好的")]


# The page's script under node with a minimal DOM (no browser on this machine; the Playwright test
# covers the page in chromium where one is installed): a menu message renders its options as links
# (text only, never HTML), and tapping one posts a text carrying the option id.
NODE_HARNESS = r"""
const fs = require("fs");
class El {
  constructor(tag) { this.tagName = tag; this.children = []; this.dataset = {}; this.listeners = {};
                     this.className = ""; this._text = ""; this.style = {}; this.hidden = false;
                     this.classList = { add: (c) => { this.className = (this.className + " " + c).trim(); } }; }
  appendChild(c) { this.children.push(c); return c; }
  addEventListener(type, fn) { (this.listeners[type] = this.listeners[type] || []).push(fn); }
  set textContent(v) { this._text = String(v); this.children = []; }
  get textContent() { return this._text + this.children.map((c) => c.textContent).join(""); }
  set innerHTML(v) { throw new Error("innerHTML used"); }
  click() { (this.listeners.click || []).forEach((fn) => fn({ preventDefault() {}, target: this })); }
}
const ids = {};
const document = {
  getElementById: (id) => (ids[id] = ids[id] || new El("div")),
  createElement: (tag) => new El(tag),
  querySelectorAll: () => [],
};
const posts = [];
const MENU = JSON.parse(process.argv[3]);
let served = false;
async function fetch(url, opts) {
  if (opts && opts.method === "POST") { posts.push(JSON.parse(opts.body)); return { ok: true, json: async () => ({}) }; }
  if (url.startsWith("/simulator/api/config")) return { ok: true, json: async () => ({ enabled: true, mode: "safe" }) };
  const messages = served ? [] : [{ seq: 1, from: "bot", via: "custom", text: "fallback", menu: MENU }];
  served = true;
  return { ok: true, json: async () => ({ messages }) };
}
const localStorage = { getItem: () => "oNODE0001", setItem() {} };
const sandbox = { document, fetch, localStorage, setTimeout: (fn) => 0, clearTimeout() {}, setInterval() {},
                  console };
const code = fs.readFileSync(process.argv[2], "utf8");
new Function(...Object.keys(sandbox), code)(...Object.values(sandbox));
global.setTimeout(() => {
  const chat = ids["chat"];
  const bubble = chat.children[0].children[0];
  const links = bubble.children.filter((c) => c.className === "menu-item");
  links[1].click();
  global.setTimeout(() => {
    console.log(JSON.stringify({ bubbleClass: bubble.className,
      parts: bubble.children.map((c) => [c.tagName, c.className, c.textContent]),
      ids: links.map((l) => l.dataset.menuId), posts }));
  }, 50);
}, 50);
"""


def test_page_renders_menu_options_as_links_and_a_tap_sends_the_id(tmp_path):
    import json
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None:
        pytest.skip("node not installed")
    harness = tmp_path / "harness.js"
    harness.write_text(NODE_HARNESS, encoding="utf-8")
    menu = {"head": "您是想问：", "items": MSGMENU["list"] + [{"id": "faq.x", "content": "<b>不是HTML</b>"}],
            "tail": "都不是的话，换个说法问我～"}
    script = simulator.WEB_DIR / "static" / "simulator.js"
    done = subprocess.run([node, str(harness), str(script), json.dumps(menu, ensure_ascii=False)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert "menu-message" in out["bubbleClass"]
    assert out["parts"][:5] == [["div", "menu-head", "您是想问："],
                                ["a", "menu-item", "怎么申请理赔？"],
                                ["a", "menu-item", "《百万医疗险条款》第十条 保险金申请"],
                                ["a", "menu-item", "<b>不是HTML</b>"],
                                ["div", "menu-tail", "都不是的话，换个说法问我～"]]
    assert out["ids"] == ["faq.claim.process", "clause.medical_million.claims", "faq.x"]
    assert len(out["posts"]) == 1
    post = out["posts"][0]
    assert (post["type"], post["content"], post["menu_id"], post["openid"]) == (
        "text", "《百万医疗险条款》第十条 保险金申请", "clause.medical_million.claims", "oNODE0001")
