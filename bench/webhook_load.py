"""Benchmark: the WeChat webhook under a night-peak profile, with Rasa's REST channel as the baseline.

Starts the real stack (Rasa, actions, web) once, the Official Account channel in safe (AES) mode
pointed at the fake WeChat platform (the set-up of bench/wechat_webhook.py, whose helpers this reuses),
then for each channel:
- ramps to ``--users`` concurrent users over ``--ramp-minutes`` (user slots start linearly), holds the
  peak for ``--hold-seconds``; each slot plays one scripted conversation after another, every
  conversation with a new OpenID / sender, picked from a weighted mix:
  60 % FAQ (3-5 questions), 30 % quote (the accident-insurance form, turn by turn),
  10 % hand-off (转人工, then goodbye); 2-8 s think time between messages, like people typing;
- per message: latency push -> reply the user sees (passive reply, or the first customer-service
  message through the fake platform), errors (non-200, exceptions, apology texts), lost (no reply
  within 15 s), duplicated (a second reply set for one MsgId: a passive reply plus API messages, or
  the same API text twice); WeChat's own retries (same MsgId, after 5 s without a response) are played;
- per minute: messages sent/answered, throughput, active users, p50/p95;
- memory: RSS of the Rasa, action and web process groups (/proc VmRSS), sampled every 10 s.
The load generator runs on the same machine (it shares the cores with the stack).

usage: .venv-app/bin/python bench/webhook_load.py [--ramp-minutes 10] [--users 50] [--hold-seconds 60]
       [--channel wechat|rest|both] [--out-name webhook_load] [--port-offset 37000] [--seed 8]
writes bench/results/<out-name>.json + .md (ports offset+5005 / +5055 / +8000: 42005/42055/45000)
A full run (both channels, defaults) takes about 25 minutes.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.bench_utils import md_table, percentiles, write_results  # noqa: E402
from bench.procstat import pgrp_members, rss_mb  # noqa: E402
from bench.wechat_webhook import (APP_ID, APP_SECRET, QUESTIONS, REPLY_WAIT_S, TOKEN,  # noqa: E402
                                  WECHAT_TIMEOUT_S)
from common.settings import REPO_ROOT, load_settings  # noqa: E402
from common.stack import start_stack, wait_healthy  # noqa: E402
from connectors.fault_replies import REPLY_HANDOFF_UNAVAILABLE  # noqa: E402
from connectors.messages import REPLY_ERROR, REPLY_RATE_LIMITED  # noqa: E402
from tests.fakes.wechat_platform import FakeWeChatPlatform  # noqa: E402
from tests.fakes.wechat_pusher import WeChatPusher, new_aes_key  # noqa: E402

FAQ_QUESTIONS = QUESTIONS + ["重疾险和医疗险有什么区别", "保单怎么退保", "意外险保哪些", "怎么修改受益人"]
QUOTE_TURNS = ["我想买意外险", "给我自己 30岁", "办公室文员", "50万", "月缴"]   # tests/quotes e2e flow
HANDOFF_TURNS = ["转人工", "好的 再见"]
MIX = (("faq", 0.6), ("quote", 0.3), ("handoff", 0.1))
THINK_S = (2.0, 8.0)
WECHAT_ATTEMPTS = 3                 # WeChat retries twice when it has no response after 5 s
APOLOGIES = {"error": REPLY_ERROR, "handoff_unavailable": REPLY_HANDOFF_UNAVAILABLE,
             "rate_limited": REPLY_RATE_LIMITED}
SAMPLE_EVERY_S = 10.0
LATE_GRACE_S = 3.0


def pick_script(rng: random.Random) -> Tuple[str, List[str]]:
    roll, acc = rng.random(), 0.0
    for kind, weight in MIX:
        acc += weight
        if roll < acc:
            break
    if kind == "faq":
        return kind, rng.sample(FAQ_QUESTIONS, rng.randint(3, 5))
    return kind, list(QUOTE_TURNS if kind == "quote" else HANDOFF_TURNS)


def apology(texts: List[str]) -> Optional[str]:
    for reason, text in APOLOGIES.items():
        if any(text in t for t in texts):
            return reason
    return None


# ---- memory: RSS of each service's process group (a service may fork workers) ------------------
class MemorySampler(threading.Thread):
    """Every 10 s: RSS (MB) per service group, the load generator's own RSS and the 1-min load average."""

    def __init__(self, stack: Any) -> None:
        super().__init__(daemon=True)
        self.groups = {svc.name: svc.process.pid for svc in stack.services if svc.process}
        self.samples: List[Dict[str, Any]] = []
        self.phase = "start"
        self.stopped = threading.Event()

    def sample(self) -> Dict[str, Any]:
        row: Dict[str, Any] = {"t": time.time(), "phase": self.phase,
                               "loadavg_1m": round(os.getloadavg()[0], 2),
                               "loadgen": round(rss_mb(os.getpid()), 1)}
        for name, pgid in self.groups.items():
            row[name] = round(sum(rss_mb(p) for p in pgrp_members(pgid)), 1)
        self.samples.append(row)
        return row

    def run(self) -> None:
        while not self.stopped.is_set():
            self.sample()
            self.stopped.wait(SAMPLE_EVERY_S)

    def summary(self, phase: str) -> Dict[str, Any]:
        rows = [r for r in self.samples if r["phase"] == phase]
        if not rows:
            return {}
        out: Dict[str, Any] = {"samples": len(rows), "loadavg_1m_max": max(r["loadavg_1m"] for r in rows)}
        for name in list(self.groups) + ["loadgen"]:
            out[name] = {"start_mb": rows[0][name], "peak_mb": max(r[name] for r in rows), "end_mb": rows[-1][name]}
        return out


# ---- customer-service messages, indexed per OpenID as they arrive at the fake platform ---------
class CustomIndex:
    def __init__(self, platform: FakeWeChatPlatform) -> None:
        self.platform = platform
        self.cursor = 0
        self.by_user: Dict[str, List[Tuple[float, str]]] = defaultdict(list)

    def poll(self) -> None:
        with self.platform.lock:
            new = self.platform.custom_messages[self.cursor:]
            self.cursor += len(new)
        for m in new:
            self.by_user[m.get("touser", "")].append((m["_at"], (m.get("text") or {}).get("content", "")))

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.poll()
            await asyncio.sleep(0.02)
        self.poll()


class Run:
    """One channel's load run: message records, active-user samples."""

    def __init__(self, kind: str, users: int, ramp_s: float, hold_s: float, seed: int) -> None:
        self.kind, self.users, self.ramp_s, self.hold_s = kind, users, ramp_s, hold_s
        self.rng = random.Random(seed)    # the same conversation picks and think times for both channels
        self.records: List[Dict[str, Any]] = []
        self.active = 0
        self.active_samples: List[Tuple[float, int]] = []
        self.conversations: Dict[str, int] = defaultdict(int)
        self.t0 = 0.0
        self.msg_ids = iter(range(random.Random(seed).randrange(10**15, 10**16), 10**17))
        self.pending: List[Tuple[Dict[str, Any], str, int]] = []   # (record, openid, custom index at send)

    def record(self, user: str, script: str, text: str, sent_at: float) -> Dict[str, Any]:
        rec = {"t": round(sent_at - self.t0, 3), "user": user, "script": script, "text": text,
               "latency_ms": None, "lost": False, "error": None, "duplicated": False, "late": False,
               "delivery": None, "attempts": 0, "reply": None}
        self.records.append(rec)
        return rec

    def finish(self, rec: Dict[str, Any], started: float, arrived: Optional[float], texts: List[str]) -> None:
        if arrived is None:
            rec["lost"] = True
            return
        rec["latency_ms"] = round((arrived - started) * 1000, 1)
        rec["reply"] = " | ".join(texts)[:80]
        reason = apology(texts)
        if reason and rec["error"] is None:
            rec["error"] = "apology:" + reason


# ---- WeChat users ---------------------------------------------------------------------------
def close_window(index: CustomIndex, rec: Dict[str, Any], openid: str, first: int) -> None:
    """Everything the platform delivered to ``openid`` between this message and the next one.

    A second reply set for the same MsgId: a passive reply and API messages too, or one API text twice.
    API messages for a lost message arriving after the 15 s wait are counted as late, not duplicated.
    """
    index.poll()
    window = index.by_user.get(openid, [])[first:]
    if rec["lost"]:
        rec["late"] = bool(window)
        return
    texts = [t for _, t in window]
    if rec["delivery"] == "passive":
        rec["duplicated"] = bool(texts)
    else:
        rec["duplicated"] = len(texts) != len(set(texts))


async def wechat_message(run: Run, client: httpx.AsyncClient, pusher: WeChatPusher, index: CustomIndex,
                         openid: str, script: str, text: str) -> None:
    fields = pusher.text(openid, text, msg_id=next(run.msg_ids))
    for rec_prev, user_prev, first_prev in [p for p in run.pending if p[1] == openid]:
        close_window(index, rec_prev, user_prev, first_prev)
        run.pending.remove((rec_prev, user_prev, first_prev))
    index.poll()
    first = len(index.by_user.get(openid, []))
    started = time.time()
    rec = run.record(openid, script, text, started)
    passive: Optional[str] = None
    replied_at: Optional[float] = None
    for _ in range(WECHAT_ATTEMPTS):
        rec["attempts"] += 1
        params, body = pusher.build(fields)          # a retry: same MsgId, new timestamp/nonce/signature
        try:
            resp = await client.post(pusher.url, params=params, content=body, timeout=WECHAT_TIMEOUT_S,
                                     headers={"Content-Type": "text/xml"})
        except httpx.TimeoutException:
            rec["error"] = "timeout"                 # WeChat waits 5 s, then retries
            continue
        except httpx.HTTPError as exc:
            rec["error"] = "exception:" + type(exc).__name__
            await asyncio.sleep(0.5)
            continue
        if resp.status_code != 200:
            rec["error"] = f"http_{resp.status_code}"
            break
        rec["error"] = None                          # a retry that got through is not an error
        try:
            reply = pusher.decode_reply(resp.text)
        except Exception as exc:                     # bad signature / AppId / XML on the reply
            rec["error"] = "bad_reply:" + type(exc).__name__
            break
        passive = (reply or {}).get("Content")
        if passive:
            replied_at = time.time()
        break
    texts: List[str] = []
    if passive:
        rec["delivery"] = "passive"
        texts = [passive]
    else:
        deadline = started + REPLY_WAIT_S
        while time.time() < deadline:
            window = index.by_user.get(openid, [])[first:]
            if window:
                replied_at = window[0][0]
                await asyncio.sleep(0.3)             # the other chunks of a long answer
                texts = [t for _, t in index.by_user.get(openid, [])[first:]]
                rec["delivery"] = "custom"
                break
            await asyncio.sleep(0.05)
    run.finish(rec, started, replied_at, texts)
    run.pending.append((rec, openid, first))


async def rest_message(run: Run, client: httpx.AsyncClient, rasa_url: str, sender: str, script: str,
                       text: str) -> None:
    started = time.time()
    rec = run.record(sender, script, text, started)
    rec["attempts"] = 1
    arrived, texts = None, []
    try:
        resp = await client.post(f"{rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": text},
                                 timeout=REPLY_WAIT_S)
        if resp.status_code != 200:
            rec["error"] = f"http_{resp.status_code}"
        else:
            messages = resp.json()
            texts = [m.get("text", "") for m in messages if isinstance(m, dict)]
            if messages:
                arrived = time.time()
                rec["delivery"] = "rest"
    except httpx.TimeoutException:
        pass                                         # lost: nothing within 15 s
    except (httpx.HTTPError, ValueError) as exc:
        rec["error"] = "exception:" + type(exc).__name__
    run.finish(rec, started, arrived, texts)


async def slot(run: Run, number: int, stop_at: float, send: Any) -> None:
    """One user slot: starts at its place in the ramp, then plays conversations until the end."""
    rng = random.Random(run.rng.random())
    await asyncio.sleep(max(0.0, run.t0 + number * run.ramp_s / run.users - time.time()))
    while time.time() < stop_at:
        script, turns = pick_script(rng)
        user = f"oLoad{run.kind[0]}{number:03d}_{uuid.uuid4().hex[:10]}"
        run.conversations[script] += 1
        run.active += 1
        try:
            for i, text in enumerate(turns):
                if i:
                    await asyncio.sleep(rng.uniform(*THINK_S))
                if time.time() >= stop_at:
                    break
                await send(user, script, text)
        finally:
            run.active -= 1
        await asyncio.sleep(min(rng.uniform(*THINK_S), max(0.0, stop_at - time.time())))  # the next person


async def play(run: Run, *, pusher: Optional[WeChatPusher] = None, platform: Optional[FakeWeChatPlatform] = None,
               rasa_url: str = "") -> None:
    limits = httpx.Limits(max_connections=run.users + 10, max_keepalive_connections=run.users + 10)
    stop = asyncio.Event()
    index = CustomIndex(platform) if platform is not None else None
    async with httpx.AsyncClient(limits=limits) as client:
        if run.kind == "wechat":
            assert pusher is not None and platform is not None and index is not None

            async def send(user: str, script: str, text: str) -> None:
                platform.user_interacted(user)                  # WeChat opens the 48-hour window itself
                await wechat_message(run, client, pusher, index, user, script, text)
        else:
            async def send(user: str, script: str, text: str) -> None:
                await rest_message(run, client, rasa_url, user, script, text)

        async def watch() -> None:
            while not stop.is_set():
                run.active_samples.append((time.time() - run.t0, run.active))
                await asyncio.sleep(1.0)

        run.t0 = time.time()
        stop_at = run.t0 + run.ramp_s + run.hold_s
        helpers = [asyncio.create_task(watch())]
        if index is not None:
            helpers.append(asyncio.create_task(index.run(stop)))
        last_minute = -1
        slots = asyncio.gather(*(slot(run, n, stop_at, send) for n in range(run.users)))
        while not slots.done():
            minute = int((time.time() - run.t0) // 60)
            if minute != last_minute:
                print(f"  {run.kind:6} minute {minute}: active={run.active} sent={len(run.records)} "
                      f"lost={sum(r['lost'] for r in run.records)} "
                      f"errors={sum(1 for r in run.records if r['error'])}", flush=True)
                last_minute = minute
            await asyncio.sleep(1.0)
        await slots
        if index is not None:
            await asyncio.sleep(LATE_GRACE_S)                   # late duplicates through the API arrive by now
            for rec, openid, first in run.pending:
                close_window(index, rec, openid, first)
            run.pending.clear()
        stop.set()
        await asyncio.gather(*helpers)


# ---- summaries ------------------------------------------------------------------------------
def summarize(run: Run, elapsed: float) -> Dict[str, Any]:
    recs = run.records
    lat = [r["latency_ms"] for r in recs if r["latency_ms"] is not None]
    errors: Dict[str, int] = defaultdict(int)
    for r in recs:
        if r["error"]:
            errors[r["error"]] += 1
    by_script = {}
    for script, _ in MIX:
        sub = [r["latency_ms"] for r in recs if r["script"] == script and r["latency_ms"] is not None]
        by_script[script] = {"messages": sum(1 for r in recs if r["script"] == script), **percentiles(sub)}
    minutes = []
    total_s = run.ramp_s + run.hold_s
    for m in range(int((max([r["t"] for r in recs] + [total_s]) // 60)) + 1):
        sub = [r for r in recs if m * 60 <= r["t"] < (m + 1) * 60]
        span = max(1.0, min(60.0, elapsed - m * 60))
        mlat = [r["latency_ms"] for r in sub if r["latency_ms"] is not None]
        active = [a for t, a in run.active_samples if m * 60 <= t < (m + 1) * 60]
        p = percentiles(mlat)
        minutes.append({"minute": m, "active_users_max": max(active) if active else 0,
                        "active_users_end": active[-1] if active else 0,
                        "sent": len(sub), "answered": len(mlat), "msgs_per_s": round(len(mlat) / span, 2),
                        "p50": p.get("p50"), "p95": p.get("p95"),
                        "errors": sum(1 for r in sub if r["error"]), "lost": sum(r["lost"] for r in sub),
                        "duplicated": sum(r["duplicated"] for r in sub)})
    return {"channel": run.kind, "users": run.users, "ramp_s": run.ramp_s, "hold_s": run.hold_s,
            "seconds": round(elapsed, 1), "conversations": dict(run.conversations), "sent": len(recs),
            "answered": len(lat), "msgs_per_s": round(len(lat) / elapsed, 2) if elapsed else 0,
            "peak_msgs_per_s": max((m["msgs_per_s"] for m in minutes), default=0),
            "latency_ms": percentiles(lat), "by_script": by_script,
            "errors": sum(errors.values()), "error_kinds": dict(errors),
            "lost": sum(r["lost"] for r in recs), "duplicated": sum(r["duplicated"] for r in recs),
            "late": sum(r["late"] for r in recs), "retried": sum(1 for r in recs if r["attempts"] > 1),
            "delivery": {k: sum(1 for r in recs if r["delivery"] == k) for k in ("passive", "custom", "rest")},
            "per_minute": minutes}


def markdown(results: Dict[str, Any]) -> str:
    runs = results["runs"]
    mem = results["memory"]

    def peak(ch: str, svc: str) -> Any:
        return (mem.get(ch) or {}).get(svc, {}).get("peak_mb", "-")

    def end(ch: str, svc: str) -> Any:
        return (mem.get(ch) or {}).get(svc, {}).get("end_mb", "-")

    main = [[r["channel"], r["sent"], r["answered"], r["latency_ms"].get("p50"), r["latency_ms"].get("p95"),
             r["latency_ms"].get("p99"), r["msgs_per_s"], r["peak_msgs_per_s"], r["errors"], r["lost"],
             r["duplicated"] if r["channel"] == "wechat" else "n/a",
             f"{peak(r['channel'], 'rasa')} / {peak(r['channel'], 'actions')} / {peak(r['channel'], 'web')}",
             f"{end(r['channel'], 'rasa')} / {end(r['channel'], 'actions')} / {end(r['channel'], 'web')}"]
            for r in runs]
    scripts = [[r["channel"], s, v["messages"], v.get("p50"), v.get("p95"), v.get("p99")]
               for r in runs for s, v in r["by_script"].items()]
    lines = [
        "# WeChat webhook under a night-peak load",
        "",
        f"Profile: ramp to {results['setup']['users']} concurrent users over {results['setup']['ramp_minutes']} min "
        f"(slots start linearly), hold {results['setup']['hold_seconds']} s at the peak; each slot plays one "
        "conversation after another with a new OpenID each time: 60 % FAQ (3-5 questions), 30 % quote "
        f"({' / '.join(QUOTE_TURNS)}), 10 % hand-off ({' / '.join(HANDOFF_TURNS)}); think time "
        f"{THINK_S[0]:.0f}-{THINK_S[1]:.0f} s. WeChat: safe mode (signed + AES XML) to the `wechat` channel, "
        "latency = push -> passive reply or first customer-service message at the fake platform, WeChat's "
        "retries played (same MsgId after 5 s). REST: the same profile (same seed) to `/webhooks/rest/webhook`.",
        "",
        "Errors = non-200, exceptions, timeouts without a later successful retry, apology texts "
        "(system error / hand-off unavailable / rate limited). Lost = no reply within 15 s. "
        "Duplicated = a second reply set for one MsgId (WeChat only; REST answers in the response).",
        "",
        "## Per channel",
        "",
        md_table(["channel", "messages", "answered", "p50 ms", "p95 ms", "p99 ms", "msgs/s (avg)",
                  "msgs/s (peak min)", "errors", "lost", "dup", "peak RSS MB rasa/actions/web",
                  "end RSS MB rasa/actions/web"], main),
        "",
        "Error kinds: " + "; ".join(f"{r['channel']}: {r['error_kinds'] or 'none'}" for r in runs),
        "",
        "WeChat delivery: " + "; ".join(f"{r['delivery']['passive']} passive / {r['delivery']['custom']} "
                                        f"customer-service, {r['retried']} retried by WeChat, {r['late']} late"
                                        for r in runs if r["channel"] == "wechat"),
        "",
        "## Latency by conversation type",
        "",
        md_table(["channel", "conversation", "messages", "p50 ms", "p95 ms", "p99 ms"], scripts),
        "",
    ]
    for r in runs:
        rows = [[m["minute"], m["active_users_max"], m["sent"], m["answered"], m["msgs_per_s"], m["p50"], m["p95"],
                 m["errors"], m["lost"], m["duplicated"]] for m in r["per_minute"]]
        lines += [f"## Per minute: {r['channel']}", "",
                  md_table(["minute", "active users (max)", "sent", "answered", "msgs/s", "p50 ms", "p95 ms",
                            "errors", "lost", "dup"], rows), ""]
    setup = results["setup"]
    lines += [
        "## Machine",
        "",
        f"Load average (1 min) before / after: {setup['loadavg_before']} / {setup['loadavg_after']}; "
        f"max during the runs: " + ", ".join(f"{ch} {m.get('loadavg_1m_max')}" for ch, m in mem.items() if m)
        + f". {setup['cpus']} cores, shared: the load generator runs on the same machine (one asyncio process, "
        f"peak RSS " + ", ".join(f"{ch} {m['loadgen']['peak_mb']} MB" for ch, m in mem.items() if m)
        + ") and other work was running on it. RSS = VmRSS summed over each service's process group, "
        "sampled every 10 s; both channels ran against the same stack, WeChat first (the REST run starts "
        "from the memory the WeChat run left).",
        "",
        f"Setup: {setup}",
        "",
    ]
    return "\n".join(lines)


def start(ports: Dict[str, int]) -> Tuple[Any, FakeWeChatPlatform, WeChatPusher, str, Path]:
    """The stack of bench/wechat_webhook.py: safe mode, SQLite stores, the fake platform without quotas."""
    platform = FakeWeChatPlatform(custom_quota=10**9).start()
    platform.add_app(APP_ID, APP_SECRET)
    aes_key = new_aes_key()
    var_dir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    rasa_url = f"http://127.0.0.1:{ports['rasa']}"
    overrides = {
        "RASA_PORT": str(ports["rasa"]), "ACTION_PORT": str(ports["actions"]), "WEB_PORT": str(ports["web"]),
        "RASA_URL": rasa_url, "WEB_URL": f"http://127.0.0.1:{ports['web']}", "INSUREBOT_VAR_DIR": str(var_dir),
        "ACTION_SERVER_URL": f"http://127.0.0.1:{ports['actions']}/webhook"}
    shared_cache = REPO_ROOT / "var" / "cache" / "embeddings.sqlite"
    if shared_cache.exists():
        overrides["EMBEDDING_CACHE"] = str(shared_cache)      # the FAQ index builds from cached vectors
    settings = load_settings(overrides)
    env = dict(os.environ, WECHAT_TOKEN=TOKEN, WECHAT_APP_ID=APP_ID, WECHAT_APP_SECRET=APP_SECRET,
               WECHAT_ENCODING_AES_KEY=aes_key, WECHAT_API_BASE_URL=platform.base_url)
    env.setdefault("EMBEDDING_MODEL_DIR", str(REPO_ROOT / "var" / "models" / "e5-small"))
    env.pop("REDIS_URL", None)
    env.pop("DATABASE_URL", None)
    print(f"starting the stack on {ports} (logs: {var_dir / 'stack.log'}) ...", flush=True)
    log = open(var_dir / "stack.log", "w", encoding="utf-8")
    stack = start_stack(settings, env=env, log_sink=log, ready_timeout=300)
    try:
        wait_healthy(settings, timeout=300)
    except TimeoutError as exc:
        print(f"  warning: {exc}", flush=True)
    pusher = WeChatPusher(f"{rasa_url}/webhooks/wechat/webhook", TOKEN, APP_ID, aes_key=aes_key, mode="safe")
    return stack, platform, pusher, rasa_url, var_dir


async def warm_up(pusher: WeChatPusher, platform: FakeWeChatPlatform, rasa_url: str) -> None:
    """A few conversations through both channels first (model and index loading is not the profile)."""
    run = Run("warmup", 3, 0.0, 0.0, 0)
    index = CustomIndex(platform)
    async with httpx.AsyncClient() as client:
        for n, text in enumerate(["你好", FAQ_QUESTIONS[0], QUOTE_TURNS[0], QUOTE_TURNS[1]]):
            user = f"oWarm{n}_{uuid.uuid4().hex[:8]}"
            platform.user_interacted(user)
            await wechat_message(run, client, pusher, index, user, "warmup", text)
            await rest_message(run, client, rasa_url, "rest_" + user, "warmup", text)
    print(f"  warm-up: {[r['latency_ms'] for r in run.records]}", flush=True)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ramp-minutes", type=float, default=10.0)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--hold-seconds", type=float, default=60.0, help="time at the peak after the ramp")
    parser.add_argument("--channel", choices=("wechat", "rest", "both"), default="both")
    parser.add_argument("--out-name", default="webhook_load", help="bench/results/<name>.json + .md")
    parser.add_argument("--port-offset", type=int, default=37000, help="ports offset+5005/+5055/+8000")
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args(argv)
    ports = {"rasa": args.port_offset + 5005, "actions": args.port_offset + 5055, "web": args.port_offset + 8000}
    channels = ["wechat", "rest"] if args.channel == "both" else [args.channel]
    load_before = [round(x, 2) for x in os.getloadavg()]
    stack, platform, pusher, rasa_url, var_dir = start(ports)
    sampler = MemorySampler(stack)
    sampler.start()
    results: Dict[str, Any] = {"runs": [], "memory": {}}
    try:
        sampler.phase = "warmup"
        asyncio.run(warm_up(pusher, platform, rasa_url))
        for kind in channels:
            run = Run(kind, args.users, args.ramp_minutes * 60, args.hold_seconds, args.seed)
            sampler.phase = kind
            sampler.sample()
            started = time.time()
            asyncio.run(play(run, pusher=pusher, platform=platform, rasa_url=rasa_url))
            elapsed = time.time() - started
            sampler.sample()
            if stack.dead():
                print(f"  services died: {stack.dead()}", flush=True)
            summary = summarize(run, elapsed)
            summary["dead_services"] = stack.dead()
            results["runs"].append(summary)
            results["memory"][kind] = sampler.summary(kind)
            results.setdefault("records", {})[kind] = run.records
            lat = summary["latency_ms"]
            print(f"  {kind}: sent={summary['sent']} p50={lat.get('p50')} p95={lat.get('p95')} "
                  f"p99={lat.get('p99')} msg/s={summary['msgs_per_s']} errors={summary['errors']} "
                  f"lost={summary['lost']} dup={summary['duplicated']}", flush=True)
    finally:
        sampler.stopped.set()
        pusher.close()
        stack.stop()
        platform.stop()
    results["memory_samples"] = sampler.samples
    results["setup"] = {"users": args.users, "ramp_minutes": args.ramp_minutes, "hold_seconds": args.hold_seconds,
                        "channels": channels, "seed": args.seed, "mix": dict(MIX), "think_s": list(THINK_S),
                        "reply_wait_s": REPLY_WAIT_S, "mode": "safe (AES)", "store": "SQLite (no REDIS_URL)",
                        "ports": ports, "cpus": os.cpu_count(), "loadavg_before": load_before,
                        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
                        "load_generator": "same machine, one asyncio process (shares the cores)",
                        "stack_log": str(var_dir / "stack.log")}
    write_results(args.out_name, results, markdown(results))
    return 0 if all(not r["dead_services"] for r in results["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
