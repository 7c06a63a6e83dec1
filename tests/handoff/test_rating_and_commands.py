"""Ratings typed after a hand-off, and the commands agents type in WeCom."""
import pytest

from handoff.commands import Command, parse_command
from handoff.rating import parse_rating


@pytest.mark.parametrize("text, rating", [
    ("5", 5), ("5分", 5), ("打5星", 5), ("给5吧", 5), ("五星好评", 5), ("非常满意", 5), ("满意", 4), ("4分吧", 4),
    ("一般吧给3分", 3), ("三星", 3), ("一般", 3), ("不满意", 2), ("很差1分", 1), ("非常不满意", 1), ("差评 1分", 1),
])
def test_ratings(text, rating):
    assert parse_rating(text) == rating


@pytest.mark.parametrize("text", ["5号去理赔可以吗", "我想问下保单号1234", "12", "好的", "", "百万医疗险等待期多久"])
def test_not_ratings(text):
    assert parse_rating(text) is None


def test_long_text_counts_only_when_nlu_says_rate():
    text = "这次客服态度非常好我很满意的给你们五星好评"
    assert parse_rating(text) is None and parse_rating(text, "rate") == 5


@pytest.mark.parametrize("text, command", [
    ("#结束", Command("end")), ("#结束 12", Command("end", 12)), ("#结束#12", Command("end", 12)),
    ("#接 7", Command("claim", 7)), ("#上线", Command("status", text="online")),
    ("#忙碌", Command("status", text="busy")), ("#列表", Command("list")), ("#帮助", Command("help")),
    ("#12 您好，已为您查询", Command("reply", 12, "您好，已为您查询")), ("#乱写", Command("help")),
    ("您好，请问保单号是多少？", Command("reply", None, "您好，请问保单号是多少？")),
])
def test_agent_commands(text, command):
    assert parse_command(text) == command
