"""Every place personal data could leave through actually masks it: log lines (three ways a process
logs), unanswered-question mining (the store and the action server's report), the agent's hand-off
card and the analytics report. Each is fed every message of the evaluation set."""
from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

from bench.masking_eval import gold_spans, leaks, load_samples
from common.logging_setup import KeyValueFormatter, MaskingFilter, configure_logging, install_record_masking

WITH_PII = [s for s in load_samples() if gold_spans(s)]


def assert_no_leaks(render) -> None:
    """``render(sample)`` is what leaves the call site for that message; checked sample by sample (kept
    ends of one number must not be read as another sample's digits)."""
    found = [(s["id"], kind, text) for s in WITH_PII for kind, text in leaks(s, render(s))]
    assert found == []


def _logged(logger: logging.Logger, out: io.StringIO):
    """A renderer: log one sample every way a caller might, return the lines written."""
    def render(sample) -> str:
        out.seek(0)
        out.truncate()
        logger.info("user said %s", sample["text"], extra={"event": "test.turn", "question": sample["text"],
                                                           "nested": {"turns": [sample["text"]]}})
        logger.warning(f"inline {sample['text']}")
        try:
            raise ValueError(sample["text"])
        except ValueError:
            logger.exception("failed for %s", sample["text"])
        return out.getvalue()
    return render


@pytest.fixture
def logger():
    log = logging.getLogger("tests.privacy.masking")
    log.propagate, log.level = False, logging.INFO
    yield log
    log.handlers.clear()


def test_key_value_formatter_alone_masks(logger):
    """connectors/rasa_glue.py sets only the formatter on its handler."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(KeyValueFormatter())
    logger.addHandler(handler)
    render = _logged(logger, out)
    text = render(WITH_PII[0])
    assert "event=\"test.turn\"" in text and "ValueError" in text and "139****3548" in text
    assert_no_leaks(render)


def test_masking_filter_masks_for_any_formatter(logger):
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s q=%(question)s"))
    handler.addFilter(MaskingFilter())
    logger.addHandler(handler)
    assert_no_leaks(_logged(logger, out))


def test_record_masking_covers_handlers_made_later(logger):
    """The action server: rasa-sdk adds its coloured handler after our start-up code ran."""
    previous = logging.getLogRecordFactory()
    try:
        install_record_masking()
        install_record_masking()                                   # idempotent
        out = io.StringIO()
        handler = logging.StreamHandler(out)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-8s %(name)s  - %(message)s"))
        logger.addHandler(handler)
        render = _logged(logger, out)
        assert "ValueError" in render(WITH_PII[0])
        assert_no_leaks(render)
    finally:
        logging.setLogRecordFactory(previous)


def test_configure_logging_installs_the_filter():
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    root.handlers.clear()
    try:
        configure_logging("INFO")
        ours = [h for h in root.handlers if isinstance(h.formatter, KeyValueFormatter)]
        assert len(ours) == 1 and any(isinstance(f, MaskingFilter) for f in ours[0].filters)
    finally:
        root.handlers[:] = saved
        root.setLevel(level)


def test_unanswered_questions_are_stored_redacted(tmp_path):
    import ops.tables  # noqa: F401
    from ops import unanswered
    from storage.db import create_all, get_engine

    engine = get_engine(f"sqlite:///{tmp_path / 'app.db'}")
    create_all(engine)
    ids = {s["id"]: unanswered.record(engine, s["text"], sender_id=f"o{n}", reason="foreign_term")
           for n, s in enumerate(WITH_PII)}
    stored = {r.id: r.question for r in unanswered.open_items(engine, limit=5000)}
    assert "[地址]" in stored[ids["a001"]] and "[姓名]" in stored[ids["n001"]]
    assert_no_leaks(lambda sample: stored[ids[sample["id"]]])


def test_action_server_reports_misses_redacted(monkeypatch):
    import actions.unanswered as report

    sent: list[dict] = []

    async def capture(payload):
        sent.append(payload)

    monkeypatch.setattr(report, "_post", capture)

    async def run():
        for sample in WITH_PII:
            report.report_miss(sample["text"], sender_id="o1", reason="low_score")
        await asyncio.gather(*list(report._pending))

    asyncio.run(run())
    assert len(sent) == len(WITH_PII)
    by_sample = dict(zip((s["id"] for s in WITH_PII), (p["question"] for p in sent)))
    assert_no_leaks(lambda sample: by_sample[sample["id"]])


def test_handoff_card_is_masked():
    from handoff.card import build_card, question_for_suggestion, render_card_text, summary

    def render(sample) -> str:
        events = [{"event": "user", "text": sample["text"], "timestamp": 1.0,
                   "parse_data": {"intent": {"name": "ask_question", "confidence": 0.4}}},
                  {"event": "bot", "text": f"好的，您提供的是：{sample['text']}", "timestamp": 2.0}]
        card = build_card(conversation_id="oAbcdefghijklmnWXYZ", channel="wechat", events=events,
                          slots={"province": sample["text"], "knowledge_misses": 2},
                          latest_message={"intent": {"name": "request_human", "confidence": 0.9}},
                          reason="request_human", nickname="微信用户",
                          suggestion={"hits": [{"text": sample["text"], "citation": "faq", "id": "faq.x", "score": 0.5}],
                                      "confidence": 0.5, "answerable": False})
        return "\n".join([json.dumps(card, ensure_ascii=False), render_card_text(card, 7), summary(card),
                          question_for_suggestion(events) or ""])

    assert "139****3548" in render(WITH_PII[0])          # masked, not dropped: the agent sees which number
    assert_no_leaks(render)


def test_analytics_report_carries_no_message_text():
    """Analytics reads tracker events (which hold the raw messages) but only aggregates leave it."""
    from ops.analytics import compute, to_csv

    now = 1_735_000_000.0

    def render(sample) -> str:
        ts = now - 3600
        events = [("o1", "user", ts, "rate", None, json.dumps({"text": sample["text"] + " 5分"})),
                  ("o1", "bot", ts + 0.5, None, None, json.dumps({"text": sample["text"]})),
                  ("o1", "slot", ts + 0.6, None, None, json.dumps({"name": "last_answer_id", "value": "faq.x"})),
                  ("o1", "action", ts + 0.7, None, "action_escalate_to_agent", "{}")]
        report = compute(events, {}, days=2, now=now)
        assert report["totals"]["conversations"] == 1 and report["totals"]["handoffs"] == 1
        return json.dumps(report, ensure_ascii=False) + to_csv(report)

    assert_no_leaks(render)
