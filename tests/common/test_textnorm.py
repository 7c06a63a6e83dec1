"""The edge normalization every message goes through before NLU, search and quote parsing."""
import pytest

from common.textnorm import normalize_user_text


@pytest.mark.parametrize("typed,read", [
    ("給我媽買百萬醫療 她今年五十二歲 年繳", "给我妈买百万医疗 她今年52岁 年缴"),
    ("老公三十八", "老公38"),
    ("保额四十万 一年交多少", "保额40万 一年交多少"),
    ("保额５０万", "保额50万"),
    ("刚满三个月", "刚满3个月"),
    ("两个月前激活的", "2个月前激活的"),
    ("三十天等待期", "30天等待期"),
    ("八五年的", "85年的"),
    ("一九九零年出生", "1990年出生"),
    ("职业五类", "职业5类"),
    ("手机四千五", "手机4500"),
    ("交二十年", "交20年"),
])
def test_quantities_become_digits(typed, read):
    assert normalize_user_text(typed) == read


@pytest.mark.parametrize("words", ["百万医疗险", "千万别买", "万一出事了", "一般医疗", "一次性交清", "一起买", "第一次",
                                   "两三岁", "三四十岁", "十几岁", "买一天", "一年交多少"])
def test_words_with_numerals_stay_words(words):
    assert normalize_user_text(words) == words


def test_spaces_collapse_and_full_width_becomes_half_width():
    assert normalize_user_text("  百万医疗　　ＡＢＣ１２３ ") == "百万医疗 ABC123"
