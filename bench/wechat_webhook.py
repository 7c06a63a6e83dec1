"""Benchmark: WeChat webhook -> reply latency and throughput, side by side with Rasa's REST channel.

Starts the real stack (Rasa, actions, web) with the Official Account channel in safe (AES) mode
pointed at the fake WeChat platform, then plays WeChat users with the independent pusher:
- latency p50/p95 at 1, 10 and 50 concurrent users (closed loop, FAQ questions), measured from
  the push to the reply the user sees (passive reply, or a customer-service message if later);
- messages per second sustained for 60 s (10 concurrent users; conversations of 8 messages, then the same
  10 users for the whole 60 s);
- lost replies (none within 15 s) and duplicated replies (a message answered twice);
the same questions through ``/webhooks/rest/webhook`` for comparison.

usage: .venv-app/bin/python bench/wechat_webhook.py [--quick]
writes bench/results/wechat_webhook.json + .md
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_utils import md_table, percentiles, write_results  # noqa: E402
from bench.procstat import group_cpu_seconds  # noqa: E402
from common.settings import REPO_ROOT, load_settings  # noqa: E402
from common.stack import start_stack, wait_healthy  # noqa: E402
from connectors.fault_replies import REPLY_HANDOFF_UNAVAILABLE  # noqa: E402
from connectors.messages import REPLY_ERROR  # noqa: E402
from tests.fakes.wechat_platform import FakeWeChatPlatform  # noqa: E402
from tests.fakes.wechat_pusher import WeChatPusher, new_aes_key  # noqa: E402

QUESTIONS = ["百万医疗险等待期多久", "怎么申请理赔", "理赔需要准备哪些材料", "犹豫期是多久",
             "可以按月交保费吗", "保单什么时候生效", "扣款失败了怎么办", "台风险怎么赔"]
GREETING = ["你好"]          # fixed response, no custom action: isolates channel + Rasa core
REPLY_WAIT_S = 15.0
CONVERSATION_MESSAGES = 8    # sustained run: messages per user before the next user takes the slot
WECHAT_TIMEOUT_S = 5.0
WECHAT_ATTEMPTS = 3          # WeChat's first push + two retries, each after 5 s without a response
APP_ID, APP_SECRET, TOKEN = "wxbench000000001", "bench-secret", "bench-token"


class Tally:
    """Per-phase results: latencies (ms), lost, duplicated, failed (the answer was an error apology)."""

    def __init__(self) -> None:
        self.latencies: List[float] = []
        self.sent = 0
        self.lost = 0
        self.failed = 0
        self.duplicated = 0
        self.passive = 0
        self.custom = 0
        self.retries = 0

    def summary(self, seconds: float) -> Dict[str, Any]:
        return {"sent": self.sent, "answered": len(self.latencies), "lost": self.lost, "failed": self.failed,
                "duplicated": self.duplicated, "passive": self.passive, "custom": self.custom,
                "wechat_retries": self.retries,
                "seconds": round(seconds, 1), "msgs_per_s": round(len(self.latencies) / seconds, 1) if seconds else 0,
                "latency_ms": percentiles(self.latencies)}


def _custom_count(platform: FakeWeChatPlatform, openid: str) -> int:
    with platform.lock:
        return sum(1 for m in platform.custom_messages if m.get("touser") == openid)


def _first_custom_after(platform: FakeWeChatPlatform, openid: str, since: float) -> Optional[Dict[str, Any]]:
    """The first customer-service message to `openid` sent at or after `since` (wall clock), if any."""
    with platform.lock:
        sent = [m for m in platform.custom_messages if m.get("touser") == openid and m["_at"] >= since]
    return min(sent, key=lambda m: m["_at"]) if sent else None


def _is_apology(text: Optional[str]) -> bool:
    """The channel's answer when the turn failed (an exception, the action server down): not an answer."""
    return bool(text) and (REPLY_ERROR in text or REPLY_HANDOFF_UNAVAILABLE in text)


def _starts_conversation(i: int, conversation: int) -> bool:
    """Message ``i`` of a user slot comes from a new user: the first one, then every ``conversation``-th."""
    return i == 0 or bool(conversation and i % conversation == 0)


async def push_like_wechat(client: httpx.AsyncClient, pusher: WeChatPusher,
                           fields: Dict[str, Any]) -> Tuple[Optional[str], int]:
    """(passive reply text or None, retries): WeChat's delivery of one message.

    WeChat waits 5 s for a response, then drops the connection and pushes the same MsgId again (newly
    signed), three attempts in all; the response it gets is the one the user sees.
    """
    for attempt in range(WECHAT_ATTEMPTS):
        params, body = pusher.build(fields)
        try:
            resp = await client.post(pusher.url, params=params, content=body, timeout=WECHAT_TIMEOUT_S)
        except httpx.TimeoutException:
            continue
        except httpx.HTTPError:
            return None, attempt
        if resp.status_code != 200:
            return None, attempt
        reply = pusher.decode_reply(resp.text)
        return (reply.get("Content") if reply else None), attempt
    return None, WECHAT_ATTEMPTS - 1


async def wechat_user(client: httpx.AsyncClient, pusher: WeChatPusher, platform: FakeWeChatPlatform,
                      tally: Tally, stop_at: Optional[float], count: int, questions: List[str],
                      deliveries: Dict[str, List[int]], conversation: int = 0) -> None:
    """One user slot, closed loop. deliveries[openid] = [answered, passive] for the duplicate count.

    ``conversation`` > 0: after that many messages the slot is taken by a new user (a fresh OpenID).
    """
    i = 0
    while (stop_at is None and i < count) or (stop_at is not None and time.monotonic() < stop_at):
        if _starts_conversation(i, conversation):
            openid = "oBench_" + uuid.uuid4().hex[:12]
            platform.user_interacted(openid)
            stats = deliveries.setdefault(openid, [0, 0])
        question = questions[i % len(questions)]
        i += 1
        tally.sent += 1
        started_wall, started = time.time(), time.perf_counter()
        passive_text, retries = await push_like_wechat(client, pusher, pusher.text(openid, question))
        tally.retries += retries
        if _is_apology(passive_text):
            tally.failed += 1
            stats[0] += 1
            stats[1] += 1
            continue
        if passive_text:
            tally.latencies.append((time.perf_counter() - started) * 1000)
            tally.passive += 1
            stats[0] += 1
            stats[1] += 1
            continue
        deadline = time.perf_counter() + REPLY_WAIT_S
        arrived: Optional[Dict[str, Any]] = None
        while time.perf_counter() < deadline:
            arrived = _first_custom_after(platform, openid, started_wall)
            if arrived:
                break
            await asyncio.sleep(0.01)
        if arrived is None:
            tally.lost += 1
            continue
        if _is_apology((arrived.get("text") or {}).get("content")):
            tally.failed += 1
            stats[0] += 1
            continue
        tally.latencies.append((arrived["_at"] - started_wall) * 1000)
        tally.custom += 1
        stats[0] += 1


async def rest_user(client: httpx.AsyncClient, rasa_url: str, tally: Tally, stop_at: Optional[float],
                    count: int, questions: List[str], conversation: int = 0) -> None:
    i = 0
    while (stop_at is None and i < count) or (stop_at is not None and time.monotonic() < stop_at):
        if _starts_conversation(i, conversation):
            sender = "bench_rest_" + uuid.uuid4().hex[:12]
        question = questions[i % len(questions)]
        i += 1
        tally.sent += 1
        started = time.perf_counter()
        try:
            resp = await client.post(f"{rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": question},
                                     timeout=REPLY_WAIT_S)
            answers = resp.json() if resp.status_code == 200 else []
            ok = bool(answers)
            if ok and any(_is_apology(a.get("text")) for a in answers):
                tally.failed += 1
                continue
        except (httpx.HTTPError, ValueError):
            ok = False
        if ok:
            tally.latencies.append((time.perf_counter() - started) * 1000)
        else:
            tally.lost += 1


async def phase(kind: str, users: int, *, count: int = 0, seconds: float = 0.0, pusher=None, platform=None,
                rasa_url: str = "", questions: List[str] = QUESTIONS,
                cpu_groups: Optional[Dict[str, int]] = None, conversation: int = 0) -> Dict[str, Any]:
    """One closed-loop run; with ``cpu_groups`` ({service: pgid}) also the CPU each service spent per message;
    ``conversation`` > 0: each user slot starts a new user's conversation every that many messages."""
    cpu_before = group_cpu_seconds(cpu_groups) if cpu_groups else {}
    tally = Tally()
    deliveries: Dict[str, List[int]] = {}
    limits = httpx.Limits(max_connections=users + 10, max_keepalive_connections=users + 10)
    async with httpx.AsyncClient(limits=limits) as client:
        stop_at = time.monotonic() + seconds if seconds else None
        started = time.monotonic()
        if kind == "wechat":
            jobs = [wechat_user(client, pusher, platform, tally, stop_at, count, questions, deliveries,
                                conversation) for _ in range(users)]
        else:
            jobs = [rest_user(client, rasa_url, tally, stop_at, count, questions, conversation)
                    for _ in range(users)]
        await asyncio.gather(*jobs)
        elapsed = time.monotonic() - started
    if kind == "wechat":
        await asyncio.sleep(2.0)          # late duplicates through the API would arrive by now
        for openid, (answered, passive) in deliveries.items():
            tally.duplicated += max(0, passive + _custom_count(platform, openid) - answered)
    result = tally.summary(elapsed)
    result.update(channel=kind, users=users, question_set="greeting" if questions == GREETING else "faq",
                  conversation=conversation or "whole run")
    if cpu_groups and result["sent"]:
        spent = {name: used - cpu_before[name] for name, used in group_cpu_seconds(cpu_groups).items()}
        result["cpu_ms_per_msg"] = {name: round(sec * 1000 / result["sent"], 1) for name, sec in spent.items()}
        services = sum(sec for name, sec in spent.items() if name != "loadgen")
        result["cpu_ms_per_msg"]["services"] = round(services * 1000 / result["sent"], 1)
        # what 2 cores could carry if the services had them to themselves and used both fully
        result["ceiling_msgs_per_s_2_cores"] = round(2 * result["sent"] / services, 1) if services else None
        result["cores_busy"] = round(sum(spent.values()) / elapsed, 2)
    print(f"  {kind:6} users={users:2} sent={result['sent']:4} p50={result['latency_ms'].get('p50')} "
          f"p95={result['latency_ms'].get('p95')} msg/s={result['msgs_per_s']} lost={result['lost']} "
          f"dup={result['duplicated']} failed={result['failed']}", flush=True)
    return result


PHASES = ("latency", "greeting", "sustained", "channel")


def run(quick: bool, ports: Dict[str, int], phases: tuple = PHASES) -> Dict[str, Any]:
    platform = FakeWeChatPlatform(custom_quota=10**9).start()
    platform.add_app(APP_ID, APP_SECRET)
    aes_key = new_aes_key()
    var_dir = Path(tempfile.mkdtemp(prefix="bench-wechat-"))
    rasa_url = f"http://127.0.0.1:{ports['rasa']}"
    settings = load_settings({
        "RASA_PORT": str(ports["rasa"]), "ACTION_PORT": str(ports["actions"]), "WEB_PORT": str(ports["web"]),
        "RASA_URL": rasa_url, "WEB_URL": f"http://127.0.0.1:{ports['web']}", "INSUREBOT_VAR_DIR": str(var_dir),
        "ACTION_SERVER_URL": f"http://127.0.0.1:{ports['actions']}/webhook",
        # one OpenID sends up to 40 questions back to back here, which the per-user limit (20/min) rightly
        # refuses: off for this throughput benchmark (bench/webhook_load.py keeps it, with realistic users)
        "RATE_LIMIT_PER_MINUTE": "0"})
    env = dict(os.environ, WECHAT_TOKEN=TOKEN, WECHAT_APP_ID=APP_ID, WECHAT_APP_SECRET=APP_SECRET,
               WECHAT_ENCODING_AES_KEY=aes_key, WECHAT_API_BASE_URL=platform.base_url)
    env.setdefault("EMBEDDING_MODEL_DIR", str(REPO_ROOT / "var" / "models" / "e5-small"))
    env.pop("REDIS_URL", None)
    env.pop("DATABASE_URL", None)
    load_before = os.getloadavg()
    print(f"starting the stack (logs: {var_dir / 'stack.log'}) ...", flush=True)
    log = open(var_dir / "stack.log", "w", encoding="utf-8")
    stack = start_stack(settings, env=env, log_sink=log)
    wait_healthy(settings)   # the knowledge index builds after start-up: measure the running system, not its build
    pusher = WeChatPusher(f"{rasa_url}/webhooks/wechat/webhook", TOKEN, APP_ID, aes_key=aes_key, mode="safe")
    results: Dict[str, Any] = {"latency": [], "sustained": []}
    try:
        asyncio.run(phase("wechat", 4, count=4, pusher=pusher, platform=platform))     # warm-up (model load)
        asyncio.run(phase("rest", 4, count=4, rasa_url=rasa_url))
        counts = {1: 10, 10: 4, 50: 2} if quick else {1: 40, 10: 20, 50: 8}
        for users, count in (counts.items() if "latency" in phases else ()):
            for kind in ("wechat", "rest"):
                results["latency"].append(asyncio.run(phase(kind, users, count=count, pusher=pusher,
                                                            platform=platform, rasa_url=rasa_url)))
        results["greeting"] = []
        for users in ((1, 10) if "greeting" in phases else ()):
            for kind in ("wechat", "rest"):
                results["greeting"].append(asyncio.run(phase(kind, users, count=10 if quick else 20, pusher=pusher,
                                                             platform=platform, rasa_url=rasa_url,
                                                             questions=GREETING)))
        seconds = 10.0 if quick else 60.0
        groups = {svc.name: svc.process.pid for svc in stack.services if svc.process}
        # realistic conversations (a user asks a few questions, then the next user comes), then the same
        # 10 users for the whole run: their conversations grow to ~90 turns, which Rasa pays for per turn
        for conversation in ((CONVERSATION_MESSAGES, 0) if "sustained" in phases else ()):
            for kind in ("wechat", "rest"):
                results["sustained"].append(asyncio.run(phase(kind, 10, seconds=seconds, pusher=pusher,
                                                              platform=platform, rasa_url=rasa_url,
                                                              cpu_groups=groups, conversation=conversation)))
        time.sleep(3.0)
        results["late_customer_messages_total"] = len(platform.custom_messages)
        results["channel_only"] = channel_only() if "channel" in phases else []
    finally:
        pusher.close()
        stack.stop()
        platform.stop()
    results["setup"] = {"mode": "safe (AES)", "store": "SQLite (no REDIS_URL)", "questions": QUESTIONS,
                        "quick": quick, "load_generator": "same machine (shares the 2 cores)",
                        "loadavg_1m_before_after": [round(load_before[0], 1), round(os.getloadavg()[0], 1)]}
    return results


async def _channel_only(store_kind: str, users: int, per_user: int) -> Dict[str, Any]:
    """The webhook alone (no Rasa): signature, AES both ways, XML, ledger; an instant bot."""
    from connectors.config import WeChatConfig
    from connectors.kvstore import RedisStore, SqliteStore
    from connectors.ledger import TurnLedger
    from connectors.wechat_webhook import WeChatWebhook

    aes_key = new_aes_key()
    store = (SqliteStore(Path(tempfile.mkdtemp(prefix="bench-ch-")) / "kv.sqlite3") if store_kind == "sqlite"
             else RedisStore("redis://127.0.0.1:6379/0", prefix=f"bench:{uuid.uuid4().hex}:"))
    config = WeChatConfig(token=TOKEN, app_id=APP_ID, app_secret=APP_SECRET, encoding_aes_key=aes_key,
                          api_base_url="http://127.0.0.1:9/cgi-bin/")

    async def instant_bot(text: str, sender: str, message_id: str, metadata: Dict[str, Any]) -> List[Dict[str, Any]]:
        return [{"text": "答：" + text}]

    hook = WeChatWebhook(config, TurnLedger(store), instant_bot)
    pusher = WeChatPusher("http://unused", TOKEN, APP_ID, aes_key=aes_key, mode="safe")
    batches = [[pusher.build(pusher.text(f"oCh{u:03d}", QUESTIONS[i % len(QUESTIONS)])) for i in range(per_user)]
               for u in range(users)]
    latencies: List[float] = []
    bodies: List[str] = []

    async def user(batch: List[Any]) -> None:
        for params, body in batch:
            started = time.perf_counter()
            reply = await hook.receive(params, body)
            latencies.append((time.perf_counter() - started) * 1000)
            bodies.append(reply.body)

    started = time.perf_counter()
    await asyncio.gather(*(user(b) for b in batches))
    elapsed = time.perf_counter() - started
    await hook.drain()
    answered = sum(1 for b in bodies if (pusher.decode_reply(b) or {}).get("Content", "").startswith("答："))
    store.close()
    return {"store": store_kind, "users": users, "messages": len(bodies), "answered": answered,
            "msgs_per_s": round(len(bodies) / elapsed, 1), "latency_ms": percentiles(latencies)}


def channel_only() -> List[Dict[str, Any]]:
    rows = []
    for store_kind in ("sqlite", "redis"):
        for users in (1, 50):
            row = asyncio.run(_channel_only(store_kind, users, 400 if users == 1 else 20))
            print(f"  channel-only store={store_kind} users={users} msg/s={row['msgs_per_s']} "
                  f"p95={row['latency_ms']['p95']} answered={row['answered']}/{row['messages']}", flush=True)
            rows.append(row)
    return rows


def target_rows(results: Dict[str, Any]) -> List[List[Any]]:
    """The issue's targets against this run's WeChat rows (a target with no row in the run: '-')."""
    wechat = [r for r in results["latency"] + results["sustained"] + results.get("greeting", [])
              if r["channel"] == "wechat"]
    ten = next((r for r in results["latency"] if r["channel"] == "wechat" and r["users"] == 10), None)
    sustained = next((r for r in results["sustained"] if r["channel"] == "wechat"
                      and r.get("conversation") == CONVERSATION_MESSAGES), None)
    p95 = ten["latency_ms"].get("p95") if ten else None
    rate = sustained["msgs_per_s"] if sustained else None
    lost = sum(r["lost"] for r in wechat)
    duplicated = sum(r["duplicated"] for r in wechat)

    def verdict(ok: Optional[bool]) -> str:
        return "-" if ok is None else "yes" if ok else "NO"

    return [
        ["p95 <= 500 ms, FAQ, 10 concurrent users", p95 if p95 is not None else "-",
         verdict(None if p95 is None else p95 <= 500)],
        [f">= 30 msgs/s sustained for 60 s ({CONVERSATION_MESSAGES}-message conversations, 2 cores)",
         f"{rate} over {sustained['seconds']} s" if sustained else "-",
         verdict(None if rate is None else rate >= 30)],
        [f"0 lost (all WeChat rows, {sum(r['sent'] for r in wechat)} messages)", lost,
         verdict(lost == 0 if wechat else None)],
        ["0 duplicated (all WeChat rows)", duplicated, verdict(duplicated == 0 if wechat else None)],
    ]


def markdown(results: Dict[str, Any]) -> str:
    rows = [[r["channel"], r["users"], r["sent"], r["latency_ms"].get("p50"), r["latency_ms"].get("p95"),
             r["msgs_per_s"], r["lost"], r.get("failed", 0), r["duplicated"],
             f"{r['passive']}/{r['custom']}" if r["channel"] == "wechat" else "-",
             r.get("wechat_retries", "-") if r["channel"] == "wechat" else "-"]
            for r in results["latency"]]
    greeting = [[r["channel"], r["users"], r["sent"], r["latency_ms"].get("p50"), r["latency_ms"].get("p95"),
                 r["msgs_per_s"], r["lost"], r.get("failed", 0), r["duplicated"]] for r in results.get("greeting", [])]
    sustained = [[r["channel"], r["users"], r.get("conversation", "whole run"), r["seconds"], r["sent"],
                  r["msgs_per_s"], r["latency_ms"].get("p95"), r["lost"], r.get("failed", 0), r["duplicated"]]
                 for r in results["sustained"]]
    cpu = [[r["channel"], r.get("conversation", "whole run"), *(r["cpu_ms_per_msg"].get(n, "-") for n in ("rasa", "actions", "web", "services", "loadgen")),
            r["cores_busy"], r["ceiling_msgs_per_s_2_cores"]] for r in results["sustained"] if "cpu_ms_per_msg" in r]
    channel = [[r["store"], r["users"], r["messages"], r["answered"], r["msgs_per_s"], r["latency_ms"].get("p50"),
                r["latency_ms"].get("p95")] for r in results.get("channel_only", [])]
    return "\n".join([
        "# WeChat webhook benchmark",
        "",
        "FAQ questions pushed as WeChat users (safe mode: signed + AES-encrypted XML) to the `wechat` channel, "
        "next to the same questions through Rasa's REST channel. Latency = push -> reply the user sees.",
        "Targets: p95 <= 500 ms at 10 users, >= 30 msgs/s, 0 lost, 0 duplicated. 'failed': the reply was the "
        "channel's error apology (a turn that raised): not counted as an answer.",
        "",
        "## Targets",
        "",
        md_table(["target", "measured", "met"], target_rows(results)),
        "",
        "## Latency by concurrency",
        "",
        md_table(["channel", "users", "messages", "p50 ms", "p95 ms", "msgs/s", "lost", "failed", "duplicated",
                  "passive/custom", "WeChat retries"], rows),
        "",
        "## Channel overhead: greeting (fixed response, no custom action)",
        "",
        md_table(["channel", "users", "messages", "p50 ms", "p95 ms", "msgs/s", "lost", "failed", "duplicated"],
                 greeting),
        "",
        "## Sustained throughput (FAQ questions)",
        "",
        "Each of 10 user slots sends its next question as soon as it has the answer. 'messages per user': a "
        "slot's user asks that many questions and the next user takes over (a realistic conversation), or one "
        "user keeps the slot for the whole run (conversations grow to ~90 turns; Rasa re-reads and re-featurizes "
        "the whole session on every turn, so each turn costs more than the one before).",
        "",
        md_table(["channel", "users", "messages per user", "seconds", "messages", "msgs/s", "p95 ms", "lost",
                  "failed", "duplicated"], sustained),
        "",
        "## CPU per message during the sustained run (from /proc, each service's process group)",
        "",
        "The ceiling is 2 cores divided by the services' CPU per message: the most this stack could carry on "
        "this machine if nothing else (the load generator included) used the cores and both were kept busy.",
        "",
        md_table(["channel", "messages per user", "rasa ms", "actions ms", "web ms", "services ms", "load generator ms",
                  "cores busy", "ceiling msgs/s on 2 cores"], cpu),
        "",
        "## The channel alone (no Rasa: signature, AES both ways, XML, ledger; instant bot)",
        "",
        md_table(["store", "users", "messages", "answered", "msgs/s", "p50 ms", "p95 ms"], channel),
        "",
        f"Setup: {results.get('setup')}",
        "",
    ])


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run (10 s sustained)")
    parser.add_argument("--channel-only", action="store_true", help="only the in-process channel measurement")
    parser.add_argument("--phases", default=",".join(PHASES),
                        help=f"comma-separated subset of {','.join(PHASES)} (a partial run writes *_partial files)")
    parser.add_argument("--rasa-port", type=int, default=15005)
    parser.add_argument("--action-port", type=int, default=15055)
    parser.add_argument("--web-port", type=int, default=18000)
    args = parser.parse_args(argv)
    if args.channel_only:
        rows = channel_only()
        write_results("wechat_webhook_channel", {"channel_only": rows}, markdown(
            {"latency": [], "sustained": [], "channel_only": rows, "setup": "in-process, safe mode"}))
        return 0
    phases = tuple(p for p in args.phases.split(",") if p)
    unknown = set(phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases {sorted(unknown)}; choose from {PHASES}")
    results = run(args.quick, {"rasa": args.rasa_port, "actions": args.action_port, "web": args.web_port}, phases)
    suffix = "_quick" if args.quick else "_partial" if set(phases) != set(PHASES) else ""
    write_results("wechat_webhook" + suffix, results, markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
