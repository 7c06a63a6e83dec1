"""Knowledge layer: FAQ + policy-clause retrieval with citations.

A plain library (never imports Rasa): the web service hosts it, benchmarks and tests call it.
Modules: vocabulary (products, section words), corpus (FAQ + clause documents -> items),
clauses (clause Markdown parser), encoder (offline sentence embeddings + cache),
vector_index (faiss with stable ids), lexical (BM25 over jieba), search (the ranked, cited answer).
"""
