"""What the user and the agents read during a hand-off (Simplified Chinese, one place)."""
from __future__ import annotations


def connected(agent_name: str) -> str:
    return f"已为您接通人工客服【{agent_name}】，请直接说明您的问题，客服会在这里回复您。"


def queued(position: int) -> str:
    ahead = f"您前面还有{position}位，" if position > 0 else ""
    return (f"好的，正在为您转接人工客服，{ahead}请稍候～接通前您发的消息客服都能看到，"
            "不用重复描述。")


def callback_off_hours(hours: str, back_at: str, ticket: int, window_min: int) -> str:
    return (f"人工客服的服务时间是每天{hours}（北京时间），现在不在服务时间，{back_at}客服上线。"
            f"已为您登记回访单（编号#{ticket}），客服上线后会优先联系您。"
            f"您可以在{window_min}分钟内直接留言补充问题，留言会一并转给客服；其他问题我也继续为您解答。")


def callback_no_agent(ticket: int, window_min: int) -> str:
    return (f"非常抱歉，人工客服暂时都不在线。已为您登记回访单（编号#{ticket}），客服上线后会优先联系您。"
            f"您可以在{window_min}分钟内直接留言补充问题，留言会一并转给客服；其他问题我也继续为您解答。")


def callback_again(ticket: int) -> str:
    return f"您的回访单（编号#{ticket}）已登记，客服上线后会优先联系您。您补充的留言我们都会转给客服。"


def already_waiting(position: int) -> str:
    return queued(position)


def claimed_callback(agent_name: str) -> str:
    return f"您好，我是人工客服【{agent_name}】，来处理您之前的留言。请问现在方便吗？"


def queue_timeout(ticket: int) -> str:
    return (f"非常抱歉让您久等了，客服暂时都在忙。已为您登记回访单（编号#{ticket}），客服会尽快联系您。"
            "现在由我继续为您服务～")


def ended_with_rating() -> str:
    return ("本次人工服务已结束，保险小助手回来啦🤖 有问题可以继续问我。\n"
            "请为刚才的人工服务打个分：回复数字1-5（5分最满意）。")


def ended_idle_with_rating(minutes: int) -> str:
    return (f"由于{minutes}分钟没有新消息，本次人工服务已自动结束，保险小助手回来啦🤖 有问题可以继续问我。\n"
            "请为刚才的人工服务打个分：回复数字1-5（5分最满意）。")


UNAVAILABLE = ("抱歉，转人工服务暂时出了点问题😔 请稍后再回复“转人工”试试；"
               "人工客服在线时间是每天09:00-22:00（北京时间）。")
KF_REPLY_NATIVE = "该用户来自微信客服：会话已转到您的企业微信，请在企业微信客户端中直接回复。"
