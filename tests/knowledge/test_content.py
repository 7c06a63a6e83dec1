"""The knowledge seed agrees with the insurer's catalogue: every FAQ id, every must_state fact,
every clause section, continuous article numbers and citations that name existing articles."""
import pytest
import yaml

from knowledge.clauses import ClauseFormatError, parse_clause_document
from knowledge.corpus import MAX_ANSWER_CHARS, build_corpus
from knowledge.vocabulary import SECTION_TITLES, article_label, chinese_number
from tests.conftest import CONTENT_DIR, SHARED_CATALOGUE



def _catalogue() -> dict:
    path = SHARED_CATALOGUE / "faq.yml"
    if not path.exists():
        pytest.skip("shared/catalogue is not beside this checkout")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_every_catalogue_faq_has_an_answer_with_its_facts(snapshot):
    faqs = {f.id: f for f in snapshot.faqs}
    for entry in _catalogue()["faq"]:
        faq = faqs[entry["id"]]
        assert faq.question == entry["q"]
        for fact in entry["must_state"]:
            assert str(fact) in faq.answer, (entry["id"], fact)
        assert len(faq.answer) <= MAX_ANSWER_CHARS, entry["id"]
        assert len(faq.similar) >= 8, entry["id"]


def test_products_sheet_copy_matches_the_catalogue():
    path = SHARED_CATALOGUE / "products.yml"
    if not path.exists():
        pytest.skip("shared/catalogue is not beside this checkout")
    ours = yaml.safe_load((CONTENT_DIR / "products.yml").read_text(encoding="utf-8"))
    assert ours == yaml.safe_load(path.read_text(encoding="utf-8"))


def test_every_product_has_a_clause_document_with_every_section(snapshot):
    products = yaml.safe_load((CONTENT_DIR / "products.yml").read_text(encoding="utf-8"))["products"]
    docs = {d.product_id: d for d in snapshot.clause_docs}
    assert set(docs) == {p["id"] for p in products}
    for doc in docs.values():
        assert doc.sections() == list(SECTION_TITLES), doc.product_id
        assert [a.article_no for a in doc.articles] == list(range(1, len(doc.articles) + 1))
        text = (CONTENT_DIR / "clauses" / f"{doc.product_id}.md").read_text(encoding="utf-8")
        assert 2000 <= len(text) <= 6000, (doc.product_id, len(text))


def test_citations_name_existing_articles(snapshot):
    corpus = build_corpus(snapshot)
    docs = {d.title: d for d in snapshot.clause_docs}
    for item in corpus.items.values():
        if item.kind != "clause":
            continue
        for art in item.articles:
            title = art.citation.split("》")[0].lstrip("《")
            assert title in docs
            label = art.citation.split("》")[1].split()[0]
            assert label in [a.article_label for a in docs[title].articles]
            assert art.text.startswith(label)


def test_chinese_article_numbers_round_trip():
    for n in range(1, 60):
        assert chinese_number(article_label(n)[1:-1]) == n


@pytest.mark.parametrize("bad,reason", [
    ("# no front matter\n", "front matter"),
    ("---\nproduct_id: x\ntitle: t\n---\n## 保险责任 {#coverage}\n没有条号\n", "no article"),
    ("---\nproduct_id: x\ntitle: t\n---\n## 奇怪 {#weird}\n第一条 a\n", "unknown section"),
    ("---\nproduct_id: x\ntitle: t\n---\n## 保险责任 {#coverage}\n第一条 a\n\n第三条 b\n", "continuously"),
])
def test_bad_clause_documents_get_a_clear_error(bad, reason):
    with pytest.raises(ClauseFormatError, match=reason):
        parse_clause_document(bad)
