"""Who is insured and how old: relation words, pronouns, ages, birth dates and years, babies' months."""
from __future__ import annotations

import datetime as dt
import re
from typing import Optional

from quotes.extract.context import FILLER_RE, Context, Found

RELATION_WORDS: dict[str, str] = {
    # parents
    "我妈": "parent", "妈妈": "parent", "老妈": "parent", "母亲": "parent", "我爸": "parent", "爸爸": "parent",
    "老爸": "parent", "父亲": "parent", "老爹": "parent", "爸妈": "parent", "父母": "parent", "我娘": "parent",
    "我爹": "parent", "老豆": "parent", "老窦": "parent", "老母": "parent", "老汉儿": "parent", "妈": "parent", "爸": "parent", "俺娘": "parent",
    "俺爹": "parent", "俺妈": "parent", "俺爸": "parent", "咱妈": "parent", "咱爸": "parent", "老汉": "parent",
    "老母亲": "parent", "老父亲": "parent", "娘": "parent", "爹": "parent", "阿妈": "parent", "阿爸": "parent",
    "老娘": "parent", "家母": "parent", "家父": "parent",
    # spouse
    "老婆": "spouse", "老公": "spouse", "妻子": "spouse", "丈夫": "spouse", "爱人": "spouse", "媳妇": "spouse",
    "配偶": "spouse", "太太": "spouse", "夫人": "spouse", "另一半": "spouse", "婆娘": "spouse", "孩他爸": "spouse",
    "孩他妈": "spouse", "娃他爸": "spouse", "娃他妈": "spouse", "孩子他爸": "spouse", "孩子他妈": "spouse",
    "老伴": "spouse", "那口子": "spouse", "当家的": "spouse", "先生": "spouse", "内人": "spouse",
    # children
    "孩子": "child", "儿子": "child", "女儿": "child", "宝宝": "child", "小孩": "child", "闺女": "child",
    "子女": "child", "小朋友": "child", "儿童": "child", "婴儿": "child", "新生儿": "child", "娃": "child",
    "宝贝": "child", "崽": "child", "小子": "child", "丫头": "child", "姑娘": "child", "二宝": "child",
    "大宝": "child", "小宝": "child", "犬子": "child", "娃儿": "child", "仔": "child",
    # self
    "我自己": "self", "自己": "self", "本人": "self", "我本人": "self", "给我买": "self", "自用": "self",
    "俺自己": "self", "给自己": "self",
    # people we cannot insure online (refused with a reason, not silently ignored)
    "对象": "other", "朋友": "other", "同事": "other", "同学": "other", "邻居": "other", "女朋友": "other",
    "男朋友": "other", "女友": "other", "男友": "other", "未婚妻": "other", "未婚夫": "other", "老板": "other",
    "员工": "other", "亲戚": "other", "爷爷": "other", "奶奶": "other", "外公": "other", "外婆": "other",
    "姥姥": "other", "姥爷": "other", "岳父": "other", "岳母": "other", "丈母娘": "other", "老丈人": "other",
    "公公": "other", "婆婆": "other", "哥哥": "other", "姐姐": "other", "弟弟": "other", "妹妹": "other",
    "叔叔": "other", "阿姨": "other", "舅舅": "other", "姑姑": "other", "侄子": "other", "外甥": "other",
    "孙子": "other", "孙女": "other", "儿媳": "other", "女婿": "other", "表哥": "other", "表姐": "other",
    "堂哥": "other", "我哥": "other", "我姐": "other", "我弟": "other", "我妹": "other", "外孙": "other", "外孙女": "other", "公婆": "other", "大舅": "other", "小姨": "other",
}
# the user describing his own work or study, with nobody else named: "在顺丰送快递", "码农一枚", "在厦门读研"
# someone not named: the user is asking for another person, so "我" is not the insured
SOMEONE_ELSE_RE = re.compile(r"家里人|家人|别人|亲戚|一家|全家")
SELF_DESCRIPTION_RE = re.compile(r"(?:^|\s)在\S{1,8}?(?:上班|工作|读书|读研|读大学|上学|跑车|开车|打工|干活|送|做|当)|一枚")
# words that name the person a number after them belongs to: "她33", "本人35", "媳妇27", "我30"
PRONOUNS = ("我", "俺", "她", "他", "本人", "自己")
SELF_PRONOUNS = ("我", "俺")
_NOT_AN_AGE_AFTER = r"(?![\d.万元块年个天类号月%wk周期])"
_PERSON_WORDS = sorted(set(RELATION_WORDS) | set(PRONOUNS), key=len, reverse=True)
_PERSON_AGE_RE = re.compile(r"(" + "|".join(map(re.escape, _PERSON_WORDS)) + r")\s*(?:今年|已经|现在|才|刚|也)?\s*(?:是|满|刚满)?\s*"
                            r"(\d{1,3})" + _NOT_AN_AGE_AFTER)
# jobs whose names contain a relation word: not a person to insure ("我是全职妈妈")
_JOB_WORDS_WITH_RELATIONS = re.compile(r"全职妈妈|全职太太|宝妈|全职爸爸|家庭主妇")
# "给宝宝买", "帮我妈买": the person after 给/帮/替/为 is the insured, whoever else the message mentions
_FOR_PERSON_RE = re.compile(r"(?:给|帮|替|为)\s*(?:我|俺)?(?:家)?\s*(" + "|".join(map(re.escape, sorted(RELATION_WORDS, key=len, reverse=True))) + r")")
# a number standing alone between spaces or punctuation ("跑外卖的 32 保额50万"): in a quote request, an age
_STANDALONE_NUMBER_RE = re.compile(r"(?:^|(?<=[\s,，。;；、:：!！]))(\d{1,3})(?=$|[\s,，。;；、!！?？~～])")
# "我是外卖骑手", "我快递员", "我自己开": the user speaks of himself
# the user speaking of himself ("我在长沙", "我今年39", "俺是送快递的"), not only wanting to buy ("我要买意外险")
_SELF_STATEMENT_RE = re.compile(r"(?:我|俺)(?!们|要|想|打算|准备|来|问|咨询|看|帮|给|替|家|司|这边|能|可以|该)")

_DATE_RE = re.compile(r"((?:19|20)\d{2})\s*[年./-]\s*(\d{1,2})\s*(?:[月./-]\s*(\d{1,2})\s*[日号]?|月份?)?")
_YEAR_BIRTH_RE = re.compile(r"((?:19|20)\d{2})\s*年?\s*(?:出生|生人|年生|生的|出世|的)")
_SHORT_YEAR_BIRTH_RE = re.compile(r"(?<![\d.])(\d{2})\s*年\s*(?:出生|生人|生的|出世|的|生)")
_BARE_YEAR_RE = re.compile(r"(?<![\d.])((?:19|20)\d{2})\s*年(?![\d月.\-/]|前|后|内|底|初|交|缴|期)")
_BIRTH_WORDS = re.compile(r"出生|生日|生的|年生|出世|生人")
_ACTIVATION_WORDS = re.compile(r"激活|买|购|入手|开机|到手|新机")

_AGE_RE = re.compile(r"(?<![\d.])(\d{1,3})\s*(?:周岁|岁)(?:(\d{1,2})个?月)?(?!以[上下内])")
_AGE_THIS_YEAR_RE = re.compile(r"今年\s*(?:满|才|刚|已经|刚满)?\s*(\d{1,3})(?![\d.万元块年个天类号月])")
_AGE_LE_RE = re.compile(r"(?<![\d.])(\d{1,3})\s*了")
_BABY_WORDS = re.compile(r"宝宝|孩子|娃|婴儿|新生儿|闺女|儿子|女儿|崽|小孩|宝贝|二宝|小宝|丫头")
_BABY_MONTHS_RE = re.compile(r"(?<![\d.])(\d{1,2})\s*个?\s*(?:多|半)?月\s*(?:大|的宝宝|的孩子|的婴儿|宝宝|的娃|的崽)|"
                             r"出生\s*(?:才|刚)?\s*(?:满)?\s*(\d{1,2})\s*个(?:多|半)?月|"
                             r"(?:刚满|才满|满了|刚|才)\s*(\d{1,2})\s*个(?:多|半)?月|"
                             r"(?:宝宝|孩子|娃儿|娃|婴儿|闺女|儿子|女儿|崽|小孩|宝贝|二宝)(?:才|刚|已经|今年)?\s*(\d{1,2})\s*个(?:多|半)?月(?!前)")
_BABY_DAYS_RE = re.compile(r"(?<![\d.])(\d{1,3})\s*天\s*(?:大|的宝宝|的孩子|的娃)|出生\s*(?:才|刚)?\s*(?:满)?\s*(\d{1,3})\s*天|"
                           r"(?:刚满|才满|满了)\s*(\d{1,3})\s*天|(?:宝宝|孩子|娃|婴儿|闺女|儿子|女儿|崽)(?:才|刚)?\s*(\d{1,3})\s*天(?!前)")
_BABY_WEEKS_RE = re.compile(r"(?<![\d.])(\d{1,2})\s*(?:周|星期)\s*大|出生\s*(\d{1,2})\s*(?:周|星期)|(?:刚满|才满)\s*(\d{1,2})\s*(?:周|星期)")
_FULL_MONTH_RE = re.compile(r"满月|刚满月")
_ASKED_BABY_RE = re.compile(r"(?<![\d.])(\d{1,3})\s*(?:天|(个\s*(?:多)?月))(?!前)")
_COVER_TO_BEFORE = re.compile(r"(保|到|至|满|保到|保至)$")


def relation(ctx: Context) -> Optional[Found]:
    """The insured person's relation to the user; the first non-self person named wins ("我给我妈买")."""
    for_person = _FOR_PERSON_RE.search(_JOB_WORDS_WITH_RELATIONS.sub("\u0000", ctx.raw))
    if for_person:
        return Found(RELATION_WORDS[for_person.group(1)], for_person.group(0))
    hits: list[tuple[int, str, str]] = []
    masked = _JOB_WORDS_WITH_RELATIONS.sub(lambda m: "\u0000" * len(m.group(0)), ctx.raw)
    for word in sorted(RELATION_WORDS, key=len, reverse=True):
        start = masked.find(word)
        while start != -1:
            hits.append((start, RELATION_WORDS[word], word))
            masked = masked[:start] + "\u0000" * len(word) + masked[start + len(word):]
            start = masked.find(word)
    hits.sort()
    others = [(r, w) for _, r, w in hits if r != "self"]
    if others:
        return Found(others[0][0], others[0][1])
    if hits:
        return Found("self", hits[0][2])
    m = _SELF_STATEMENT_RE.search(ctx.raw) if ctx.asked in (None, "insured_relation") else None
    if m and SOMEONE_ELSE_RE.search(ctx.raw):
        m = None
    if m:   # nobody else named and the user speaks of himself ("我在长沙 台风险", "我今年39")
        return Found("self", m.group(0))
    return None


def _birth_age(year: int, month: int, day: int, today: dt.date) -> Optional[tuple[int, int]]:
    try:
        born = dt.date(year, month, day)
    except ValueError:
        return None
    if born > today:
        return None
    years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return years, (today - born).days


def birth_date(ctx: Context, phone_ctx: bool) -> Optional[tuple[Found, Optional[int]]]:
    """(age, age in days for a baby) from a full date that is a birth date, not a phone's activation."""
    for m in ctx.take(_DATE_RE, use=False):
        year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3) or 1)
        around = ctx.around(m, 4, 8)
        is_birth = bool(_BIRTH_WORDS.search(around)) or (
            not _ACTIVATION_WORDS.search(around) and ctx.asked != "phone_activation_days"
            and (ctx.asked == "insured_age" or not phone_ctx or year < ctx.today.year - 3))
        if not is_birth:
            return None
        got = _birth_age(year, month, day, ctx.today)
        if got:
            ctx.mark(m)
            age, days = got
            return Found(age, ctx.words(m)), (days if age < 1 else None)
        return None
    return None


_MONTH_DAY_BIRTH_RE = re.compile(r"(?:今年|去年)?\s*(?<![\d.])(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]\s*(?:出生|生的|生日|出世)")
_SHORT_YEAR_ALONE_RE = re.compile(r"(?<![\d.交缴付保])(\d{2})\s*年(?=$|[\s,，。])")


def birth_month_day(ctx: Context) -> Optional[tuple[Found, Optional[int]]]:
    """A baby born this year or last: "宝宝今年5月10号出生的"."""
    m = ctx.first(_MONTH_DAY_BIRTH_RE)
    if not m:
        return None
    month, day = int(m.group(1)), int(m.group(2))
    year = ctx.today.year - (1 if "去年" in m.group(0) or (month, day) > (ctx.today.month, ctx.today.day) else 0)
    got = _birth_age(year, month, day, ctx.today)
    if not got:
        return None
    return Found(got[0], ctx.words(m)), (got[1] if got[0] < 1 else None)


def birth_year(ctx: Context) -> Optional[Found]:
    m = ctx.first(_YEAR_BIRTH_RE)
    if m:
        return Found(ctx.today.year - int(m.group(1)), ctx.words(m))
    m = ctx.first(_SHORT_YEAR_BIRTH_RE)
    if m:
        two = int(m.group(1))
        year = 2000 + two if 2000 + two <= ctx.today.year else 1900 + two
        return Found(ctx.today.year - year, ctx.words(m))
    for m in ctx.take(_SHORT_YEAR_ALONE_RE, use=False):   # "我是广州的 88年"
        two = int(m.group(1))
        if two in (10, 20, 30):   # payment years, not 2010/2020
            continue
        year = 2000 + two if 2000 + two <= ctx.today.year else 1900 + two
        ctx.mark(m)
        return Found(ctx.today.year - year, ctx.words(m))
    for m in ctx.take(_BARE_YEAR_RE, use=False):   # "我老婆，1993年" (not a date, not a price)
        year = int(m.group(1))
        if ctx.today.year - 110 < year < ctx.today.year:
            ctx.mark(m)
            return Found(ctx.today.year - year, ctx.words(m))
    return None


def baby_age_days(ctx: Context, relation_value: Optional[str]) -> Optional[Found]:
    """A baby's age in days: '3个月大', '刚满3个月' (a child named), '40天的宝宝', '6周大', '满月'."""
    baby = relation_value == "child" or bool(_BABY_WORDS.search(ctx.raw)) or ctx.asked == "insured_age"
    if not baby:
        return None
    for rx, per in ((_BABY_MONTHS_RE, 30), (_BABY_DAYS_RE, 1), (_BABY_WEEKS_RE, 7)):
        m = ctx.first(rx)
        if m:
            number = next(g for g in m.groups() if g)
            return Found(int(number) * per, ctx.words(m))
    m = ctx.first(_FULL_MONTH_RE)
    if m:
        return Found(30, ctx.words(m))
    if ctx.asked == "insured_age":
        m = next(ctx.take(_ASKED_BABY_RE, use=False), None)
        if m and not FILLER_RE.sub("", ctx.text[:m.start()] + ctx.text[m.end():]):   # a bare "40天"
            ctx.mark(m)
            return Found(int(m.group(1)) * (30 if m.group(2) else 1), ctx.words(m))
    return None


def age_in_years(ctx: Context, relation_value: Optional[str]) -> Optional[Found]:
    """'38岁', '今年52', '她33', '本人35', '媳妇27', '我30', '老公38', '58了' (a person named)."""
    for m in ctx.take(_AGE_RE, use=False):
        if _COVER_TO_BEFORE.search(ctx.text[max(0, m.start() - 2):m.start()]) or int(m.group(1)) > 120:
            continue
        ctx.mark(m)
        return Found(int(m.group(1)), ctx.words(m))
    m = ctx.first(_AGE_THIS_YEAR_RE)
    if m and int(m.group(1)) <= 120:
        return Found(int(m.group(1)), ctx.words(m))
    for m in ctx.take(_PERSON_AGE_RE, use=False):
        number = int(m.group(2))
        if 1 <= number <= 110:
            ctx.used.append(m.span(2))
            return Found(number, ctx.words(m))
    if relation_value or ctx.asked == "insured_age":
        for m in ctx.take(_AGE_LE_RE, use=False):
            if 1 <= int(m.group(1)) <= 110:
                ctx.mark(m)
                return Found(int(m.group(1)), ctx.words(m))
    if ctx.product is not None and ctx.asked in (None, "insured_age"):
        for m in ctx.take(_STANDALONE_NUMBER_RE, use=False):
            before = ctx.text[:m.start()].rstrip()
            if 1 <= int(m.group(1)) <= 110 and not re.search(r"[a-z]$", before):   # "iphone 15" is a model
                ctx.mark(m)
                return Found(int(m.group(1)), ctx.words(m))
    return None
