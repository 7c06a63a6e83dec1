"""The knowledge base as documents: keys, canonical bodies, validation, and the knowledge snapshot.

Keys: `faq/<faq id>` (JSON of FaqEntry.to_dict()), `clause/<product_id>` (the clause Markdown),
`clause_questions` (JSON {section id: [questions]}), `rates/<product_id>` (the rate table YAML, as
typed, comments kept). These are exactly the shapes `knowledge.corpus.snapshot_from_sources` and
`quotes.rates` read, so a version in the database and the seed files are interchangeable.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

import yaml

from knowledge.clauses import ClauseFormatError, parse_clause_document
from knowledge.corpus import MAX_ANSWER_CHARS, FaqEntry, KnowledgeSnapshot, load_clause_questions, snapshot_from_sources
from knowledge.factcheck import FactChecker

FAQ_PREFIX, CLAUSE_PREFIX, RATES_PREFIX = "faq/", "clause/", "rates/"
CLAUSE_QUESTIONS = "clause_questions"
FAQ_ID_RE = re.compile(r"^faq\.[a-z0-9_]+(\.[a-z0-9_]+)*$")
MAX_QUESTION_CHARS, MAX_SIMILAR = 120, 200


class DocumentError(ValueError):
    """A document that cannot be stored or published; `problems` lists every reason, in Chinese-friendly text."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def faq_key(faq_id: str) -> str:
    return FAQ_PREFIX + faq_id


def clause_key(product_id: str) -> str:
    return CLAUSE_PREFIX + product_id


def rates_key(product_id: str) -> str:
    return RATES_PREFIX + product_id


def faq_body(raw: Mapping[str, Any]) -> str:
    """Validate one FAQ and return its canonical JSON body; raises DocumentError."""
    problems: list[str] = []
    faq_id = str(raw.get("id") or "").strip()
    if not FAQ_ID_RE.match(faq_id):
        problems.append(f"FAQ 编号“{faq_id}”不合法：需形如 faq.claim.process（小写字母、数字、下划线，用点分隔）")
    question = " ".join(str(raw.get("question") or "").split())
    if not question:
        problems.append("标准问不能为空")
    elif len(question) > MAX_QUESTION_CHARS:
        problems.append(f"标准问不能超过{MAX_QUESTION_CHARS}字")
    answer = " ".join(str(raw.get("answer") or "").split())
    if not answer:
        problems.append("答案不能为空")
    elif len(answer) > MAX_ANSWER_CHARS:
        problems.append(f"答案{len(answer)}字，超过上限{MAX_ANSWER_CHARS}字")
    similar_raw = raw.get("similar") or []
    if isinstance(similar_raw, str):
        similar_raw = similar_raw.splitlines()
    similar = list(dict.fromkeys(s for s in (" ".join(str(x).split()) for x in similar_raw) if s and s != question))
    if len(similar) > MAX_SIMILAR:
        problems.append(f"相似问最多{MAX_SIMILAR}条")
    if any(len(s) > MAX_QUESTION_CHARS for s in similar):
        problems.append(f"相似问每条不能超过{MAX_QUESTION_CHARS}字")
    products = [str(p).strip() for p in raw.get("products") or [] if str(p).strip()]
    if problems:
        raise DocumentError(problems)
    entry = FaqEntry.from_dict({"id": faq_id, "question": question, "answer": answer, "similar": similar,
                                "products": products})
    return json.dumps(entry.to_dict(), ensure_ascii=False)


def clause_body(source: str, product_id: Optional[str] = None) -> str:
    """Check that a clause document parses (and is for `product_id`); returns it normalised."""
    text = source.replace("\r\n", "\n").lstrip("\ufeff")
    try:
        doc = parse_clause_document(text, source=f"条款 {product_id or ''}".strip())
    except ClauseFormatError as exc:
        raise DocumentError([str(exc)]) from exc
    if product_id is not None and doc.product_id != product_id:
        raise DocumentError([f"条款头部的 product_id 是“{doc.product_id}”，与所选产品“{product_id}”不一致"])
    return text if text.endswith("\n") else text + "\n"


def clause_questions_body(questions: Mapping[str, Iterable[str]]) -> str:
    return json.dumps({k: list(v) for k, v in questions.items()}, ensure_ascii=False)


def seed_documents(content_dir: Path) -> dict[str, str]:
    """The seed files as documents, in the order load_seed reads them (so the snapshot versions agree)."""
    docs: dict[str, str] = {}
    raw = yaml.safe_load((content_dir / "faq.yml").read_text(encoding="utf-8"))
    for item in raw["faqs"]:
        entry = FaqEntry.from_dict(item)
        docs[faq_key(entry.id)] = json.dumps(entry.to_dict(), ensure_ascii=False)
    for path in sorted((content_dir / "clauses").glob("*.md")):
        text = path.read_text(encoding="utf-8")
        docs[clause_key(parse_clause_document(text, source=str(path)).product_id)] = text
    docs[CLAUSE_QUESTIONS] = clause_questions_body(load_clause_questions(content_dir))
    rates_dir = content_dir / "rates"
    if rates_dir.is_dir():
        for path in sorted(rates_dir.glob("*.yml")):
            docs[rates_key(path.stem)] = path.read_text(encoding="utf-8")
    return docs


def faqs_of(docs: Mapping[str, str]) -> list[dict]:
    return [json.loads(body) for key, body in docs.items() if key.startswith(FAQ_PREFIX)]


def rate_texts_of(docs: Mapping[str, str]) -> dict[str, str]:
    return {key[len(RATES_PREFIX):]: body for key, body in docs.items() if key.startswith(RATES_PREFIX)}


def snapshot_of(docs: Mapping[str, str]) -> KnowledgeSnapshot:
    """The knowledge snapshot a version describes (clause parse errors raise ClauseFormatError)."""
    clause_sources = [body for key, body in docs.items() if key.startswith(CLAUSE_PREFIX)]
    questions = json.loads(docs.get(CLAUSE_QUESTIONS) or "{}")
    return snapshot_from_sources(faqs_of(docs), clause_sources, questions)


def validate_documents(docs: Mapping[str, str], content_dir: Path) -> list[str]:
    """Every reason this set of documents must not go live (empty: publishable)."""
    problems: list[str] = []
    seen: set[str] = set()
    for key, body in docs.items():
        if key.startswith(FAQ_PREFIX):
            try:
                raw = json.loads(body)
                faq_body(raw)
            except DocumentError as exc:
                problems += [f"{key}: {p}" for p in exc.problems]
                continue
            except ValueError as exc:
                problems.append(f"{key}: 不是有效的 JSON（{exc}）")
                continue
            if raw["id"] != key[len(FAQ_PREFIX):]:
                problems.append(f"{key}: 文档内编号 {raw['id']} 与键不一致")
            seen.add(raw["id"])
        elif key.startswith(CLAUSE_PREFIX):
            try:
                clause_body(body, key[len(CLAUSE_PREFIX):])
            except DocumentError as exc:
                problems += exc.problems
    if not seen:
        problems.append("知识库里至少要有一条 FAQ")
    rates = rate_texts_of(docs)
    if rates:
        problems += rate_problems(rates, content_dir)
    if not problems:
        problems += fact_problems(docs, content_dir)
    return problems


def fact_problems(docs: Mapping[str, str], content_dir: Path) -> list[str]:
    """Sentences that contradict the product sheet, use forbidden wording or promise a missing feature."""
    checker = FactChecker.from_content(content_dir)
    return [finding.message() for finding in checker.check_snapshot(snapshot_of(docs))]


def document_fact_problems(key: str, body: str, content_dir: Path) -> list[str]:
    """`fact_problems` of one saved FAQ or clause document: shown to the editor on saving, enforced on publishing."""
    if not (key.startswith(FAQ_PREFIX) or key.startswith(CLAUSE_PREFIX)):
        return []
    return fact_problems({key: body}, content_dir)


def rate_problems(texts: Mapping[str, str], content_dir: Path, only: Optional[str] = None) -> list[str]:
    """Validation by the quote library (quotes.rates), against products.yml in `content_dir`."""
    from quotes.catalogue import load_catalogue
    from quotes.rates import validate_rate_texts

    catalogue = load_catalogue(content_dir / "products.yml")
    problems = validate_rate_texts(texts, catalogue)
    if only is not None:
        problems = [p for p in problems if p.startswith(f"{only}.yml")]
    return problems
