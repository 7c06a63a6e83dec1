"""The ONNX graphs against sentence-transformers, and the thread pinning of a search process."""
import subprocess
import sys

import numpy as np
import pytest

from common.settings import REPO_ROOT
from tests.conftest import MODEL_DIR, ONNX_DIR

TEXTS = ["百万医疗险等待期多久", "我妈60岁了还能买意外险吗", "第七条 责任免除 因战争、军事冲突造成的损失", "碎屏险"]


@pytest.fixture(scope="module")
def torch_vectors():
    from knowledge.encoder import SentenceTransformerEncoder

    encoder = SentenceTransformerEncoder(MODEL_DIR)
    return {p: encoder.encode(TEXTS, p) for p in ("query", "passage")}


@pytest.mark.parametrize("variant,min_cosine", [("fp32", 0.99999), ("int8", 0.9995)])
def test_onnx_graph_reproduces_the_torch_vectors(torch_vectors, variant, min_cosine):
    """fp32 serves search, so its vectors must equal torch's to float rounding (the calibration depends on it)."""
    from knowledge.onnx_encoder import OnnxEncoder

    encoder = OnnxEncoder(ONNX_DIR, variant=variant)
    for prompt, expected in torch_vectors.items():
        got = encoder.encode(TEXTS, prompt)
        cosines = (got * expected).sum(axis=1)
        assert cosines.min() >= min_cosine, (variant, prompt, cosines)


def test_onnx_encoder_keeps_input_order_across_batches():
    from knowledge.onnx_encoder import OnnxEncoder

    encoder = OnnxEncoder(ONNX_DIR)
    texts = [t * n for n in range(1, 6) for t in TEXTS][::-1]  # lengths out of order, several batches
    batched = encoder.encode(texts, "query", batch_size=3)
    one_by_one = np.vstack([encoder.encode([t], "query") for t in texts])
    assert np.allclose(batched, one_by_one, atol=1e-4)


def test_unknown_variant_is_a_clear_error():
    from knowledge.onnx_encoder import OnnxEncoder

    with pytest.raises(ValueError, match="variant"):
        OnnxEncoder(ONNX_DIR, variant="fp16")


def test_loading_a_search_encoder_pins_openmp_pools_to_one_thread():
    """In a fresh process: before load_encoder the pools have one thread per core, after it one."""
    code = (
        "import faiss, sklearn.ensemble\n"
        "from threadpoolctl import threadpool_info\n"
        "from pathlib import Path\n"
        "from knowledge.encoder import load_encoder\n"
        "before = max(p['num_threads'] for p in threadpool_info() if p['user_api'] == 'openmp')\n"
        f"load_encoder('onnx', Path({str(MODEL_DIR)!r}), Path({str(ONNX_DIR)!r}))\n"
        "after = {p['num_threads'] for p in threadpool_info() if p['user_api'] in ('openmp', 'blas')}\n"
        "print(before, sorted(after))\n"
    )
    env = {"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    before, after = out.stdout.split(" ", 1)
    assert int(before) >= 2  # this machine has 2 cores: the default pool is per core
    assert after.strip() == "[1]"
