"""Topic carry-over: "那重疾险呢" after "百万医疗险等待期多久" asks the waiting period of 重疾险.

A short message that names one of our products and nothing else to ask ("那重疾险呢", "换成碎屏险呢",
"意外险的呢") is the previous question asked again of that product: the previous question's product
name is swapped for the new one (or the new name put in front when it named none). Anything longer
or with a question of its own ("重疾险保什么") is searched as it is. A follow-up that names no product
("那月缴呢") keeps the conversation's product through `context_product` instead.
"""
from __future__ import annotations

import re
from typing import Optional

from knowledge.vocabulary import Vocabulary

MAX_FOLLOW_UP_CHARS = 16
_LEAD = re.compile(r"^(那么?|那如果是|如果是|要是|换成|改成|还有|那换成)")
_TAIL = re.compile(r"(的话)?(呢|怎么样|咋样|怎样|如何|的呢|也一样吗|一样吗)?[？?。.!！～~]*$")


def _product_span(vocab: Vocabulary, text: str) -> Optional[tuple[str, str]]:
    """(product id, the alias as written) when `text` names exactly one product."""
    found = vocab.mentioned_products(text)
    if len(found) != 1:
        return None
    alias = next(a for a in vocab.product_aliases[found[0]] if a in text)
    return found[0], alias


def follow_up_query(vocab: Vocabulary, text: str, previous: Optional[str]) -> str:
    """The question `text` stands for, given the conversation's previous question."""
    if not previous or len(text) > MAX_FOLLOW_UP_CHARS:
        return text
    core = _TAIL.sub("", _LEAD.sub("", text.strip())).strip(" ，,的")
    named = _product_span(vocab, core)
    if named is None or core != named[1]:
        return text  # more than a product name: a question of its own
    product, alias = named
    before = vocab.mentioned_products(previous)
    if before == [product]:
        return text
    if len(before) == 1:
        old_alias = next(a for a in vocab.product_aliases[before[0]] if a in previous)
        return previous.replace(old_alias, alias, 1)
    if not before:
        return f"{alias}{previous}"
    return text
