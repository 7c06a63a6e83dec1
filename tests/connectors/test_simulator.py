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
