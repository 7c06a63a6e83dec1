"""Two full replicas (Rasa + action server + web each) sharing PostgreSQL and Redis (scale-out).

What a load balancer in front of N replicas does to one user: consecutive messages, and WeChat's
retries of one message, land on different replicas. Started once for the module:

* replica A on 29005/29055/32000, replica B on 30005/30055/33000 (base offsets 24000 / 25000);
* a fresh database ``scale_test_<random>`` on the machine's PostgreSQL (tracker store + app
  database; created, initialised with ``python -m web.init_db`` as docs/deployment.md prescribes, and
  dropped afterwards) and Redis DB 13 (lock store, WeChat dedupe ledger, access_token, rate limits,
  knowledge reload signal), flushed before and after;
* the fake WeChat platform; the channel in safe (AES) mode, pushes signed and encrypted by the
  independent pusher.
"""
from __future__ import annotations

import concurrent.futures
import threading
import time
import uuid

import httpx
import pytest
import redis

from tests.fakes.wechat_platform import FakeWeChatPlatform
from tests.fakes.wechat_pusher import WeChatPusher, new_aes_key
from tests.faults.infra import (MACHINE_PG, fresh_database, init_app_database, rest_say, start_replica,
                                terminate_connections, tracker_of, user_texts, wechat_say)

pytestmark = pytest.mark.timeout(600)

BASE_A, BASE_B = 24000, 25000
REDIS_URL = "redis://127.0.0.1:6379/13"
APP_ID, APP_SECRET, TOKEN = "wxscale000000001", "scale-app-secret", "scale-token"
AES_KEY = new_aes_key()
FAQ = "理赔要多久到账"          # answerable with a wide margin (the FAQ path runs)
FAQ_MARK = "结案"


class Replica:
    def __init__(self, name: str, stack, pusher: WeChatPusher) -> None:
        self.name, self.stack, self.pusher = name, stack, pusher
        self.settings = stack.settings

    @property
    def rasa(self) -> str:
        return self.settings.rasa_url

    @property
    def web(self) -> str:
        return self.settings.web_url


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    started = time.monotonic()
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    except redis.exceptions.ConnectionError:
        pytest.skip("Redis not reachable at 127.0.0.1:6379")
    platform = FakeWeChatPlatform().start()
    platform.add_app(APP_ID, APP_SECRET)
    channel_env = {"WECHAT_TOKEN": TOKEN, "WECHAT_APP_ID": APP_ID, "WECHAT_APP_SECRET": APP_SECRET,
                   "WECHAT_ENCODING_AES_KEY": AES_KEY, "WECHAT_API_BASE_URL": platform.base_url}
    stacks: list = []
    try:
        with fresh_database(MACHINE_PG) as db_url:
            shared = {"DATABASE_URL": db_url, "REDIS_URL": REDIS_URL}
            init = init_app_database(db_url, tmp_path_factory.mktemp("init"))
            assert init["database"] == "postgresql" and init["published_version_id"] == 1
            # both replicas start together, as after a deploy
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                futures = [pool.submit(start_replica, tmp_path_factory.mktemp(f"replica-{n}"), base, shared,
                                       channel_env) for n, base in (("a", BASE_A), ("b", BASE_B))]
                errors = []
                for future in futures:
                    try:
                        stacks.append(future.result())
                    except Exception as exc:  # stop the other one too
                        errors.append(exc)
                if errors:
                    raise errors[0]
            stacks.sort(key=lambda s: s.settings.rasa_port)
            replicas = [Replica(name, stack, WeChatPusher(f"{stack.settings.rasa_url}/webhooks/wechat/webhook", TOKEN,
                                                          APP_ID, aes_key=AES_KEY, mode="safe", platform=platform))
                        for name, stack in zip("AB", stacks)]
            print(f"\ntwo replicas healthy after {time.monotonic() - started:.0f}s")
            # warm both FAQ paths (first search loads the encoder in each web process)
            for r in replicas:
                rest_say(r.rasa, f"warmup-{r.name}", FAQ)
            yield replicas, platform, db_url
            for r in replicas:
                r.pusher.close()
    finally:
        for stack in stacks:
            stack.stop()
        platform.stop()
        client.flushdb()
        client.close()


def new_user() -> str:
    return "oScale_" + uuid.uuid4().hex[:12]


def test_quote_form_moves_between_replicas_and_channels(cluster):
    """A form started on A continues on B, alternating WeChat and REST; both trackers agree. Halfway,
    every server connection of both replicas to the shared database is killed (a PostgreSQL restart
    as the clients see it): the form goes on."""
    (a, b), platform, db_url = cluster
    user = new_user()
    steps = [
        (a, "wechat", "我要买意外险", "给谁投保"),
        (b, "rest", "给我自己 35岁", "职业"),
        (a, "wechat", "快递员", "保额"),
        (b, "wechat", "50万", "年缴还是月缴"),
        (a, "rest", "月缴", "首月1元，次月起每月17.78元"),
    ]
    for n, (replica, channel, text, expected) in enumerate(steps):
        if n == 2:
            assert terminate_connections(MACHINE_PG, db_url.rsplit("/", 1)[1]) > 0
        if channel == "wechat":
            reply = wechat_say(replica.pusher, platform, user, replica.pusher.text(user, text))
        else:
            reply = rest_say(replica.rasa, user, text)
        assert expected in reply, (replica.name, channel, text, reply)
    slots_a, slots_b = tracker_of(a.rasa, user)["slots"], tracker_of(b.rasa, user)["slots"]
    assert slots_a == slots_b
    assert slots_a["insured_age"] in (35, 35.0, "35") and slots_a["occupation_class"] and slots_a["quote_id"]
    assert tracker_of(b.rasa, user)["active_loop"] in ({}, None) or not tracker_of(b.rasa, user)["active_loop"].get("name")
    assert user_texts(a.rasa, user) == [s[2] for s in steps]


def test_same_msgid_on_both_replicas_is_one_turn(cluster):
    """WeChat retries of one MsgId land on A and B at the same time, and again later: one turn, one answer."""
    (a, b), platform, _ = cluster
    user = new_user()
    fields = a.pusher.text(user, FAQ)
    barrier = threading.Barrier(2)

    def deliver(replica: Replica):
        barrier.wait()
        return replica.pusher.push(fields)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(deliver, (a, b)))
    time.sleep(1.0)
    passive = {r.reply_text for r in results if r.reply_text}
    custom = platform.messages_to(user)
    assert len(passive) + len(custom) >= 1, "nobody answered"
    assert len(passive) <= 1 and len(custom) <= 1 and not (passive and custom), (passive, custom)
    answer = next(iter(passive)) if passive else custom[0]
    assert FAQ_MARK in answer
    # a later replay of the same MsgId on the other replica: the stored answer, no new turn
    replay = b.pusher.push(fields)
    assert replay.reply_text in (answer, None)
    for replica in (a, b):
        assert user_texts(replica.rasa, user) == [FAQ]
    assert len(platform.messages_to(user)) == len(custom)


def test_knowledge_published_on_a_is_served_by_b(cluster):
    """An FAQ published through A's console API is B's top search hit within seconds (Redis signal)."""
    (a, b), _, db_url = cluster
    from storage.db import get_engine
    from web.auth import create_user

    create_user(get_engine(db_url), "scale-editor", "scale-password-1", "editor")
    with httpx.Client(base_url=a.web, timeout=60) as console:
        login = console.post("/console/login", data={"username": "scale-editor", "password": "scale-password-1",
                                                     "next": "/console"})
        assert login.status_code in (200, 303), login.text[:300]
        question = "可以用数字人民币付保费吗？"
        faq_id = "faq.scale.digital_rmb"
        created = console.post("/api/kb/faqs", json={
            "id": faq_id, "question": question,
            "answer": "目前支持微信支付和银行卡付款，暂不支持数字人民币。【SCALE】",
            "similar": ["能用数字人民币交保费吗", "数字人民币可以付保费不"]})
        assert created.status_code == 201, created.text[:300]
        published_at = time.monotonic()
        publish = console.post("/api/kb/publish", json={"note": "scale test"})
        assert publish.status_code == 200, publish.text[:300]

    def top_on_b() -> str:
        hits = httpx.post(f"{b.web}/api/knowledge/search", json={"query": question, "top_k": 3},
                          timeout=30).json()["hits"]
        return hits[0]["id"] if hits else ""

    deadline = published_at + 30
    while time.monotonic() < deadline and top_on_b() != faq_id:
        time.sleep(0.3)
    took = time.monotonic() - published_at
    assert top_on_b() == faq_id, "B never served the published FAQ"
    print(f"\npublish on A -> served by B after {took:.1f}s")
    assert took < 10, took
