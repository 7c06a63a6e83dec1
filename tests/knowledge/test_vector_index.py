"""faiss results must equal a brute-force numpy top-k, and ids must stay stable across edits."""
import numpy as np
import pytest

from knowledge.vector_index import VectorIndex, stable_id


def _normalised(rng, n, dim):
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.mark.parametrize("n,k", [(50, 5), (1000, 10), (3000, 25)])
def test_faiss_topk_equals_numpy_bruteforce(n, k):
    rng = np.random.default_rng(n)
    vecs = _normalised(rng, n, 64)
    keys = [f"doc-{i}" for i in range(n)]
    index = VectorIndex(64)
    index.add(keys, vecs)
    for q in _normalised(rng, 20, 64):
        got = index.search(q, k)
        sims = vecs @ q
        expected = np.argsort(-sims)[:k]
        assert [key for key, _ in got] == [keys[i] for i in expected]
        assert np.allclose([s for _, s in got], sims[expected], atol=1e-5)


def test_ids_are_stable_and_removal_keeps_the_rest():
    rng = np.random.default_rng(1)
    vecs = _normalised(rng, 10, 16)
    keys = [f"faq.x#q{i}" for i in range(10)]
    index = VectorIndex(16)
    index.add(keys, vecs)
    assert stable_id("faq.x#q3") == stable_id("faq.x#q3")
    assert index.remove(["faq.x#q3"]) == 1
    assert len(index) == 9
    assert "faq.x#q3" not in [k for k, _ in index.search(vecs[3], 9)]
    assert index.search(vecs[4], 1)[0][0] == "faq.x#q4"


def test_duplicate_keys_are_refused():
    index = VectorIndex(4)
    index.add(["a"], np.eye(4, dtype=np.float32)[:1])
    with pytest.raises(ValueError):
        index.add(["a"], np.eye(4, dtype=np.float32)[1:2])
