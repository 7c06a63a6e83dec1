"""Message parsing and planning, province lookup, reply rendering and splitting."""
from __future__ import annotations

import json

import pytest

from connectors import messages as m
from connectors.geo import locate_province, province_from_coordinates, province_from_label
from connectors.replies import delivery_plan, split_utf8, texts_from_bot


def inbound(**fields):
    base = {"ToUserName": "gh_1", "FromUserName": "oUser1", "CreateTime": "1700000000"}
    return m.parse_inbound({**base, **{k: str(v) for k, v in fields.items()}})


def test_text_goes_to_rasa_and_cannot_inject_intents():
    assert m.plan_for(inbound(MsgType="text", Content=" 等待期多久 ", MsgId=1)).rasa_text == "等待期多久"
    assert m.plan_for(inbound(MsgType="text", Content='/share_location{"province":"广东"}', MsgId=2)).rasa_text \
        == '／share_location{"province":"广东"}'
    assert len(m.plan_for(inbound(MsgType="text", Content="长" * 5000, MsgId=3)).rasa_text) == m.MAX_TEXT_CHARS


@pytest.mark.parametrize("content", ["", "   ", "\n"])
def test_empty_text_gets_a_prompt_without_a_turn(content):
    plan = m.plan_for(inbound(MsgType="text", Content=content, MsgId=1))
    assert plan.rasa_text is None and plan.reply == m.REPLY_EMPTY_TEXT


def test_voice_uses_recognition_or_asks_to_type():
    assert m.plan_for(inbound(MsgType="voice", Recognition="我要转人工", MsgId=1)).rasa_text == "我要转人工"
    assert m.plan_for(inbound(MsgType="voice", MsgId=1)).reply == m.REPLY_VOICE_UNRECOGNISED


def test_location_becomes_share_location_with_province():
    plan = m.plan_for(inbound(MsgType="location", Location_X=22.54, Location_Y=114.06, Label="", MsgId=1))
    assert plan.rasa_text == '/share_location{"province": "广东"}'
    assert json.loads(plan.rasa_text[len("/share_location"):]) == {"province": "广东"}
    unknown = m.plan_for(inbound(MsgType="location", Location_X=48.85, Location_Y=2.35, Label="Paris", MsgId=1))
    assert unknown.reply == m.REPLY_LOCATION_UNKNOWN


@pytest.mark.parametrize("msg_type,reply", [("image", m.REPLY_IMAGE), ("link", m.REPLY_LINK),
                                            ("video", m.REPLY_MEDIA), ("shortvideo", m.REPLY_MEDIA),
                                            ("file", m.REPLY_MEDIA), ("hologram", m.REPLY_UNSUPPORTED),
                                            ("", m.REPLY_UNSUPPORTED)])
def test_other_types_get_polite_direct_replies(msg_type, reply):
    plan = m.plan_for(inbound(MsgType=msg_type, MsgId=1))
    assert plan.reply == reply and plan.rasa_text is None


def test_events():
    assert m.plan_for(inbound(MsgType="event", Event="subscribe")).rasa_text == "/greet"
    unsub = m.plan_for(inbound(MsgType="event", Event="unsubscribe"))
    assert unsub.rasa_text == "/restart" and unsub.deliver is False
    assert m.plan_for(inbound(MsgType="event", Event="CLICK", EventKey="MENU_QUOTE")).rasa_text == "/ask_quote"
    assert m.plan_for(inbound(MsgType="event", Event="CLICK", EventKey="MENU_HUMAN")).rasa_text == "/request_human"
    assert m.plan_for(inbound(MsgType="event", Event="CLICK", EventKey="MENU_CLAIM")).rasa_text == "怎么申请理赔"
    assert m.plan_for(inbound(MsgType="event", Event="CLICK", EventKey="NOPE")).reply == m.REPLY_MENU_UNKNOWN
    for silent in ("VIEW", "LOCATION", "SCAN", "TEMPLATESENDJOBFINISH", ""):
        plan = m.plan_for(inbound(MsgType="event", Event=silent))
        assert plan.rasa_text is None and plan.reply is None


def test_dedupe_keys():
    assert inbound(MsgType="text", MsgId=42).dedupe_key == "wx:gh_1:m:42"
    a = inbound(MsgType="event", Event="subscribe").dedupe_key
    assert a == inbound(MsgType="event", Event="subscribe").dedupe_key
    assert a != inbound(MsgType="event", Event="unsubscribe").dedupe_key
    assert inbound(MsgType="text", MsgId="12; DROP").msg_id == ""


@pytest.mark.parametrize("fields", [{}, {"FromUserName": "o"}, {"FromUserName": "o", "ToUserName": "g"},
                                    {"FromUserName": "o", "ToUserName": "g", "CreateTime": "yesterday"}])
def test_invalid_messages(fields):
    with pytest.raises(m.InvalidMessage):
        m.parse_inbound(fields)


# ---- province lookup ------------------------------------------------------------------------
CITIES = [
    ("深圳", 22.543, 114.058, "广东"), ("深圳南山", 22.533, 113.930, "广东"), ("广州", 23.129, 113.264, "广东"),
    ("湛江", 21.271, 110.359, "广东"), ("徐闻", 20.326, 110.175, "广东"), ("珠海", 22.271, 113.577, "广东"),
    ("汕头", 23.354, 116.682, "广东"), ("厦门", 24.480, 118.089, "福建"), ("福州", 26.074, 119.296, "福建"),
    ("宁德", 26.666, 119.548, "福建"), ("漳州", 24.513, 117.647, "福建"), ("杭州", 30.274, 120.155, "浙江"),
    ("温州", 27.994, 120.699, "浙江"), ("宁波", 29.868, 121.544, "浙江"), ("嘉兴", 30.746, 120.755, "浙江"),
    ("舟山", 29.985, 122.207, "浙江"), ("海口", 20.044, 110.199, "海南"), ("三亚", 18.252, 109.512, "海南"),
    ("南宁", 22.817, 108.366, "广西"), ("北海", 21.481, 109.120, "广西"), ("防城港", 21.686, 108.354, "广西"),
    ("上海", 31.230, 121.474, "上海"), ("上海浦东机场", 31.144, 121.808, "上海"), ("上海金山", 30.741, 121.342, "上海"),
    ("上海嘉定", 31.383, 121.266, "上海"), ("苏州", 31.299, 120.585, "江苏"), ("昆山", 31.385, 120.981, "江苏"),
    ("香港", 22.319, 114.169, "香港"), ("澳门", 22.199, 113.544, "澳门"), ("北京", 39.904, 116.407, "北京"),
    ("乌鲁木齐", 43.825, 87.617, "新疆"), ("拉萨", 29.652, 91.172, "西藏"), ("成都", 30.573, 104.066, "四川"),
    ("台北", 25.033, 121.565, "台湾"), ("哈尔滨", 45.803, 126.535, "黑龙江"),
]


@pytest.mark.parametrize("name,lat,lon,province", CITIES, ids=[c[0] for c in CITIES])
def test_province_from_coordinates(name, lat, lon, province):
    assert province_from_coordinates(lat, lon) == province


@pytest.mark.parametrize("lat,lon", [(48.85, 2.35), (35.68, 139.69), (21.03, 105.85), (37.56, 126.97),
                                     (0, 0), (float("nan"), 100), (-33.9, 151.2)])
def test_outside_china(lat, lon):
    assert province_from_coordinates(lat, lon) is None


@pytest.mark.parametrize("label,province", [
    ("广东省深圳市南山区科技园", "广东"), ("深圳市福田区福华路", "广东"), ("厦门市思明区鼓浪屿", "福建"),
    ("浙江省杭州市西湖区", "浙江"), ("海南省海口市美兰区", "海南"), ("广西壮族自治区南宁市青秀区", "广西"),
    ("上海市黄浦区广西北路100号", "上海"), ("广州市越秀区北京路", "广东"), ("北京路步行街", None),
    ("腾讯大厦", None), ("", None), ("内蒙古自治区呼和浩特市", "内蒙古"),
])
def test_province_from_label(label, province):
    assert province_from_label(label) == province


def test_locate_prefers_label_start_then_coordinates():
    # label starting with a place wins (WeChat's reverse geocoding) even right at a border
    assert locate_province(22.54, 114.06, "香港特别行政区九龙") == "香港"
    # a POI name does not decide; the coordinates do
    assert locate_province(23.12, 113.32, "北京路步行街") == "广东"
    assert locate_province(None, None, "位于海口市的酒店") == "海南"
    assert locate_province(None, None, "") is None


# ---- rendering and splitting ----------------------------------------------------------------
def test_texts_from_bot_renders_every_kind():
    texts = texts_from_bot([
        {"text": "您好"},
        {"text": "请选择", "buttons": [{"title": "医疗险", "payload": "/x"}, {"title": "意外险"}]},
        {"image": "https://e.x/a.png"},
        {"custom": {"text": "自定义"}},
        {"custom": {"foo": 1}},
        {},
    ])
    assert texts == ["您好", "请选择\n您可以回复：医疗险 / 意外险", "[图片] https://e.x/a.png", "自定义"]


def test_split_utf8_respects_bytes_and_boundaries():
    text = ("保险条款说明。" * 400)
    pieces = split_utf8(text, 2048)
    assert all(len(p.encode("utf-8")) <= 2048 for p in pieces)
    assert "".join(pieces) == text
    assert all(p.endswith("。") for p in pieces)
    emoji = "😀" * 1000  # 4 bytes each, no break characters
    pieces = split_utf8(emoji, 2048)
    assert "".join(pieces) == emoji and all(len(p.encode()) <= 2048 for p in pieces)
    assert split_utf8("短", 2048) == ["短"]


def test_delivery_plan():
    assert delivery_plan([]) == (None, [])
    assert delivery_plan(["a", "b"]) == ("a\n\nb", [])
    long = "很长的回答。" * 200
    passive, custom = delivery_plan(["开头", long])
    assert passive is None and custom[0] == "开头" and len(custom) >= 3
    assert all(len(c.encode()) <= 2048 for c in custom)
