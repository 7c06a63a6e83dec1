"""Promises only of what exists: every instruction the assistant gives ("发送“转人工”", 「自动续费」, an
entry or button) is registered in wording.yml with the feature that backs it, and that feature is real."""
from __future__ import annotations

import re

import pytest
import yaml

from knowledge.factcheck import Document, FactChecker, instruction_phrases, sentences
from tests.conftest import CONTENT_DIR, REPO_ROOT


def _domain() -> dict:
    return yaml.safe_load((REPO_ROOT / "domain.yml").read_text(encoding="utf-8"))


def _nlu_examples() -> dict[str, set[str]]:
    examples: dict[str, set[str]] = {}
    for path in (REPO_ROOT / "bot" / "data").glob("*nlu.yml"):
        for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu") or ():
            if "intent" in block:
                lines = [re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", l.lstrip("- ").strip())
                         for l in block["examples"].splitlines() if l.strip()]
                examples.setdefault(block["intent"], set()).update(lines)
    return examples


def bot_texts() -> dict[str, str]:
    """What the assistant itself says outside the knowledge base: domain responses and channel replies."""
    import actions.answer as answer
    import actions.delete_data as delete_data
    import connectors.messages as messages
    import handoff.texts as handoff_texts

    texts = {f"domain {name}": variant["text"] for name, variants in _domain()["responses"].items()
             for variant in variants if "text" in variant}
    for module in (messages, answer, delete_data, handoff_texts):
        texts.update({f"{module.__name__}.{name}": value for name, value in vars(module).items()
                      if name.isupper() and isinstance(value, str) and re.search(r"[\u4e00-\u9fa5]", value)})
    return texts


@pytest.fixture(scope="module")
def checker() -> FactChecker:
    return FactChecker.from_content(CONTENT_DIR)


def test_bot_responses_agree_with_the_sheet_and_promise_only_what_exists(checker):
    findings = checker.check(Document(where, text) for where, text in bot_texts().items())
    assert not findings, "\n".join(f.message() for f in findings)


def test_every_instruction_is_registered_with_what_backs_it(checker, snapshot):
    found: dict[str, str] = {}
    texts = {f.id: f.answer for f in snapshot.faqs}
    texts.update({a.citation: a.text for d in snapshot.clause_docs for a in d.articles})
    texts.update(bot_texts())
    for where, text in texts.items():
        for sentence in sentences(text):
            for phrase in instruction_phrases(sentence):
                found.setdefault(phrase, where)
    registry = checker.wording.instructions
    unregistered = {p: w for p, w in found.items() if p not in registry
                    and not any(pattern.search(p) for pattern, _, _ in checker.wording.unbuilt)}
    assert not unregistered
    # the ones the shipped content really uses, with their backing (the list this test keeps honest)
    assert {"转人工", "投诉", "删除我的聊天记录", "确认", "自动续费"} <= set(found)


def test_each_command_is_understood_by_the_assistant(checker):
    intents = set(_domain()["intents"])
    examples = _nlu_examples()
    commands = {p: item for p, item in checker.wording.instructions.items() if item["kind"] == "command"}
    assert commands
    for phrase, item in commands.items():
        kind, _, name = item["backed_by"].partition(":")
        assert kind == "intent" and name in intents, phrase
        assert phrase in examples.get(name, set()), f"“{phrase}” is not an NLU example of {name}"


def test_each_question_is_one_the_knowledge_base_answers_as_typed(checker, knowledge_index):
    questions = {p: item for p, item in checker.wording.instructions.items() if item["kind"] == "question"}
    assert questions
    for phrase, item in questions.items():
        kind, _, faq_id = item["backed_by"].partition(":")
        result = knowledge_index.search(phrase)
        assert kind == "faq" and result.decision == "answer" and result.hits[0].id == faq_id, phrase


def test_wechat_paths_name_the_wechat_client(checker):
    for phrase, item in checker.wording.instructions.items():
        if item["kind"] == "wechat":
            assert item["backed_by"].startswith("wechat:") and phrase in item["backed_by"], phrase


def test_unbuilt_features_may_only_be_named_as_not_yet_available(checker):
    ok = Document("t", "在对话里自助查看我的保单的功能还没有上线，请发送“转人工”。")
    assert not checker.check([ok])
    bad = checker.check([Document("t", "在「我的保单」里可以下载电子保单。")])
    assert [f.fact.id for f in bad] == ["promise.my_policies"]
