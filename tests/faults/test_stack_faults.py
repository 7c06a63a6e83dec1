"""Fault injection against one real replica (Rasa + action server + web) with its own Redis and PostgreSQL.

Started once for the module on 32005/32055/35000 (base offset 27000) with:
* a private redis-server on a free port (killed and restarted by the Redis test; the machine's Redis
  on 6379 is never touched),
* a private PostgreSQL cluster (initdb in /tmp, free port) that the PostgreSQL test really restarts;
  without initdb, a fresh database on the machine's PostgreSQL whose connections are killed instead,
* a private copy of knowledge/content (the failed-publish test corrupts a file in it),
* the fake WeChat platform; the `wechat` channel in safe (AES) mode.

Order matters only for speed: the two crash tests restart Rasa and run last.
"""
from __future__ import annotations

import json
import shutil
import signal
import time
import uuid

import httpx
import pytest
import redis

from common.settings import REPO_ROOT
from connectors.fault_replies import REPLY_ACTION_FAILED, REPLY_HANDOFF_UNAVAILABLE
from tests.fakes.wechat_platform import FakeWeChatPlatform
from tests.fakes.wechat_pusher import WeChatPusher, new_aes_key
from tests.faults.infra import (MACHINE_PG, PrivatePostgres, PrivateRedis, fresh_database, init_app_database,
                                private_postgres_available, rest_say, start_replica, terminate_connections,
                                tracker_of, user_texts, wait_until, wechat_say)

pytestmark = pytest.mark.timeout(900)

BASE = 27000
APP_ID, APP_SECRET, TOKEN = "wxfault000000001", "fault-app-secret", "fault-token"
AES_KEY = new_aes_key()
FAQ = "理赔要多久到账"          # answerable with a wide margin (the FAQ path runs)
FAQ_MARK = "结案"


class Env:
    """What the tests need: the stack, its infrastructure and a WeChat user's side."""

    def __init__(self, stack, platform, pusher, redis_server, postgres, db_url, knowledge_dir) -> None:
        self.stack, self.platform, self.pusher = stack, platform, pusher
        self.redis, self.postgres, self.db_url, self.knowledge_dir = redis_server, postgres, db_url, knowledge_dir
        self.settings = stack.settings

    @property
    def rasa(self) -> str:
        return self.settings.rasa_url

    def wechat(self, openid: str, text: str) -> str:
        return wechat_say(self.pusher, self.platform, openid, self.pusher.text(openid, text))

    def logs(self) -> str:
        return self.stack.logs.getvalue()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    started = time.monotonic()
    redis_server = PrivateRedis().start()
    postgres = PrivatePostgres().start() if private_postgres_available() else None
    platform = FakeWeChatPlatform().start()
    platform.add_app(APP_ID, APP_SECRET)
    knowledge_dir = tmp_path_factory.mktemp("knowledge") / "content"
    shutil.copytree(REPO_ROOT / "knowledge" / "content", knowledge_dir)
    stack = None
    try:
        with (_no_database() if postgres else fresh_database(MACHINE_PG, prefix="fault_test")) as shared_db:
            db_url = postgres.url if postgres else shared_db
            extra = {"DATABASE_URL": db_url, "REDIS_URL": redis_server.url, "KNOWLEDGE_DIR": str(knowledge_dir)}
            init_app_database(db_url, tmp_path_factory.mktemp("init"))
            stack = start_replica(tmp_path_factory.mktemp("replica"), BASE, extra, {
                "WECHAT_TOKEN": TOKEN, "WECHAT_APP_ID": APP_ID, "WECHAT_APP_SECRET": APP_SECRET,
                "WECHAT_ENCODING_AES_KEY": AES_KEY, "WECHAT_API_BASE_URL": platform.base_url,
                "KNOWLEDGE_DIR": str(knowledge_dir)})
            pusher = WeChatPusher(f"{stack.settings.rasa_url}/webhooks/wechat/webhook", TOKEN, APP_ID,
                                  aes_key=AES_KEY, mode="safe", platform=platform)
            print(f"\nfault stack healthy after {time.monotonic() - started:.0f}s "
                  f"(PostgreSQL: {'private cluster' if postgres else 'fresh database, connections killed'})")
            assert FAQ_MARK in rest_say(stack.settings.rasa_url, "warmup", FAQ), "the FAQ path does not answer"
            yield Env(stack, platform, pusher, redis_server, postgres, db_url, knowledge_dir)
            pusher.close()
    finally:
        if stack is not None:
            stack.stop()
            log_file = stack.settings.var_dir / "stack.log"
            log_file.write_text(stack.logs.getvalue(), encoding="utf-8")
            print(f"\nservice logs: {log_file}")
        platform.stop()
        redis_server.stop()
        if postgres is not None:
            postgres.destroy()


class _no_database:
    def __enter__(self) -> str:
        return ""

    def __exit__(self, *exc: object) -> None:
        return None


def new_user() -> str:
    return "oFault_" + uuid.uuid4().hex[:12]


# ---- (a) action server down ---------------------------------------------------------------------
def test_action_server_down_gets_an_apology_and_a_handoff_offer(env):
    """Rasa swallows a failing custom action and says nothing; the channel adds an apology."""
    user = new_user()
    env.stack.kill("actions")                         # the whole process group: Sanic's worker too
    try:
        assert "保险小助手" in env.wechat(user, "你好")     # needs no action server: answered as usual
        faq = env.wechat(user, FAQ)
        assert faq.endswith(REPLY_ACTION_FAILED) and "转人工" in faq, faq
        # the hand-off action is on the action server too: no loop of "回复转人工"
        handoff = env.wechat(user, "转人工")
        assert handoff.endswith(REPLY_HANDOFF_UNAVAILABLE), handoff
        assert "wechat.bot_error" not in env.logs()       # a valid reply each time, never an error path
    finally:
        env.stack.restart("actions")
    assert user_texts(env.rasa, user) == ["你好", FAQ, "转人工"]   # every message is in the conversation
    assert FAQ_MARK in env.wechat(new_user(), FAQ)            # back to normal


# ---- (e) a failed knowledge publish -------------------------------------------------------------
def _login(env: Env, client: httpx.Client, role: str = "editor") -> None:
    from storage.db import get_engine
    from web.auth import create_user

    name = f"fault-{role}-{uuid.uuid4().hex[:6]}"
    create_user(get_engine(env.db_url), name, "fault-password-1", role)
    resp = client.post("/console/login", data={"username": name, "password": "fault-password-1", "next": "/console"})
    assert resp.status_code in (200, 303), resp.text[:300]


def _top(web_url: str, query: str) -> str:
    hits = httpx.post(f"{web_url}/api/knowledge/search", json={"query": query, "top_k": 3}, timeout=30).json()["hits"]
    return hits[0]["id"] if hits else ""


def test_failed_publish_keeps_the_old_index_serving(env):
    web = env.settings.web_url
    vocabulary = env.knowledge_dir / "vocabulary.yml"
    original = vocabulary.read_text(encoding="utf-8")
    before = _top(web, FAQ)
    assert before
    with httpx.Client(base_url=web, timeout=60) as console:
        _login(env, console)
        status = console.get("/api/kb/status").json()
        live_before = status["live_version_id"]
        vocabulary.write_text("products: [unterminated\n", encoding="utf-8")   # the build will raise
        try:
            assert console.post("/api/kb/faqs", json={
                "id": "faq.fault.broken_build", "question": "坏构建测试问题是什么？",
                "answer": "这是一条用来制造构建失败的测试答案。", "similar": ["坏构建测试"]}).status_code == 201
            bad = console.post("/api/kb/publish", json={"note": "fault test: broken build"}).json()["published"]["id"]
            status = wait_until(lambda: (s := console.get("/api/kb/status").json())["failed_version_id"] == bad and s,
                                60, what="failed build reported")
            assert "构建失败" in status["last_error"] and status["live_version_id"] == live_before
            # still serving: search on the web service, and the FAQ answer in chat through WeChat
            assert _top(web, FAQ) == before
            assert FAQ_MARK in env.wechat(new_user(), FAQ)
            assert httpx.get(f"{web}/healthz", timeout=30).json()["components"]["knowledge_index"]["status"] == "up"
        finally:
            vocabulary.write_text(original, encoding="utf-8")
        # ops roll back (the file is fixed too): the next check makes that version live, the error clears
        fixed = console.post("/api/kb/rollback", json={"version_id": live_before}).json()["published"]["id"]
        wait_until(lambda: (s := console.get("/api/kb/status").json())["live_version_id"] == fixed
                   and s["last_error"] is None, 90, what="recovery after the rollback")
    assert _top(web, FAQ) == before


# ---- (c) PostgreSQL restart mid-conversation ----------------------------------------------------
def test_postgres_restart_mid_conversation_loses_no_message(env):
    import threading

    user = new_user()
    steps = [("我要买意外险", "给谁投保"), ("给我自己 35岁", "职业"), ("快递员", "保额"), ("50万", "年缴还是月缴")]
    assert steps[0][1] in env.wechat(user, steps[0][0])
    if env.postgres is not None:
        env.postgres.restart()                              # every pooled connection is now dead
    else:
        database = env.db_url.rsplit("/", 1)[1]
        assert terminate_connections(MACHINE_PG, database) > 0
    assert steps[1][1] in env.wechat(user, steps[1][0])
    assert steps[2][1] in rest_say(env.rasa, user, steps[2][0])
    if env.postgres is not None:
        # down while the next message arrives, back ~2 s later: the turn waits for it
        env.postgres.stop()
        restarter = threading.Timer(2.0, env.postgres._ctl, args=("start",))
        restarter.start()
        try:
            reply = env.wechat(user, steps[3][0])
        finally:
            restarter.join()
        assert steps[3][1] in reply, reply
    else:
        assert steps[3][1] in env.wechat(user, steps[3][0])
    assert user_texts(env.rasa, user) == [s[0] for s in steps]
    slots = tracker_of(env.rasa, user)["slots"]
    assert slots["coverage_cny"] and slots["occupation_class"] and slots["quote_product"]


# ---- (b) Redis down -> local mode, then back ------------------------------------------------------
def _redis_keys(url: str, pattern: str) -> list:
    client = redis.Redis.from_url(url)
    try:
        return [k.decode() for k in client.scan_iter(pattern)]
    finally:
        client.close()


def test_redis_down_local_mode_then_recovery(env):
    user = new_user()
    assert FAQ_MARK in env.wechat(user, FAQ)
    assert _redis_keys(env.redis.url, "insurebot:connectors:wx:*")       # dedupe ledger shared in Redis
    env.redis.kill()
    try:
        fields = env.pusher.text(user, "重疾险保哪些病")
        first = env.pusher.push(fields)
        assert first.final.status == 200 and (first.reply_text or env.platform.wait_for(
            lambda p: len(p.messages_to(user)) > 0, 60))
        replay = env.pusher.push(fields)                   # exactly once still holds (this machine's store)
        assert replay.final.status == 200
        assert rest_say(env.rasa, user, "谢谢")                 # Rasa's lock store in local mode too
        health = httpx.get(f"{env.settings.web_url}/healthz", timeout=30)
        assert health.status_code == 200 and health.json()["optional"]["redis"]["status"] == "down"
        logs = env.logs()
        assert "kvstore.local_mode" in logs and "Redis lock store unreachable: local mode" in logs, logs[-3000:]
        assert user_texts(env.rasa, user) == [FAQ, "重疾险保哪些病", "谢谢"]
    finally:
        env.redis.start()
    time.sleep(6)                                             # both stores retry Redis every 5 s
    monitor_seen = _watch_redis(env.redis.url, lambda: env.wechat(user, "犹豫期呢"))
    assert any(f"insurebot:lock:{user}" in c for c in monitor_seen), monitor_seen[:20]
    assert any("insurebot:connectors:wx:" in c for c in monitor_seen)
    logs = env.logs()
    assert "kvstore.shared_mode" in logs and "Redis lock store reachable again" in logs
    health = httpx.get(f"{env.settings.web_url}/healthz", timeout=30).json()
    assert health["optional"]["redis"]["status"] == "up"


def _watch_redis(url: str, action) -> list:
    import threading

    client = redis.Redis.from_url(url)
    seen: list = []
    with client.monitor() as monitor:
        stop = threading.Event()

        def listen() -> None:
            for command in monitor.listen():
                seen.append(str(command.get("command", "")))
                if stop.is_set() or len(seen) > 20000:
                    break

        thread = threading.Thread(target=listen, daemon=True)
        thread.start()
        try:
            action()
        finally:
            stop.set()
            client.ping()
            thread.join(5)
    client.close()
    return seen


# ---- (d) crash between receiving and answering ------------------------------------------------------
def test_crash_before_the_reply_then_wechat_retry_runs_the_turn_once(env):
    """kill -9 Rasa while a turn waits on the action server; restart; WeChat's retry is answered once."""
    user = new_user()
    fields = env.pusher.text(user, FAQ)
    env.stack.kill("actions", signal.SIGSTOP)           # frozen: the turn hangs in action_answer_question
    try:
        params, body = env.pusher.build(fields)
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            attempt = pool.submit(_post_quietly, env.pusher, params, body)
            time.sleep(2.0)                              # received, claimed, turn running
            env.stack.kill("rasa")                       # kill -9
            status = attempt.result(timeout=30)
        assert status is None, status                    # WeChat saw no answer: it will retry
    finally:
        env.stack.kill("actions", signal.SIGCONT)
    env.stack.restart("rasa", ready_timeout=400)
    wait_until(lambda: httpx.get(f"{env.rasa}/", timeout=5).status_code == 200, 60)
    retry = env.pusher.push(fields)                      # the same MsgId, fresh signature
    answer = retry.reply_text or (env.platform.wait_for(lambda p: p.messages_to(user), 60)
                                  and env.platform.messages_to(user)[0])
    assert answer and FAQ_MARK in answer, answer
    time.sleep(1.0)
    assert user_texts(env.rasa, user) == [FAQ]
    assert len(env.platform.messages_to(user)) + (1 if retry.reply_text else 0) == 1
    assert "wechat.takeover" in env.logs()

    # a crash after Rasa saved the turn but before the ledger recorded it: the retry replays the answer
    second = env.pusher.text(user, "客服几点上班")
    done = env.pusher.push(second)
    shown = done.reply_text or env.platform.wait_for(lambda p: len(p.messages_to(user)) > 1, 60) and \
        env.platform.messages_to(user)[-1]
    time.sleep(5)          # the live owner is done with the record (a crashed one would be gone at once)
    client = redis.Redis.from_url(env.redis.url, decode_responses=True)
    key = next(k for k in client.scan_iter("insurebot:connectors:wx:*") if k.endswith(f":m:{second['MsgId']}"))
    record = json.loads(client.get(key))
    record.update(state="running", texts=[], delivery="", outcome="", owner="dead-replica",
                  lease_until=time.time() - 1)
    client.set(key, json.dumps(record), px=600_000)
    client.close()
    again = env.pusher.push(second)
    replayed = again.reply_text or env.platform.wait_for(lambda p: len(p.messages_to(user)) > 1, 60) and \
        env.platform.messages_to(user)[-1]
    assert replayed == shown, (replayed, shown)
    assert user_texts(env.rasa, user) == [FAQ, "客服几点上班"]
    assert "wechat.replayed" in env.logs()


def test_crash_after_acknowledging_then_the_restarted_replica_delivers_once(env):
    """The turn outlives WeChat's 4-s wait (\"success\", so WeChat never retries), then Rasa is killed.

    Nobody will push that message again: the restarted replica's orphan sweep finds the turn in the
    ledger (the message sealed with SM4), runs it and sends the answer through the customer-service API.
    """
    user = new_user()
    env.platform.user_interacted(user)                   # the message opens the 48-hour reply window
    fields = env.pusher.text(user, FAQ)
    env.stack.kill("actions", signal.SIGSTOP)           # the turn hangs past the passive deadline
    try:
        attempt = env.pusher.post_raw(*env.pusher.build(fields), timeout=10)
        assert (attempt.status, attempt.body) == (200, "success"), attempt
        env.stack.kill("rasa")                           # kill -9 while the acknowledged turn runs
    finally:
        env.stack.kill("actions", signal.SIGCONT)
    assert env.platform.messages_to(user) == []
    env.stack.restart("rasa", ready_timeout=400)
    # (the recovered turn first waits for the dead process's conversation lock to expire: up to 60 s)
    assert env.platform.wait_for(lambda p: p.messages_to(user), 120), "the orphaned turn was never answered"
    time.sleep(3.0)                                      # a second delivery would show up by now
    answers = env.platform.messages_to(user)
    assert len(answers) == 1 and FAQ_MARK in answers[0], answers
    assert user_texts(env.rasa, user) == [FAQ]
    assert "wechat.orphan_recovered" in env.logs()


def _post_quietly(pusher: WeChatPusher, params: dict, body: bytes):
    """One WeChat attempt; None when the connection dies (the process was killed)."""
    try:
        attempt = pusher.post_raw(params, body, timeout=10)
        return attempt.status
    except httpx.HTTPError:
        return None
