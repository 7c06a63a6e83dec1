"""The insured person's occupation class (1-6, the common short-term accident scale), from a class
number ('3类') or from the job in many words ('我是送外卖的', '在工地搬砖', '码农')."""
from __future__ import annotations

import re
from typing import Optional

from quotes.extract.context import Context, Found

OCCUPATION_WORDS: dict[str, int] = {
    # class 1
    "程序员": 1, "码农": 1, "工程师": 1, "老师": 1, "教师": 1, "会计": 1, "文员": 1, "公务员": 1, "白领": 1,
    "办公室": 1, "行政": 1, "医生": 1, "学生": 1, "设计师": 1, "律师": 1, "银行": 1, "家庭主妇": 1, "全职妈妈": 1,
    "全职太太": 1, "宝妈": 1, "退休": 1, "财务": 1, "产品经理": 1, "客服": 1, "坐办公室": 1, "上班族": 1, "研究员": 1,
    "主播": 1, "写代码": 1, "教书": 1, "读大学": 1, "上大学": 1, "高中生": 1, "读研": 1, "在读": 1, "大学生": 1, "研究生": 1, "文职": 1, "人事": 1,
    # class 2
    "护士": 2, "销售": 2, "服务员": 2, "店员": 2, "收银员": 2, "收银": 2, "理发师": 2, "理发": 2, "导游": 2,
    "保洁": 2, "剪头发": 2, "理发店": 2, "卖衣服": 2, "导购": 2, "美容师": 2, "开店": 2, "做生意": 2, "微商": 2,
    # class 3
    "厨师": 3, "颠勺": 3, "后厨": 3, "保安": 3, "看大门": 3, "快递员": 3, "快递小哥": 3, "送快递": 3, "快递": 3,
    "出租车司机": 3, "出租车": 3, "开出租": 3, "的哥": 3, "网约车司机": 3, "跑滴滴": 3, "开滴滴": 3, "滴滴": 3, "司机": 3, "厨房": 3,
    "跑网约车": 3, "开网约车": 3,
    # class 4
    "外卖骑手": 4, "外卖员": 4, "骑手": 4, "送外卖": 4, "跑外卖": 4, "美团骑手": 4, "饿了么骑手": 4, "外卖小哥": 4,
    "货车司机": 4, "卡车司机": 4, "开货车": 4, "开大货车": 4, "开大货": 4, "跑货拉拉": 4, "货拉拉": 4, "开卡车": 4,
    "电工": 4, "装修": 4, "搬运工": 4, "搬运": 4, "木工": 4, "焊工": 4, "电焊": 4, "水电工": 4,
    # class 5
    "建筑工人": 5, "工地": 5, "搬砖": 5, "消防员": 5, "伐木": 5, "钢筋工": 5, "绑钢筋": 5,
    # class 6
    "架子工": 6, "搭架子": 6, "矿工": 6, "井下": 6, "下井": 6, "煤矿": 6, "采掘": 6, "高空作业": 6, "蜘蛛人": 6,
    "爆破": 6, "远洋": 6, "渔船": 6, "渔民": 6, "潜水员": 6, "特技演员": 6, "高压电工": 6,
}
_WORDS = sorted(OCCUPATION_WORDS, key=len, reverse=True)
_CLASS_RE = re.compile(r"(?<![\d.])([1-6])\s*类(?:职业)?|职业\s*(?:类别)?\s*(?:是|为)?\s*([1-6])(?![\d.])")
_DRIVING_WORDS = ("司机", "滴滴", "跑滴滴", "开滴滴", "跑网约车", "开网约车", "网约车司机")


def occupation_class(ctx: Context) -> Optional[tuple[Found, Optional[str]]]:
    """(class, the job word it was read from or None for a class number)."""
    if ctx.product == "accident" or ctx.asked == "occupation_class" or "职业" in ctx.text:
        m = ctx.first(_CLASS_RE)
        if m:
            return Found(int(m.group(1) or m.group(2)), ctx.words(m)), None
    if ctx.product not in (None, "accident") and ctx.asked != "occupation_class":
        return None   # only the accident product is priced by occupation
    text = ctx.text.lower()
    for word in _WORDS:
        if word in text and not (word in _DRIVING_WORDS and ctx.product == "driver_accident"):
            return Found(OCCUPATION_WORDS[word], word), word
    return None
