"""A ride-hailing driver's certification: '已认证', '有网约车驾驶员证', or not ('还没认证')."""
from __future__ import annotations

import re
from typing import Optional

from quotes.extract.context import Context, Found

_NO_RE = re.compile(r"没认证|未认证|没有认证|还没认证|认证没|没通过|没有网约车|没有驾驶员证|无证|没证|没有证|不是网约车司机|没有双证|"
                    r"没办证|证还没|没拿到证|证没下来|没考|还在审核|审核中|没下来")
_YES_RE = re.compile(r"已认证|有认证|认证了|认证过|已经认证|有网约车证|有驾驶员证|持证|有证|双证|已完成认证|认证通过|通过认证|已通过|"
                     r"有资格证|证齐|证件齐|有网约车驾驶员证|认证好了|平台认证|审核通过|认证过了|持[^，。 ]{0,6}证|"
                     r"证[^，。 ]{0,2}(?:都)?有|(?:驾驶员|网约车)证[^，。 ]{0,4}(?:有|拿|办)|证.{0,3}拿了|认证[^，。 ]{0,4}过|"
                     r"考了[^，。 ]{0,5}证|证[^，。 ]{0,2}齐|证件[^，。 ]{0,3}办好")
_YES_ANSWER = re.compile(r"^(?:是|是的|有|有的|对|对的|嗯|嗯嗯|好|已经|当然|yes|ok)[啊呀的了吧!！。.~～]*$")
_NO_ANSWER = re.compile(r"^(?:不是|没有|没|否|不|无|还没|还没有|no)[啊呀的了吧!！。.~～]*$")


def certified(ctx: Context) -> Optional[Found]:
    if not (ctx.product == "driver_accident" or ctx.asked == "driver_certified" or "认证" in ctx.raw):
        return None
    m = _NO_RE.search(ctx.raw)   # product names kept: "有网约车驾驶员证" names the product's word 网约车
    if m:
        return Found(False, m.group(0))
    m = _YES_RE.search(ctx.raw)
    if m:
        return Found(True, m.group(0))
    if ctx.asked == "driver_certified":
        answer = ctx.text.strip()
        if _NO_ANSWER.match(answer):
            return Found(False, answer)
        if _YES_ANSWER.match(answer):
            return Found(True, answer)
    return None
