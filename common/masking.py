"""Find and hide personal data in free text: one set of detectors, two renderings (stdlib only).

The action server, the web service and the Rasa process (connectors' logs) all import this, so it
must stay dependency-free and Python 3.10-compatible.

Kinds found by :func:`detect` (evaluated by bench/masking_eval.py on bench/data/masking_samples.yml):

=========  ======================================================  ===========================  ==========
kind       what                                                    :func:`mask_text`            redact
=========  ======================================================  ===========================  ==========
id_card    resident ID, 18 digits (17 + X) or 15, spaces allowed   ``110***********123X``       [身份证号]
phone      mainland mobile, +86/0086, spaces, dashes, dots         ``138****5678``              [手机号]
landline   area code + 7-8 digits, (021) / 021- / 021 forms        ``021-****8888``             [电话]
bank_card  16-19 digits starting 3/4/5/6/9, groups of 4 allowed   ``6222****1234``             [银行卡号]
email      e-mail address                                          ``z***@qq.com``              [邮箱]
address    detail after the district: 建国路88号院3号楼2单元501室    ``北京市朝阳区****``          [地址]
name       a name after a cue (我叫/姓名是/我妈叫/被保险人是 ...)    ``我叫张**``                 [姓名]
=========  ======================================================  ===========================  ==========

``mask_text`` (partial: the ends stay so a person can tell two values apart) is for people who
need context: hand-off cards, transcripts, logs. ``redact_text`` (labels) is for text that is mined
or aggregated: unanswered questions, analytics. Full-width digits and letters (１３８…, ＠) are
read as ASCII; numbers written after a reference cue (保单号, 订单号, 发票代码 …) are left alone.

Both renderings are idempotent. This is a safety net, not a guarantee: free text can hide anything.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Callable, Optional

MASK = "*"
KINDS = ("id_card", "phone", "landline", "bank_card", "email", "address", "name")
LABELS = {"id_card": "[身份证号]", "phone": "[手机号]", "landline": "[电话]", "bank_card": "[银行卡号]",
          "email": "[邮箱]", "address": "[地址]", "name": "[姓名]"}
REFERENCE_LABEL = "[编号]"


@dataclass(frozen=True)
class Span:
    """One piece of personal data: ``text[start:end]`` of ``kind``."""

    kind: str
    start: int
    end: int
    text: str


# ---- normalisation: full-width ASCII (１３８, ＠, －, （）) -> ASCII, same length, so offsets carry over

_FULLWIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}
_FULLWIDTH[0x3000] = 0x20


_OTHER_DIGIT = re.compile(r"(?![0-9])\d")     # any other decimal digit (Arabic-Indic ٣, Devanagari ३ ...)


def normalize(text: str) -> str:
    """Full-width ASCII and other decimal digits as ASCII; one character for one, so offsets hold."""
    text = text.translate(_FULLWIDTH)
    if not text.isascii():
        text = _OTHER_DIGIT.sub(lambda m: str(unicodedata.decimal(m.group(0))), text)
    return text


# ---- numbers: ID, mobile, landline, bank card ---------------------------------------------------

# a run of digits with at most two separators between any two digits (138 1234 5678, 210102-19890704-0590)
# (an X may also end an ID inside the run: "…000X110105…" is two IDs)
_NUMBER = re.compile(r"(?<![0-9])\d(?:[ \-.]{0,2}\d|[Xx](?=[ \-.]{0,2}\d))*[Xx]?(?![0-9])")
_GROUP = re.compile(r"\d+[Xx]?")
_PHONE_PREFIX = re.compile(r"(?:\+|\+?86\)\s?|\+86\s?\)\s?|\(\+)$")  # +13..., (+86)13..., 86)13...
_PAREN_LANDLINE = re.compile(r"\(\s?0\d{2,3}\s?\)\s?[2-9]\d{2,3}[ \-]?\d{3,4}(?![0-9A-Za-z])")
# numbers written right after these are references (policy, order, invoice ...), not personal data
_REFERENCE_CUES = re.compile(
    r"(?:保单|订单|运单|快递单|批单|报案|案件|赔案|合同|流水|交易|支付单|商户|住院|病历|病案|门诊|发票|备案|"
    r"个人|工|序列|条码|产品|编|账单|单)(?:号码|号|编号|代码|码)[\s:是为]{0,3}$|(?:发票代码|验证码|代码)[\s:是为]{0,3}$")
_ID_PROVINCES = frozenset("11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 "
                          "61 62 63 64 65 71 81 82 83 91".split())
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _valid_date(year: int, month: int, day: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= (29 if month == 2 else 30 if month in (4, 6, 9, 11) else 31)


def is_id_number(value: str) -> bool:
    """Shape of a resident ID (province code, birth date); the check digit is not required (typos)."""
    value = value.upper()
    if len(value) == 18 and value[:17].isdigit() and (value[17].isdigit() or value[17] == "X"):
        year = int(value[6:10])
        return value[:2] in _ID_PROVINCES and 1900 <= year <= 2030 and _valid_date(year, int(value[10:12]),
                                                                                   int(value[12:14]))
    if len(value) == 15 and value.isdigit():
        return value[:2] in _ID_PROVINCES and _valid_date(1900 + int(value[6:8]), int(value[8:10]),
                                                          int(value[10:12]))
    return False


def id_check_digit(first17: str) -> str:
    """The ISO 7064 check character of an 18-digit ID (for tests and generated data)."""
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS)) % 11]


def _is_mobile(digits: str) -> bool:
    for prefix in ("", "86", "0086"):
        rest = digits[len(prefix):]
        if digits.startswith(prefix) and len(rest) == 11 and rest[0] == "1" and rest[1] in "3456789":
            return True
    return False


def _is_landline(digits: str, first_group: str) -> bool:
    if len(digits) < 10 or not digits.startswith("0") or digits.startswith("00"):
        return False
    separated = len(first_group) in (3, 4) and first_group != digits
    if separated:
        area = first_group                       # written with a separator: the first group is the area code
    else:
        area = digits[:3] if digits[1] in "12" else digits[:4]
    local = digits[len(area):]
    # local numbers start with 2-9; a written separator makes the shape clear enough for any
    return (len(area) == 3 and area[1] in "12" or len(area) == 4 and area[1] in "3456789") \
        and 7 <= len(local) <= 8 and local[0] in ("123456789" if separated else "23456789")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _strict_kind(digits: str) -> Optional[str]:
    """Next to letters (SF1402938475610, HX2024A01) only a fully valid number counts: an ID with its
    check digit, a Luhn-valid card, a bare mobile number."""
    if len(digits) == 18 and is_id_number(digits) and id_check_digit(digits[:17]) == digits[17].upper():
        return "id_card"
    if digits.isdigit() and len(digits) == 11 and _is_mobile(digits):
        return "phone"
    if digits.isdigit() and 16 <= len(digits) <= 19 and digits[0] in "34569" and _luhn(digits):
        return "bank_card"
    return None


def _number_kind(digits: str, first_group: str) -> Optional[str]:
    if is_id_number(digits):
        return "id_card"
    if not digits.isdigit():
        return None
    if _is_mobile(digits):
        return "phone"
    if 16 <= len(digits) <= 19 and digits[0] in "34569":    # card networks: 3 JCB/Amex, 4 Visa, 5 MC, 6/9 UnionPay
        return "bank_card"
    if _is_landline(digits, first_group):
        return "landline"
    return None


def _numbers(norm: str, emails: list[Span]) -> list[Span]:
    spans = [Span("landline", m.start(), m.end(), "") for m in _PAREN_LANDLINE.finditer(norm)]

    def letter_at(i: int) -> bool:       # an ASCII letter that is not the end of an e-mail address
        return 0 <= i < len(norm) and norm[i].isascii() and norm[i].isalpha() \
            and not any(e.start <= i < e.end for e in emails)

    for m in _NUMBER.finditer(norm):
        if _REFERENCE_CUES.search(norm[max(0, m.start() - 10):m.start()]):
            continue
        groups = [(g.start() + m.start(), g.end() + m.start(), g.group(0)) for g in _GROUP.finditer(m.group(0))]
        taken: list[tuple[int, int]] = []
        # the whole run first, then shorter runs of whole groups ("年龄32 15698273041" -> the mobile)
        for size in range(len(groups), 0, -1):
            for i in range(len(groups) - size + 1):
                part = groups[i:i + size]
                start, end = part[0][0], part[-1][1]
                if any(start < e and s < end for s, e in taken):
                    continue
                digits = "".join(g[2] for g in part)
                glued = (start == m.start() and letter_at(start - 1)) or (end == m.end() and letter_at(end))
                kind = _strict_kind(digits) if glued else _number_kind(digits, part[0][2])
                if kind:
                    if kind == "phone":
                        prefix = _PHONE_PREFIX.search(norm, 0, start)
                        start = prefix.start() if prefix else start
                    taken.append((start, end))
                    spans.append(Span(kind, start, end, ""))
    return spans


# ---- e-mail -------------------------------------------------------------------------------------

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")


def _emails(norm: str) -> list[Span]:
    return [Span("email", m.start(), m.end(), "") for m in _EMAIL.finditer(norm)]


# ---- detailed addresses: the part after province/city/district ----------------------------------

_CJK = "\u4e00-\u9fff"
_NUM = r"(?:\d+|[一二三四五六七八九十百]+)"
_HOUSE = rf"{_NUM}(?:[-之]\d+)?(?:号院|号|弄)(?:附{_NUM}号)?"
_ROAD_CORE = re.compile(rf"(?:大道|大街|胡同|路|街|巷|(?<=[一二三四五六七八九十\d])道)"
                        rf"(?:[东西南北中]段|{_NUM}段)?{_HOUSE}")
_STRONG_ESTATE = "小区|花园|家园|新村|公寓|花苑|山庄|公馆|宿舍|苑|村"
_ESTATE_CORE = re.compile(rf"(?:{_STRONG_ESTATE}|社区|府|庭|湾|园|城)(?=\s?(?:{_NUM}|[A-Za-z]\d{{0,3}}))")
_UNIT = re.compile(rf"\s?(?:{_NUM}|[A-Za-z]\d{{0,3}})(?:号楼|号院|号|栋|幢|座|单元|门|层|楼|室|组|塔|户|区)"
                   r"(?:[A-Za-z](?![A-Za-z0-9]))?")
_ROOM = re.compile(r"\d{3,4}(?:室|房)?(?![0-9A-Za-z]|[ \-.]{1,2}\d)")
_BUILDING = re.compile(rf"[{_CJK}A-Za-z]{{1,10}}(?:大厦|广场|中心|大楼|写字楼|公寓|{_STRONG_ESTATE}|产业园|园区|园|城|府|院)")
_LEFT_RUN = re.compile(rf"[{_CJK}]{{1,30}}$")
_CUES_BEFORE = ("住在", "住址", "地址", "寄到", "送到", "发到", "搬到", "家在", "家住", "位于", "改成", "改为",
                "住", "在", "是", "到", "至")
_PROVINCE = re.compile(r"(?:北京|天津|上海|重庆)市?|(?:内蒙古|广西|西藏|宁夏|新疆)[\u4e00-\u9fff]{0,4}?自治区"
                       r"|(?:香港|澳门)特别行政区|[\u4e00-\u9fff]{2,3}省")
_CITY = re.compile(r"[\u4e00-\u9fff]{2,4}?(?:市|自治州|地区|盟)")
_DISTRICT = re.compile(r"[\u4e00-\u9fff]{1,5}?(?:区|县|市|旗)")


def _detail_start(norm: str, core_start: int) -> Optional[int]:
    """Where the detail begins: after a cue (住在) and the province/city/district tokens before the street."""
    run = _LEFT_RUN.search(norm, 0, core_start)
    if run is None:
        return None
    start, text = run.start(), run.group(0)
    cut = max((text.rfind(c) + len(c) for c in _CUES_BEFORE if c in text), default=0)
    start, text = start + cut, text[cut:]
    for i in range(len(text)):                      # the first place a province/city/district chain begins
        bounds = _admin_chain(text, i)
        if bounds:
            usable = [b for b in bounds if b < len(text)]   # the street or estate keeps at least one character
            return start + (usable[-1] if usable else i)
    return start


def _admin_chain(text: str, pos: int) -> list[int]:
    """End offsets of the province, city and district tokens found in that order from ``pos``."""
    bounds = []
    for pattern in (_PROVINCE, _CITY, _DISTRICT):
        m = pattern.match(text, pos)
        if m and not m.group(0).endswith(("小区", "社区")):
            pos = m.end()
            bounds.append(pos)
    return bounds


def _tail(norm: str, pos: int) -> int:
    """Extend over building names, units and the room number after the house number."""
    while True:
        m = _UNIT.match(norm, pos) or _ROOM.match(norm, pos)
        if m:
            pos = m.end()
            continue
        spaced = norm.startswith(" ", pos)
        m = _BUILDING.match(norm, pos + spaced)
        if m and (not spaced or _UNIT.match(norm, m.end())):
            pos = m.end()
            continue
        return pos


def _addresses(norm: str) -> list[Span]:
    spans = []
    for m in _ROAD_CORE.finditer(norm):
        start = _detail_start(norm, m.start())
        if start is not None:
            spans.append(Span("address", start, _tail(norm, m.end()), ""))
    for m in _ESTATE_CORE.finditer(norm):
        units, pos = [], m.end()
        while (u := _UNIT.match(norm, pos)) or (units and (u := _ROOM.match(norm, pos))):
            units.append(u.group(0).strip())
            pos = u.end()
        strong = re.fullmatch(_STRONG_ESTATE, m.group(0)) and any(re.search("号楼|栋|幢|单元|室", u) for u in units)
        start = _detail_start(norm, m.start())
        if start is not None and (len(units) >= 2 or strong):
            spans.append(Span("address", start, _tail(norm, pos), ""))
    return spans


# ---- names after a cue ----------------------------------------------------------------------------

_SURNAMES_2 = ("欧阳", "司马", "诸葛", "上官", "东方", "慕容", "皇甫", "令狐", "夏侯", "尉迟", "长孙", "宇文",
               "公孙", "端木", "西门", "司徒", "南宫", "独孤", "申屠", "轩辕")
_SURNAMES_1 = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖萧田董袁潘蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔汤"
    "易常乔赖文施洪牛庞樊兰殷邢岳齐康伍葛左鲁谷詹祝倪柳甘辛颜盛包褚阎庄聂麦俞章蒙翟苗柴鲍裴温芦霍关戚"
    "宁雍丛凌卓梅虞景舒单骆焦饶卜屈蔺解牟简桑封路项房毕宫尤巫冉滕邬宗娄栾耿于连柯管涂向季靳钮缪瞿植")
# stop a given name here: grammar words that follow a name far more often than they are part of one
_NAME_STOP = frozenset("想要的是在今吗呢吧啊呀哈了也都已刚从给帮请买问办需住去说打还就他她我你们岁患这那被投身手电"
                       "跟与及，。、！？；：,.!?;: 先女同老阿")
_NAME_STOP_WORDS = ("先生", "女士", "同学", "老师", "阿姨", "师傅", "小姐", "经理", "医生")
_NOT_NAMES = frozenset(("法定", "本人", "自己", "公司", "单位", "员工", "孩子", "小孩", "子女", "配偶", "父母", "家人",
                        "老人", "未成年", "必填", "不是", "什么", "多少"))
_KIN = "妈妈|妈|爸爸|爸|老公|老婆|爱人|丈夫|妻子|儿子|女儿|孩子|父亲|母亲|媳妇|老伴|闺女|宝宝|外公|外婆|爷爷|奶奶|哥哥|姐姐|弟弟|妹妹"
_ROLE = "被保险人|被保人|投保人|受益人|联系人|收件人|收货人|开户名|户名|持卡人|本人"
# strong cues say a name follows (我叫, 姓名：, 被保险人是); weak ones only might (我是, 收件人王五 / 投保人付款):
# after a weak cue the name must stand alone (punctuation or the end after it) and not end like a role
_NAME_CUE = re.compile(
    rf"(?:(?:我|他|她)(?:的)?(?:{_KIN})?(?:的)?(?:名字)?叫|名叫|(?:{_ROLE})?(?:的)?(?:姓名|名字)(?:是|为|叫)?"
    rf"|(?:{_ROLE})(?:是|为|[ \t]*[:：]))[ \t]*[:：]?[ \t]*")
_WEAK_CUE = re.compile(rf"(?:我是|(?:{_ROLE})(?![是为:：\s]))[ \t]*")
_WEAK_END = re.compile(r"[\s，,。.！!？?；;~～]|$")
_ROLE_SUFFIX = tuple("人员者家师工户长族生领卡")     # 我是江西人 / 程序员 / 高中生 / 白领 / 金卡
_MINORITY_NAME = re.compile(rf"[{_CJK}]{{2,6}}·[{_CJK}]{{2,8}}")


def _name_at(norm: str, pos: int) -> Optional[int]:
    """End of a name starting at ``pos`` (surname + one or two given characters), or None."""
    m = _MINORITY_NAME.match(norm, pos)
    if m:
        return m.end()
    surname = next((s for s in _SURNAMES_2 if norm.startswith(s, pos)), None) or \
        (norm[pos] if pos < len(norm) and norm[pos] in _SURNAMES_1 else None)
    if surname is None:
        return None
    end = pos + len(surname)
    for _ in range(2):
        if end >= len(norm) or not ("\u4e00" <= norm[end] <= "\u9fff") or norm[end] in _NAME_STOP \
                or norm.startswith(_NAME_STOP_WORDS, end):
            break
        end += 1
    if end == pos + len(surname) or norm[pos:end] in _NOT_NAMES or norm[pos + len(surname):end] in _NOT_NAMES:
        return None
    return end


def _names(norm: str) -> list[Span]:
    spans = []
    for m in _NAME_CUE.finditer(norm):
        end = _name_at(norm, m.end())
        if end is not None:
            spans.append(Span("name", m.end(), end, ""))
    for m in _WEAK_CUE.finditer(norm):
        end = _name_at(norm, m.end())
        if end is not None and _WEAK_END.match(norm, end) and not norm[m.end():end].endswith(_ROLE_SUFFIX):
            spans.append(Span("name", m.end(), end, ""))
    return spans


# ---- detection and the two renderings --------------------------------------------------------------

_PRIORITY = {"email": 0, "id_card": 1, "bank_card": 2, "phone": 3, "landline": 4, "address": 5, "name": 6}


def _trimmed(span: Span, chosen: list[Span]) -> Span:
    """``span`` cut back to its longest stretch that no chosen span overlaps."""
    cuts = sorted((max(c.start, span.start), min(c.end, span.end)) for c in chosen
                  if span.start < c.end and c.start < span.end)
    best, pos = (span.start, span.start), span.start
    for start, end in cuts + [(span.end, span.end)]:
        if start - pos > best[1] - best[0]:
            best = (pos, start)
        pos = max(pos, end)
    return Span(span.kind, best[0], best[1], "")


def detect(text: str) -> list[Span]:
    """Every piece of personal data in ``text``, non-overlapping, in order."""
    if not text:
        return []
    norm = normalize(text)
    emails = _emails(norm)
    found = emails + _numbers(norm, emails) + _addresses(norm) + _names(norm)
    chosen: list[Span] = []
    for span in sorted(found, key=lambda s: (_PRIORITY[s.kind], s.start - s.end)):
        if span.kind == "address":                   # an address running into a number keeps its own part
            span = _trimmed(span, chosen)
        if span.end > span.start and not any(span.start < c.end and c.start < span.end for c in chosen):
            chosen.append(span)
    return sorted((Span(s.kind, s.start, s.end, text[s.start:s.end]) for s in chosen), key=lambda s: s.start)


def mask_middle(value: str, keep_start: int, keep_end: int) -> str:
    """``value`` with everything but ``keep_start`` leading and ``keep_end`` trailing chars starred."""
    if len(value) <= keep_start + keep_end:
        return MASK * len(value)
    return value[:keep_start] + MASK * (len(value) - keep_start - keep_end) + value[len(value) - keep_end:]


def mask_name(name: str) -> str:
    """张三 -> 张*, 欧阳娜娜 -> 欧***; empty stays empty."""
    name = (name or "").strip()
    if not name:
        return ""
    return name[0] + MASK * max(1, len(name) - 1)


def mask_user_id(user_id: str) -> str:
    """An OpenID / external user id for display: ``oAbc****wxYZ`` (short ids are fully starred)."""
    user_id = user_id or ""
    if len(user_id) <= 8:
        return MASK * len(user_id)
    return mask_middle(user_id, 4, 4)


def _partial(span: Span) -> str:
    norm = normalize(span.text)
    # the characters kept are the user's own (full-width stays full-width), found via the ASCII view
    digits = "".join(c for c, n in zip(span.text, norm) if n in "0123456789Xx")
    if span.kind == "phone":
        return digits[-11:-8] + MASK * 4 + digits[-4:]
    if span.kind == "id_card":
        return mask_middle(digits, 3, 4)
    if span.kind == "bank_card":
        return digits[:4] + MASK * 4 + digits[-4:]
    if span.kind == "landline":
        ascii_digits = normalize(digits)
        area = re.match(r"\(?\s?(0\d{2,3})\D", norm)
        size = len(area.group(1)) if area else 3 if ascii_digits[1] in "12" else 4
        return f"{digits[:size]}-{MASK * (len(digits) - size - 4)}{digits[-4:]}"
    if span.kind == "email":
        local, _, domain = span.text.partition("@") if "@" in span.text else span.text.partition("＠")
        return f"{local[:1]}***@{domain}"
    if span.kind == "name":
        return mask_name(span.text)
    return MASK * 4                                      # address: the detail goes, the district stays


_MAX_PASSES = 4


def _render(text: str, replace: Callable[[Span], str]) -> str:
    """``text`` with every span replaced, again until nothing changes (bounded).

    Masking one number can leave the digits beside it a number of their own: in "130 0000 3000 110 1051
    9300 1010 005" the 19-digit card in the middle wins first, and what stays visible of it ("3000")
    completes the mobile number before it. Masked text must mask to itself, so a second pass takes that
    too; text without personal data costs one pass, as before.
    """
    for _ in range(_MAX_PASSES):
        out, pos = [], 0
        for span in detect(text):
            out += [text[pos:span.start], replace(span)]
            pos = span.end
        rendered = "".join(out) + text[pos:]
        if rendered == text:
            break
        text = rendered
    return text


def mask_text(text: str) -> str:
    """``text`` with personal data partially masked (138****5678, 我叫张**): for people reading it."""
    if not text:
        return text or ""
    return _render(text, _partial)


# eight or more digits, dashes between them allowed, letters around them allowed; not a 2024-05-20 date
_REFERENCE = re.compile(r"(?<![0-9A-Za-z])(?!\d{4}-\d{1,2}-\d{1,2}(?![\d-]))[A-Za-z]{0,4}-?(?:\d-?){7,}\d[A-Za-z0-9]*"
                        r"(?![0-9A-Za-z])")


def redact_text(text: str, *, reference_numbers: bool = False) -> str:
    """``text`` with personal data replaced by its label ([手机号]): for mining and analytics.

    ``reference_numbers`` also replaces other long numbers (policy, order numbers) with [编号]: mined
    questions become FAQ wording, where a specific number is noise and can still point to a person.
    """
    if not text:
        return text or ""
    out = _render(text, lambda span: LABELS[span.kind])
    if not reference_numbers:
        return out
    parts, pos = [], 0
    for m in _REFERENCE.finditer(normalize(out)):      # offsets match: normalising keeps the length
        parts += [out[pos:m.start()], REFERENCE_LABEL]
        pos = m.end()
    return "".join(parts) + out[pos:]


def mask_value(value: Any, mask: Callable[[str], str] = mask_text) -> Any:
    """Mask strings inside a JSON-like value (dicts, lists); other types unchanged."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: mask_value(v, mask) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_value(v, mask) for v in value]
    return value
