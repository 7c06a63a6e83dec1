"""Find every sentence of the knowledge base (and any text shown to users) that contradicts the fact table.

A sentence is checked against the facts of the product it talks about: the product named nearest before
the figure (a run like "碎屏险、台风天气险3天" names both), else the product of the sentence before,
else the document's own product (a clause document, an FAQ about one product). Three kinds of finding:
- fact: a figure or rule that disagrees with the sheet (knowledge.facts);
- wording: an absolute phrase an insurer must not say (`wording.yml` forbidden);
- promise: an instruction naming something the assistant and the insurer's documented channels do not
  offer (`wording.yml` instructions lists what does exist, and what backs it).
The ops console runs this before publishing; `make test` runs it on the shipped content.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence

import yaml

from knowledge.corpus import KnowledgeSnapshot
from knowledge.facts import PRODUCT_NAMES, SERVICE, Fact, FactTable, NumberRule, load_fact_table

SENTENCE_END = re.compile(r"(?<=[。！？!?；;\n])")
SEGMENT_END = re.compile(r"[，,（）()：:]")
NUMBER = re.compile(r"(\d+(?:\.\d+)?)\s*(万)?\s*(元|天|日|%|个|周岁|岁|次|种|小时|年|期)?")
NEGATION = re.compile(r"(无|没有|不设|未设|没)$")
GROUP_JOINER = re.compile(r"^[、和及与/\s]*$")
# who may buy is written "18至65周岁"; "18-40周岁" is a rate table's age band, not eligibility
AGE_RANGE = re.compile(r"(出生满(\d+)天|(?<![\d.])(\d+))(?:周岁)?\s*(?:至|到)\s*(\d+)\s*周岁")
RATE_UNIT = re.compile(r"每(万元|千元|份)$")  # "每万元保额122元" is a rate, not a sum insured
NAME_PATTERN = re.compile("|".join(sorted((re.escape(n) for names in PRODUCT_NAMES.values() for n in names),
                                          key=len, reverse=True)))
NAME_TO_PRODUCT = {n: pid for pid, names in PRODUCT_NAMES.items() for n in names}
UNIT_KIND = {"元": "cny", "天": "days", "日": "days", "%": "percent", "个": "count", "次": "count"}
RULE_KIND = {"元": "cny", "": "cny", "万": "cny", "天": "days", "日": "days", "%": "percent", "个": "count"}
BEFORE_GAP, AFTER_GAP = 3, 4


@dataclass(frozen=True)
class Finding:
    """One sentence that must not go out, and why."""

    where: str
    sentence: str
    kind: str          # fact | wording | promise
    fact: Fact
    found: str

    def message(self) -> str:
        label = {"fact": "与产品资料不符", "wording": "用语不当", "promise": "承诺了不存在的功能"}[self.kind]
        return f"{self.where}：「{self.sentence}」{label}：{self.fact.statement}（{self.fact.id}；原文“{self.found}”）"


@dataclass(frozen=True)
class Wording:
    forbidden: tuple[tuple[re.Pattern[str], Fact], ...]
    instructions: Mapping[str, Mapping]     # phrase -> {kind, backed_by}
    unbuilt: tuple[tuple[re.Pattern[str], re.Pattern[str], Fact], ...]


@dataclass(frozen=True)
class Document:
    where: str
    text: str
    products: tuple[str, ...] = ()


def load_wording(content_dir: Path) -> Wording:
    raw = yaml.safe_load((content_dir / "wording.yml").read_text(encoding="utf-8")) or {}
    forbidden = tuple((re.compile(item["pattern"]),
                       Fact(f"wording.{i + 1}", SERVICE, f"{item['why']}；可改为：{item['instead']}", "wording.yml forbidden"))
                      for i, item in enumerate(raw.get("forbidden") or ()))
    unbuilt = tuple((re.compile(item["pattern"]), re.compile(item["unless"]),
                     Fact(f"promise.{item['feature']}", SERVICE, item["why"], "wording.yml unbuilt"))
                    for item in raw.get("unbuilt") or ())
    instructions = {str(item["phrase"]): item for item in raw.get("instructions") or ()}
    return Wording(forbidden, instructions, unbuilt)


def sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_END.split(text) if s.strip()]


def _mentions(sentence: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), NAME_TO_PRODUCT[m.group(0)]) for m in NAME_PATTERN.finditer(sentence)]


def _group_before(sentence: str, mentions: Sequence[tuple[int, int, str]], pos: int) -> tuple[str, ...]:
    """The products of the last run of names before `pos` ("碎屏险、台风天气险")."""
    before = [m for m in mentions if m[1] <= pos]
    if not before:
        return ()
    group = [before[-1]]
    for m in reversed(before[:-1]):
        if not GROUP_JOINER.match(sentence[m[1]:group[-1][0]]):
            break
        group.append(m)
    return tuple(dict.fromkeys(p for _, _, p in reversed(group)))


class FactChecker:
    """Checks texts against one fact table and one wording list; cheap to call per document."""

    def __init__(self, table: FactTable, wording: Wording) -> None:
        self.table, self.wording = table, wording

    @classmethod
    def from_content(cls, content_dir: Path) -> "FactChecker":
        return cls(load_fact_table(content_dir), load_wording(content_dir))

    # -- documents -------------------------------------------------------------------------------
    def check_snapshot(self, snapshot: KnowledgeSnapshot) -> list[Finding]:
        docs = [Document(f.id, f.answer, tuple(f.products)) for f in snapshot.faqs]
        docs += [Document(f"{a.citation}", a.text, (d.product_id,)) for d in snapshot.clause_docs for a in d.articles]
        return self.check(docs)

    def check(self, documents: Iterable[Document]) -> list[Finding]:
        findings: list[Finding] = []
        for doc in documents:
            carried: tuple[str, ...] = doc.products if len(doc.products) == 1 else ()
            for sentence in sentences(doc.text):
                findings += self._sentence(doc.where, sentence, carried)
                mentions = _mentions(sentence)
                if mentions:
                    carried = _group_before(sentence, mentions, len(sentence))
        return findings

    # -- one sentence ----------------------------------------------------------------------------
    def _scope(self, sentence: str, mentions: Sequence[tuple[int, int, str]], pos: int,
               carried: tuple[str, ...]) -> tuple[str, ...]:
        return _group_before(sentence, mentions, pos) or carried

    def _sentence(self, where: str, sentence: str, carried: tuple[str, ...]) -> list[Finding]:
        mentions = _mentions(sentence)
        out: list[Finding] = []
        products = set(carried) | {p for _, _, p in mentions}
        for pid in sorted(products):
            numbers, ranges, patterns = self.table.rules_for(pid)
            for rule in numbers:
                out += self._numbers(where, sentence, rule, mentions, carried)
            for rule in ranges:
                for m in AGE_RANGE.finditer(sentence):
                    if pid not in self._scope(sentence, mentions, m.start(), carried):
                        continue
                    low = f"{m.group(2)}天" if m.group(2) else m.group(3)
                    if low != rule.low or Decimal(m.group(4)) != rule.high:
                        out.append(Finding(where, sentence, "fact", rule.fact, m.group(0)))
            for rule in patterns:
                out += self._pattern(where, sentence, rule.when, rule.unless, rule.fact,
                                     lambda pos: pid in self._scope(sentence, mentions, pos, carried))
        for rule in self.table.rules_for(SERVICE)[2]:
            out += self._pattern(where, sentence, rule.when, rule.unless, rule.fact, lambda pos: True)
        for pattern, fact in self.wording.forbidden:
            out += self._pattern(where, sentence, pattern, None, fact, lambda pos: True, kind="wording")
        out += self._promises(where, sentence)
        return out

    @staticmethod
    def _pattern(where: str, sentence: str, when: re.Pattern[str], unless: Optional[re.Pattern[str]], fact: Fact,
                 in_scope, kind: str = "fact") -> list[Finding]:
        if unless is not None and unless.search(sentence):
            return []
        for m in when.finditer(sentence):
            if in_scope(m.start()):
                return [Finding(where, sentence, kind, fact, m.group(0))]
        return []

    def _numbers(self, where: str, sentence: str, rule: NumberRule, mentions, carried) -> list[Finding]:
        out = []
        for k in re.finditer(re.escape(rule.keyword), sentence):
            if RATE_UNIT.search(sentence[:k.start()]):
                continue
            value, text, pos = self._value_near(sentence, k.start(), k.end(), rule)
            if value is None or rule.fact.product not in self._scope(sentence, mentions, pos, carried):
                continue
            allowed, fact = self._allowed(sentence, k.start(), rule)
            if value not in allowed:
                out.append(Finding(where, sentence, "fact", fact, text))
        return out

    @staticmethod
    def _value_near(sentence: str, start: int, end: int, rule: NumberRule) -> tuple[Optional[Decimal], str, int]:
        """The number written right before or after the keyword (or 0 for 无/没有/不设 keyword)."""
        best: Optional[tuple[int, Decimal, str, int]] = None
        for m in NUMBER.finditer(sentence):
            if m.end() <= start:
                gap = sentence[m.end():start]
            elif m.start() >= end:
                gap = sentence[end:m.start()]
            else:
                continue
            limit = BEFORE_GAP if m.end() <= start else AFTER_GAP
            if len(gap) > limit or SEGMENT_END.search(gap) or re.search(r"[\d、；。]", gap):
                continue
            unit = m.group(3) or ""
            kind = "cny" if m.group(2) else RULE_KIND.get(unit, unit)
            if kind not in {RULE_KIND.get(u, u) for u in rule.units}:
                continue
            value = Decimal(m.group(1)) * (10000 if m.group(2) else 1)
            if best is None or len(gap) < best[0]:
                best = (len(gap), value, m.group(0).strip(), m.start())
        if best is not None:
            return best[1], best[2] + rule.keyword if best[3] < start else rule.keyword + best[2], best[3]
        if rule.negation_is_zero and NEGATION.search(sentence[max(0, start - 2):start]):
            return Decimal(0), sentence[max(0, start - 2):end], start
        return None, "", start

    @staticmethod
    def _allowed(sentence: str, keyword_at: int, rule: NumberRule) -> tuple[frozenset[Decimal], Fact]:
        if not rule.qualifiers:
            return rule.allowed, rule.fact
        head = sentence[:keyword_at]
        if rule.qualifier_scope == "segment":
            head = SEGMENT_END.split(head)[-1]
        best: Optional[tuple[int, frozenset[Decimal], Fact]] = None
        for word, allowed, fact in rule.qualifiers:
            at = head.rfind(word)
            if at >= 0 and (best is None or at > best[0]):
                best = (at, allowed, fact)
        return (best[1], best[2]) if best else (rule.allowed, rule.fact)

    def _promises(self, where: str, sentence: str) -> list[Finding]:
        out = []
        for phrase in instruction_phrases(sentence):
            if phrase not in self.wording.instructions and not any(p.search(phrase) for p, _, _ in self.wording.unbuilt):
                fact = Fact("promise.unknown", SERVICE, "这个说法让用户去用一个助手和保险公司都没有提供的功能/入口；"
                            "请改成现有的做法（如发送“转人工”），或先在 wording.yml 登记它背后的功能", "wording.yml instructions")
                out.append(Finding(where, sentence, "promise", fact, phrase))
        for pattern, unless, fact in self.wording.unbuilt:
            m = pattern.search(sentence)
            if m and not unless.search(sentence):
                out.append(Finding(where, sentence, "promise", fact, m.group(0)))
        return out


COMMAND = re.compile(r"(?:发送?|回复|输入|说)\s*[“\"‘'「『]([^”\"’'」』]{1,16})[”\"’'」』]")
UI_NAME = re.compile(r"「([^」]{1,16})」")
ENTRY = re.compile(r"(?:点击?|找到|进入|打开)[^，。；「」]{0,8}?(?:入口|按钮|菜单)")


def instruction_phrases(sentence: str) -> list[str]:
    """Everything a sentence tells the user to send, tap or open: 发“转人工”, 「自动续费」, 发票入口."""
    found = [m.group(1) for m in COMMAND.finditer(sentence)]
    found += [m.group(1) for m in UI_NAME.finditer(sentence)]
    found += [m.group(0) for m in ENTRY.finditer(sentence)]
    return list(dict.fromkeys(found))


def check_texts(checker: FactChecker, texts: Mapping[str, tuple[str, Sequence[str]]]) -> list[Finding]:
    """Check arbitrary texts: {where: (text, products it is about)} (quote messages, bot responses)."""
    return checker.check(Document(where, text, tuple(products)) for where, (text, products) in texts.items())
