"""Exclusions summary, clause citation and waiting period taken from the clause documents."""
import re

import pytest

from quotes.clauses import SUMMARY_MAX_CHARS

PRODUCTS = ["medical_million", "accident", "critical_illness", "screen", "typhoon", "driver_accident"]


@pytest.mark.parametrize("product_id", PRODUCTS)
def test_every_product_has_a_citable_exclusions_section(clause_facts, catalogue, product_id):
    facts = clause_facts[product_id]
    title = facts.title
    assert re.fullmatch(rf"《{title}》第[一二三四五六七八九十]+条(、第[一二三四五六七八九十]+条)* 责任免除",
                        facts.exclusions_citation)
    assert facts.waiting_citation.startswith(f"《{title}》") and facts.waiting_citation.endswith("等待期")
    assert 20 <= len(facts.exclusions_summary) <= SUMMARY_MAX_CHARS + 1
    assert facts.version == "2026.1"
    # the summary only says what the contract says: every item is taken from the articles' text
    text = facts.exclusions_text
    for item in facts.exclusions_summary.rstrip("等").split("；"):
        head = item.rstrip("等").split("等")[0].split("、")[0].split("，")[0]
        assert head[:4] in text, item


def test_medical_citation_matches_the_clause(clause_facts):
    assert clause_facts["medical_million"].exclusions_citation == "《百万医疗险条款》第四条、第五条 责任免除"
    assert "既往症" in clause_facts["medical_million"].exclusions_summary


@pytest.mark.parametrize("product_id", PRODUCTS)
def test_waiting_period_of_the_sheet_agrees_with_the_clause(clause_facts, catalogue, product_id):
    days = catalogue.get(product_id).waiting_period_days
    waiting_article = clause_facts[product_id].waiting_citation
    assert waiting_article
    from knowledge.clauses import parse_clause_document
    from tests.quotes.conftest import CONTENT_DIR

    doc = parse_clause_document((CONTENT_DIR / "clauses" / f"{product_id}.md").read_text(encoding="utf-8"))
    text = " ".join(a.text for a in doc.articles if a.section == "waiting_period")
    if days == 0:
        assert "无等待期" in text
    else:
        assert f"{days}日为等待期" in text


def test_every_quote_summary_names_what_the_product_sheet_singles_out(clause_facts):
    """猝死 for accident and driver cover (不保障猝死), 既往症 for the medical cover that excludes it."""
    assert "猝死" in clause_facts["accident"].exclusions_summary
    assert "猝死" in clause_facts["driver_accident"].exclusions_summary
    assert "既往症" in clause_facts["medical_million"].exclusions_summary
    for facts in clause_facts.values():
        assert len(facts.exclusions_summary) <= 161


def test_a_singled_out_exclusion_shortened_away_is_named_on_its_own():
    from quotes.clauses import summarise

    text = summarise([["故意自伤", "因疾病、妊娠导致的伤害"]], singled_out=("猝死",))
    assert text.startswith("猝死；")
