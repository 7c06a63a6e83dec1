"""common/masking.py: personal data never survives masking; ordinary insurance text is untouched."""
import pytest
from hypothesis import given, settings, strategies as st

from common.masking import mask_name, mask_text, mask_user_id, mask_value


@pytest.mark.parametrize("text, secret, kept", [
    ("我的手机是13812345678", "13812345678", "138****5678"),
    ("电话 +86 138-1234-5678 谢谢", "1234-5678", "138****5678"),
    ("身份证110101199003071234", "110101199003071234", "110***********1234"),
    ("证件号11010119900307123X", "11010119900307123X", "110***********123X"),
    ("老身份证110101900307123", "110101900307123", "110********7123"),
    ("卡号6222 0212 3456 7890 123", "3456 7890", "6222****0123"),
    ("银行卡6217001234567890123", "6217001234567890123", "6217****0123"),
    ("邮箱zhang.san@qq.com", "zhang.san", "z***@qq.com"),
    ("座机010-12345678", "12345678", "010-****5678"),
    ("我叫张三丰，想理赔", "张三丰", "我叫张**"),
    ("姓名是李四", "李四", "姓名是李*"),
    ("姓名：王小明 身份证号见附件", "王小明", "姓名：王**"),
])
def test_personal_data_is_masked(text, secret, kept):
    masked = mask_text(text)
    assert secret not in masked
    assert kept in masked
    assert mask_text(masked) == masked          # idempotent


@pytest.mark.parametrize("text", ["百万医疗险等待期多久", "保额100万 免赔额1万", "第七条 等待期30日",
                                  "2024年5月1日出险", "我叫不出来这个名字", "保费每年356元", "P20240501123"])
def test_ordinary_text_is_unchanged(text):
    assert mask_text(text) == text


def test_ids_names_and_nested_values():
    assert mask_user_id("oAbcdefghijklmnWXYZ").startswith("oAbc") and "defgh" not in mask_user_id("oAbcdefghijklmnWXYZ")
    assert mask_user_id("short") == "*****"
    assert mask_name("欧阳娜娜") == "欧***" and mask_name("") == ""
    value = mask_value({"slots": {"phone": "13900001111"}, "turns": ["我叫赵六", 3]})
    assert value == {"slots": {"phone": "139****1111"}, "turns": ["我叫赵*", 3]}


@settings(max_examples=200, deadline=None)
@given(prefix=st.text(alphabet="保险理赔等待期我想问下，。 ", max_size=12),
       mobile=st.from_regex(r"1[3-9]\d{9}", fullmatch=True),
       suffix=st.text(alphabet="谢谢好的吗？ ", max_size=8))
def test_any_mobile_in_chinese_text_is_masked(prefix, mobile, suffix):
    masked = mask_text(prefix + mobile + suffix)
    assert mobile not in masked and mobile[:3] + "****" + mobile[-4:] in masked


@settings(max_examples=200, deadline=None)
@given(digits=st.from_regex(r"62\d{14,17}", fullmatch=True))
def test_any_bank_card_is_masked(digits):
    masked = mask_text(f"卡号{digits}")
    assert digits not in masked and masked.endswith(digits[-4:])
