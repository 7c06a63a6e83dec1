"""Agents working from the WeCom app: what they type, parsed, and carried out.

  #结束 [编号]   end a hand-off          #接 编号      claim a queued hand-off / callback ticket
  #上线 #忙碌 #下线   set my status       #列表         my sessions and the queue
  #编号 内容     reply to hand-off 编号  anything else: reply to my only live hand-off
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from handoff.service import AgentInfo, HandoffError, HandoffService
from handoff.store import ACTIVE, CALLBACK, QUEUED

_END = re.compile(r"^#\s*(?:结束|end)\s*#?(\d+)?\s*$", re.IGNORECASE)
_CLAIM = re.compile(r"^#\s*(?:接|接入|认领)\s*#?(\d+)\s*$")
_STATUS = {"#上线": "online", "#在线": "online", "#忙碌": "busy", "#下线": "offline", "#离线": "offline"}
_REPLY = re.compile(r"^#(\d+)\s+(.+)$", re.DOTALL)
HELP = ("可用指令：#结束 [编号]｜#接 编号｜#上线 #忙碌 #下线｜#列表｜#编号 内容（回复指定会话）；"
        "直接发送文字即回复您唯一接待中的会话。")


@dataclass(frozen=True)
class Command:
    kind: str                      # end | claim | status | list | help | reply
    handoff_id: Optional[int] = None
    text: str = ""


def parse_command(text: str) -> Command:
    text = (text or "").strip()
    if (m := _END.match(text)):
        return Command("end", int(m.group(1)) if m.group(1) else None)
    if (m := _CLAIM.match(text)):
        return Command("claim", int(m.group(1)))
    if text in _STATUS:
        return Command("status", text=_STATUS[text])
    if text in ("#列表", "#会话", "#list"):
        return Command("list")
    if text in ("#帮助", "#help", "#?", "#？"):
        return Command("help")
    if (m := _REPLY.match(text)):
        return Command("reply", int(m.group(1)), m.group(2).strip())
    if text.startswith("#"):
        return Command("help")
    return Command("reply", None, text)


def execute(service: HandoffService, agent: AgentInfo, text: str) -> str:
    """Carry out one typed command; the answer (to show the agent) is always a sentence."""
    cmd = parse_command(text)
    mine = service.store.list([ACTIVE], agent_id=agent.user_id)
    try:
        if cmd.kind == "help":
            return HELP
        if cmd.kind == "status":
            service.store.set_agent_status(agent.user_id, cmd.text)
            if cmd.text == "online":
                service.dispatch()
            return {"online": "已上线，新会话会自动分配给您。", "busy": "已设为忙碌：不再自动分配新会话。",
                    "offline": "已下线。"}[cmd.text]
        if cmd.kind == "list":
            waiting = service.store.list([QUEUED, CALLBACK])
            lines = [f"接待中：{', '.join('#%d' % r.id for r in mine) or '无'}",
                     f"排队/回访：{', '.join('#%d' % r.id for r in waiting[:20]) or '无'}"]
            return "\n".join(lines)
        if cmd.kind == "claim":
            service.claim(cmd.handoff_id, agent.user_id)
            return f"已接入会话 #{cmd.handoff_id}。"
        target = cmd.handoff_id
        if target is None:
            if not mine:
                return "您当前没有接待中的会话。"
            if len(mine) > 1:
                ids = ", ".join(f"#{r.id}" for r in mine)
                return f"您正在接待多个会话（{ids}），请以“#编号 内容”或“#结束 编号”指明。"
            target = mine[0].id
        if cmd.kind == "end":
            row = service.store.get(target)
            if row is None or row.agent_id != agent.user_id:
                return f"会话 #{target} 不是您接待的会话。"
            return f"会话 #{target} 已结束，已请用户评分。" if service.end(target, reason="wecom_command",
                                                                  by=agent.user_id) else f"会话 #{target} 已经结束。"
        _, status = service.agent_reply(target, agent.user_id, cmd.text)
        return "" if status in ("sent", "outbox") else f"会话 #{target}：消息未送达（{status}）。"
    except HandoffError as exc:
        return exc.message
