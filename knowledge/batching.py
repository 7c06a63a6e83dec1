"""Length-sorted batching shared by every encoder backend.

Why: sorting texts by length before batching means each batch pads little, which is most of an
embedding pipeline's speed; both the torch and the ONNX encoder batch this way.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np


def encode_in_length_order(texts: Sequence[str], dim: int, batch_size: int,
                           encode_batch: Callable[[list[str]], np.ndarray],
                           progress: Optional[Callable[[int], None]] = None) -> np.ndarray:
    """Vectors for `texts` in their original order, computed in batches of similar length."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        out[idx] = encode_batch([texts[i] for i in idx])
        if progress:
            progress(len(idx))
    return out
