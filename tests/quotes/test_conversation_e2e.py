"""Quote conversations against the real stack (Rasa + action server + web, private ports, SQLite).

`rasa test core` (tests/conversations/quote_stories.yml) only predicts actions; this module sends
real messages through Rasa's REST channel so NLU, the rules, the form, validate_quote_form,
action_fetch_quote and the display record are exercised together. Uses models/insurebot.tar.gz
(`make test` retrains it first); QUOTES_E2E_MODEL points at another model (e.g. a private build).
"""
from __future__ import annotations

import io
import json
import os
import urllib.request
from pathlib import Path

import pytest

from common.settings import REPO_ROOT, load_settings
from common.stack import MODEL_PATH, RASA_BIN, start_stack
from quotes.audit import DisplayRecorder
from storage.db import get_engine

BASE = 23000  # Rasa 28005, actions 28055, web 31000: clear of 5005/5055/8000 and of tests/e2e (20000, 21000)
MODEL = Path(os.environ.get("QUOTES_E2E_MODEL", str(MODEL_PATH)))


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if not RASA_BIN.exists() or not MODEL.exists():
        pytest.skip("Rasa venv or trained model missing: run `make install`")
    var = tmp_path_factory.mktemp("quote-stack")
    settings = load_settings({
        "INSUREBOT_VAR_DIR": str(var), "EMBEDDING_CACHE": str(REPO_ROOT / "var" / "cache" / "embeddings.sqlite"),
        "RASA_PORT": str(BASE + 5005), "ACTION_PORT": str(BASE + 5055), "WEB_PORT": str(BASE + 8000),
        "RASA_URL": f"http://127.0.0.1:{BASE + 5005}", "ACTION_SERVER_URL": f"http://127.0.0.1:{BASE + 5055}/webhook",
        "WEB_URL": f"http://127.0.0.1:{BASE + 8000}",
    })
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    logs = io.StringIO()
    running = start_stack(settings, log_sink=logs, env=env, model_path=MODEL)
    try:
        yield settings
    finally:
        running.stop()


def say(settings, sender: str, message: str) -> str:
    req = urllib.request.Request(f"{settings.rasa_url}/webhooks/rest/webhook",
                                 data=json.dumps({"sender": sender, "message": message}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return "\n".join(m.get("text", "") for m in json.loads(resp.read()))


def slots(settings, sender: str) -> dict:
    with urllib.request.urlopen(f"{settings.rasa_url}/conversations/{sender}/tracker", timeout=10) as resp:
        tracker = json.loads(resp.read())
    return {**tracker["slots"], "_active_loop": (tracker.get("active_loop") or {}).get("name")}


def test_one_message_quote_then_correction(stack):
    reply = say(stack, "e2e-quote-1", "我妈58岁想买百万医疗 月缴")
    assert "【百万医疗险报价】" in reply and "父母，58周岁" in reply and "每月134.64元" in reply
    assert "《百万医疗险条款》第四条、第五条 责任免除" in reply and "等待期：30天" in reply
    first = slots(stack, "e2e-quote-1")["quote_id"]
    records = DisplayRecorder(get_engine(stack.app_database_url)).for_quote(first)
    assert len(records) == 1 and records[0]["message"] in reply and records[0]["channel"] == "rest"

    reply = say(stack, "e2e-quote-1", "不对 是60岁")
    assert "60周岁" in reply and "每月134.64元" in reply  # same 56-60 band
    assert slots(stack, "e2e-quote-1")["quote_id"] != first


def test_form_with_a_question_in_the_middle(stack):
    sender = "e2e-quote-2"
    assert "给谁投保" in say(stack, sender, "我要买意外险")
    assert "职业" in say(stack, sender, "给我自己 35岁")
    reply = say(stack, sender, "等待期多久")
    assert "职业" in reply.splitlines()[-1], reply  # answered, then the form asks again
    assert slots(stack, sender)["_active_loop"] == "quote_form"
    assert "保额" in say(stack, sender, "快递员")
    assert "年缴还是月缴" in say(stack, sender, "50万")
    reply = say(stack, sender, "月缴")
    assert "首月1元，次月起每月17.78元" in reply and "职业类别3类" in reply and "责任免除" in reply


def test_leaving_the_form(stack):
    sender = "e2e-quote-3"
    assert "多大" in say(stack, sender, "想给孩子买个重疾")  # the relation was in the message
    reply = say(stack, sender, "算了 不买了")
    assert "取消" in reply
    assert slots(stack, sender)["_active_loop"] is None


def test_refusal_offers_an_alternative_that_yes_quotes(stack):
    sender = "e2e-quote-4"
    reply = say(stack, sender, "给我妈买重疾险 她58岁")
    assert reply.startswith("抱歉") and "55周岁" in reply and "百万医疗险" in reply and "保费" not in reply
    assert "年缴还是月缴" in say(stack, sender, "好的")
    reply = say(stack, sender, "年缴")
    assert "【百万医疗险报价】" in reply and "1496元/年" in reply


def test_all_facts_in_one_message_for_other_products(stack):
    reply = say(stack, "e2e-quote-5", "给我老婆买个意外险 她32岁 做会计的 10万 年缴")
    assert "【综合意外险报价】" in reply and "配偶，32周岁" in reply and "58元/年" in reply
    reply = say(stack, "e2e-quote-6", "碎屏险多少钱 手机4999买的 上个月激活 我30岁")
    assert "【手机碎屏险报价】" in reply and "109元" in reply and "等待期：3天" in reply


@pytest.mark.parametrize("sender,text,needles", [
    ("e2e-quote-7", "給我媽買百萬醫療 她今年五十二歲 年繳", ["【百万医疗险报价】", "父母，52周岁"]),
    ("e2e-quote-8", "老公三十八 百万医疗 年缴", ["【百万医疗险报价】", "配偶，38周岁"]),
    ("e2e-quote-9", "我是外卖骑手 30岁 想买意外险 保额50万 年交", ["【综合意外险报价】", "职业类别4类"]),
    ("e2e-quote-10", "上周刚激活的手机 5999 碎屏险 我28", ["【手机碎屏险报价】", "已激活7天"]),
    ("e2e-quote-11", "跑滴滴的 想买司机意外险 我自己开 38岁 已认证 买一天", ["【网约车司机专属意外险报价】", "38周岁"]),
])
def test_one_message_requests_as_users_write_them_are_quoted_at_once(stack, sender, text, needles):
    reply = say(stack, sender, text)
    assert all(n in reply for n in needles), reply
    state = slots(stack, sender)
    assert state["_active_loop"] is None and state["quote_evidence"], state


def test_the_display_record_keeps_the_users_words(stack):
    reply = say(stack, "e2e-quote-12", "上周刚激活的手机 5999 碎屏险 我28")
    assert "已激活7天" in reply
    record = DisplayRecorder(get_engine(stack.app_database_url)).for_quote(slots(stack, "e2e-quote-12")["quote_id"])[0]
    facts = json.loads(record["facts"]) if isinstance(record["facts"], str) else record["facts"]
    assert facts["activation_days"] == 7 and facts["understood_from"]["phone_activation_days"] == "上周"
