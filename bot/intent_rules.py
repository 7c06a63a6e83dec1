"""Deterministic corrections of four intents the classifier confuses with questions (plain Python: the
Rasa component bot/intent_guard.py applies them; unit tests run them without Rasa).

- A quote starts only when the user asks for a price, wants to buy, or gives the facts a quote needs.
  "网约车司机意外险保什么", "能给我老公买吗", "确诊了是不是马上就赔", "…比保额贵 差价谁出" are questions
  about a product: the knowledge base answers them. A "quote" that names nothing of insurance
  ("帮我订一份外卖") is not ours at all.
- Asking *when* agents work ("人工客服什么时间在线") is a question, not a request for a human.
- Asking *how* to delete one's data or close the account ("怎么注销账户、删除我的数据？") is a question: the FAQ
  explains the ways; "删除我的聊天记录" itself still asks to delete.
- Asking *how* to complain ("怎么投诉？", "投诉电话多少") is a question; "我要投诉" is a complaint.
- A message that carries a product, the insured's age and one more quote fact is a quote request even
  when it also asks something ("还能买不", "有没有轻症"): the quote form reads every fact (quotes/parsing.py).

Why rules and not more examples: these decisions sit on words the user either wrote or did not, and a
classifier trained on another CPU's float rounding may move a borderline message across; a rule does
not move.
"""
from __future__ import annotations

import re
from typing import Optional

PRICE = re.compile(r"多少钱|价格|价钱|保费|报价|报个价|费用|收费|[交缴付花]多少|要多少|[一每][年月天个]+(要)?多少|"
                   r"几块|几元|多少块|几[十百千]块?|贵不贵|贵吗|便宜|算一?下|算算|测算|试算|多钱|啥价|什么价|怎么卖")
BUY = re.compile(r"买保险|我要|要了|想买|要买|帮我买|给我买|我买|买一份|买份|来一份|来个|投一份|下单|购买|投保|"
                 r"入手|整一份|办一份|上一份|买个|买一个|买一天|买一年|想要|要个|怎么买|给.{1,6}(买|投|上)")
# "能买吗", "可以给我妈买吗", "60岁还能投保不": whether someone may buy is a question, not an order
MAY_BUY = re.compile(r"(能|可以|可不可以|能不能|能否|让|允许|还能|还可以).{0,10}(买|投保|投|保)(吗|么|嘛|不|没|呢)?[？?。!！\s]*$")
FACTS = re.compile(r"\d+\s*(岁|周岁|个月|天大|了|多)|今年\s*\d+|[零一二两三四五六七八九十]+岁|年缴|月缴|年交|月交|趸交|"
                   r"保额\s*\d|保额[一二三四五六七八九十百]|\d+\s*万|\d{3,5}|出生|属[鼠牛虎兔龙蛇马羊猴鸡狗猪]|激活")
HOURS = re.compile(r"什么时[间候]|几点|时间段|上班|下班|在线|营业|值班|工作时间|休息")
AGENT = re.compile(r"人工|客服|真人|坐席")
WANTS_AGENT = re.compile(r"转|接|找|要|叫|帮我|给我|联系|呼叫")
HOW = re.compile(r"怎么|如何|怎样|咋|在哪|哪里|流程|步骤|入口")
HOW_TO_COMPLAIN = re.compile(r"(怎么|如何|怎样|在哪|哪里|去哪|咋)(能|可以|才能|进行)?(投诉|反映|举报)|"
                             r"投诉(电话|渠道|方式|流程|入口|途径|热线)")
# words any message about our insurance uses; "帮我订一份外卖" has none
INSURANCE = re.compile(r"保|险|赔|医疗|碎屏|台风|意外|重疾|网约车|司机|住院|条款|报销")


def asks_for_price(text: str) -> bool:
    """A price, a purchase or the facts of a quote, not a question about what a product does."""
    if PRICE.search(text) or FACTS.search(text):
        return True
    return bool(BUY.search(text)) and not MAY_BUY.search(text)


def asks_agent_hours(text: str) -> bool:
    """When agents are available, without asking to be put through now."""
    return bool(AGENT.search(text) and HOURS.search(text)) and not WANTS_AGENT.search(text)


# intents a full quote request may be mistaken for; never a hand-off, complaint, deletion or yes/no
MISTAKEN_FOR_QUOTE = frozenset({"ask_question", "nlu_fallback", "out_of_scope", "inform", "greet", "bot_challenge"})
# facts beyond the product and the age: with one of them, a message is a quote request, not a question
_FURTHER_FACTS = ("payment_mode", "coverage_cny", "occupation_class", "payment_years", "cover_to", "phone_price_cny",
                  "phone_activation_days", "province", "term_months", "driver_certified")


def carries_quote_facts(text: str) -> bool:
    """A product, the insured's age and one more quote fact ("俺娘今年65了 还能买百万医疗不 一年一交"): a
    quote request, whatever question words it also has; "百万医疗60岁还能买吗" (no third fact) stays a question."""
    import datetime as dt

    from quotes.parsing import parse_quote_text
    from quotes.runtime import get_product_aliases   # the names the quote form itself reads

    found = parse_quote_text(text, today=dt.date.today(), product_aliases=get_product_aliases()).found()
    return "product" in found and ("age" in found or "age_days" in found) and any(f in found for f in _FURTHER_FACTS)


def corrected_intent(intent: Optional[str], text: str) -> Optional[str]:
    """The intent to use instead of `intent`, or None to keep it."""
    if intent in MISTAKEN_FOR_QUOTE and carries_quote_facts(text):
        return "ask_quote"
    if intent == "ask_quote" and not asks_for_price(text) and not carries_quote_facts(text):
        return "ask_question" if INSURANCE.search(text) else "out_of_scope"
    if intent == "request_human" and asks_agent_hours(text):
        return "ask_question"
    if intent == "delete_my_data" and HOW.search(text):
        return "ask_question"
    if intent == "complaint" and HOW_TO_COMPLAIN.search(text):
        return "ask_question"
    return None
