"""Hand-off end to end over the real stack (Rasa + actions + web), REST and WeChat channels.

escalate -> bot silent -> agent sees the user's messages -> agent replies -> end -> bot resumes ->
rating stored; plus queue + double claim, callback tickets, WeCom commands, restarts.
"""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from handoff.store import handoffs
from tests.fakes.wechat_pusher import WeChatPusher, WxAes, sign, to_xml

from .conftest import AGENT_TOKEN, APP_ID, CORP_ID, WECHAT_TOKEN, unique, wait_until

pytestmark = pytest.mark.timeout(600)


def texts(replies):
    return " ".join(r.get("text", "") for r in replies)


def outbox(hs, sender, after=0):
    return hs.http.get(f"{hs.web}/api/handoff/conversations/{sender}/outbox", params={"after": after}).json()["messages"]


def open_handoff(hs, sender):
    return hs.http.get(f"{hs.web}/api/handoff/conversations/{sender}").json()


def test_rest_handoff_full_cycle(hstack):
    hs = hstack
    hs.all_agents_offline()
    agent = hs.agent(unique("li"), "小李", wecom_userid=unique("lixiaoli"))
    wecom_id = agent.get("/agent/api/me")["user"]["wecom_userid"]
    user = unique("rest-user")
    hs.rest(user, "你好")
    hs.rest(user, "我叫王小明，手机13812345678，住院理赔进度怎么查")
    reply = texts(hs.rest(user, "转人工"))
    assert "已为您接通人工客服【小李】" in reply
    state = open_handoff(hs, user)
    assert state["open"] and state["status"] == "active"
    hid = state["handoff_id"]
    assert hs.tracker(user)["paused"] is True

    # the agent is notified in WeCom with the context card (masked)
    cards = wait_until(lambda: [m for m in hs.platform.agent_messages if m.get("touser") == wecom_id],
                       message="WeCom notification")
    assert cards[0]["msgtype"] == "textcard" and f"#{hid}" in cards[0]["textcard"]["title"]
    full = wait_until(lambda: [m for m in hs.platform.agent_messages
                               if m.get("touser") == wecom_id and m["msgtype"] == "text"], message="card text")
    assert "13812345678" not in full[0]["text"]["content"] and "138****5678" in full[0]["text"]["content"]
    detail = agent.handoff(hid)
    assert detail["card"]["skill"] == "claims" and detail["card"]["reason"] == "request_human"
    assert detail["card"]["turns"][-1]["text"] == "转人工"

    # the bot is silent; the user's message reaches the agent (console + WeCom mirror)
    assert hs.rest(user, "我的保单号是P2024001，身份证110101199003071234") == []
    wait_until(lambda: any(m["role"] == "user" and "P2024001" in m["text"]
                           for m in agent.handoff(hid)["messages"]), message="relayed user message")
    wait_until(lambda: any("P2024001" in m.get("text", {}).get("content", "") for m in hs.platform.agent_messages
                           if m.get("touser") == wecom_id), message="WeCom mirror")

    # the agent's reply reaches the REST user (outbox)
    resp = agent.post(f"/agent/api/handoffs/{hid}/messages", {"text": "您好，我是小李，已查到您的理赔在审核中。"})
    assert resp.status_code == 200 and resp.json()["delivery"] == "outbox"
    assert any("理赔在审核中" in m["text"] and m["role"] == "agent" for m in outbox(hs, user))

    # end: the bot resumes, says so and asks for a rating; the rating is stored
    assert agent.post(f"/agent/api/handoffs/{hid}/end").status_code == 200
    tracker = hs.tracker(user)
    assert tracker["paused"] is False and tracker["latest_action_name"] == "action_listen"
    assert any("保险小助手回来啦" in m["text"] and "1-5" in m["text"] for m in outbox(hs, user))
    assert agent.post(f"/agent/api/handoffs/{hid}/end").status_code == 409
    assert "感谢您的评价" in texts(hs.rest(user, "5"))
    wait_until(lambda: agent.handoff(hid)["handoff"]["rating"] == 5, message="rating stored")

    record = agent.handoff(hid)["handoff"]
    assert record["status"] == "ended" and record["end_reason"] == "agent" and record["agent_name"] == "小李"
    assert record["wait_s"] is not None and record["duration_s"] > 0
    with hs.engine().connect() as conn:
        transcript = conn.execute(select(handoffs.c.transcript).where(handoffs.c.id == hid)).scalar_one()
    assert "110101199003071234" not in transcript and "13812345678" not in transcript
    roles = [t["role"] for t in json.loads(transcript)]
    assert "agent" in roles and "user" in roles and "system" in roles
    # the bot answers again
    assert "等待期" in texts(hs.rest(user, "百万医疗险等待期多久"))


def test_queue_then_exactly_one_of_two_agents_claims(hstack):
    hs = hstack
    hs.all_agents_offline()
    a = hs.agent(unique("zhao"), "小赵", status="busy")
    b = hs.agent(unique("qian"), "小钱", status="busy")
    user = unique("queued-user")
    reply = texts(hs.rest(user, "我要投诉你们理赔太慢了"))
    assert "正在为您转接人工客服" in reply
    hid = open_handoff(hs, user)["handoff_id"]
    assert hs.tracker(user)["paused"] is True
    queue = a.get("/agent/api/queue")
    assert any(item["id"] == hid and item["skill"] == "complaints" for item in queue["queued"])
    hs.rest(user, "人呢")
    wait_until(lambda: any(m["text"] == "人呢" for m in a.handoff(hid)["messages"]), message="queued message relayed")

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda s: s.post(f"/agent/api/handoffs/{hid}/claim").status_code, [a, b]))
    assert sorted(results) == [200, 409]
    winner = a if results[0] == 200 else b
    loser = b if winner is a else a
    assert loser.post(f"/agent/api/handoffs/{hid}/messages", {"text": "抢答"}).status_code == 409
    assert winner.post(f"/agent/api/handoffs/{hid}/messages", {"text": "您好，非常抱歉"}).status_code == 200
    wait_until(lambda: any("已为您接通人工客服" in m["text"] for m in outbox(hs, user)), message="connected notice")
    assert winner.post(f"/agent/api/handoffs/{hid}/end").status_code == 200
    assert hs.tracker(user)["paused"] is False


def test_nobody_on_duty_gives_a_callback_ticket_and_the_bot_keeps_helping(hstack):
    hs = hstack
    hs.all_agents_offline()
    user = unique("callback-user")
    reply = texts(hs.rest(user, "转人工"))
    assert "人工客服暂时都不在线" in reply and "回访单" in reply
    state = open_handoff(hs, user)
    assert state["status"] == "callback" and hs.tracker(user)["paused"] is False
    assert "等待期" in texts(hs.rest(user, "百万医疗险等待期多久"))           # bot still answers
    hs.rest(user, "请明天下午联系我 电话13900001111")
    agent = hs.agent(unique("sun"), "小孙", status="busy")
    hid = state["handoff_id"]
    wait_until(lambda: any("明天下午" in m["text"] for m in agent.handoff(hid)["messages"]), message="left message")
    # an agent takes the ticket during service hours: the conversation pauses, the user is told
    assert agent.post(f"/agent/api/handoffs/{hid}/claim").status_code == 200
    wait_until(lambda: hs.tracker(user)["paused"] is True, message="paused on claim")
    wait_until(lambda: any("来处理您之前的留言" in m["text"] for m in outbox(hs, user)), message="claim notice")
    assert agent.post(f"/agent/api/handoffs/{hid}/end").status_code == 200
    assert hs.tracker(user)["paused"] is False


def test_wechat_user_and_an_agent_working_from_wecom(hstack):
    """Official Account user; the agent replies and ends the hand-off by typing in the WeCom app."""
    hs = hstack
    hs.all_agents_offline()
    wecom_id = unique("zhou")
    hs.agent(unique("zhou"), "小周", wecom_userid=wecom_id)
    pusher = WeChatPusher(f"{hs.rasa}/webhooks/wechat/webhook", WECHAT_TOKEN, APP_ID, platform=hs.platform)
    openid = "o" + unique("wx").replace("-", "")
    try:
        result = pusher.push(pusher.text(openid, "转人工"))
        assert "已为您接通人工客服【小周】" in (result.reply or {}).get("Content", "")
        hid = open_handoff(hs, openid)["handoff_id"]
        silent = pusher.push(pusher.text(openid, "我想改一下受益人"))
        assert silent.reply is None and silent.final.body in ("success", "")      # the bot says nothing
        wait_until(lambda: any("受益人" in m.get("text", {}).get("content", "") for m in hs.platform.agent_messages
                               if m.get("touser") == wecom_id), message="mirrored to WeCom")

        agent_app = WeComAgentApp(hs)
        assert agent_app.send(wecom_id, "您好，我是小周，请提供保单号") == ""
        wait_until(lambda: "您好，我是小周，请提供保单号" in hs.platform.messages_to(openid), message="OA delivery")
        assert "已结束" in agent_app.send(wecom_id, "#结束")
        wait_until(lambda: any("1-5" in t for t in hs.platform.messages_to(openid)), message="rating question")
        assert hs.tracker(openid)["paused"] is False
        rated = pusher.push(pusher.text(openid, "4分"))
        assert "感谢您的评价" in (rated.reply or {}).get("Content", "")
        with hs.engine().connect() as conn:
            wait_until(lambda: conn.execute(select(handoffs.c.rating).where(handoffs.c.id == hid)).scalar_one() == 4,
                       message="rating")
            assert conn.execute(select(handoffs.c.end_reason).where(handoffs.c.id == hid)).scalar_one() == "wecom_command"
        assert "未绑定" in agent_app.send("stranger", "#结束")
    finally:
        pusher.close()


def test_handoff_survives_restarts_of_web_and_rasa(hstack):
    hs = hstack
    hs.all_agents_offline()
    agent = hs.agent(unique("wu"), "小吴")
    user = unique("restart-user")
    assert "接通" in texts(hs.rest(user, "转人工"))
    hid = open_handoff(hs, user)["handoff_id"]
    hs.stack.restart("web", ready_timeout=300)
    assert hs.rest(user, "还在吗") == []
    wait_until(lambda: any(m["text"] == "还在吗" for m in agent.handoff(hid)["messages"]), timeout=30,
               message="relay after a web restart")
    hs.stack.restart("rasa", ready_timeout=300)
    assert hs.tracker(user)["paused"] is True and hs.rest(user, "你好") == []
    assert agent.post(f"/agent/api/handoffs/{hid}/end").status_code == 200
    assert hs.tracker(user)["paused"] is False
    assert texts(hs.rest(user, "你好"))


class WeComAgentApp:
    """An agent typing into the self-built WeCom app: WeCom's encrypted callback to /webhooks/wecom_agent."""

    def __init__(self, hs) -> None:
        self.hs = hs
        self.aes = WxAes(hs.agent_aes_key)
        self.ids = iter(range(10**6, 10**7))

    def send(self, wecom_userid: str, text: str) -> str:
        import secrets
        import time

        inner = to_xml({"ToUserName": CORP_ID, "FromUserName": wecom_userid, "CreateTime": int(time.time()),
                        "MsgType": "text", "Content": text, "MsgId": next(self.ids), "AgentID": 1000002})
        encrypted = self.aes.encrypt(inner, CORP_ID)
        ts, nonce = str(int(time.time())), str(secrets.randbelow(10**9))
        body = to_xml({"ToUserName": CORP_ID, "AgentID": "1000002", "Encrypt": encrypted}).encode()
        resp = self.hs.http.post(f"{self.hs.web}/webhooks/wecom_agent", content=body,
                                 params={"msg_signature": sign(AGENT_TOKEN, ts, nonce, encrypted), "timestamp": ts,
                                         "nonce": nonce})
        assert resp.status_code == 200, resp.text
        if not resp.text:
            return ""
        from tests.fakes.wechat_pusher import from_xml

        outer = from_xml(resp.text)
        assert sign(AGENT_TOKEN, outer["TimeStamp"], outer["Nonce"], outer["Encrypt"]) == outer["MsgSignature"]
        plain, receive_id = self.aes.decrypt(outer["Encrypt"])
        assert receive_id == CORP_ID
        return from_xml(plain)["Content"]
